#pragma once
// Python's json.dumps over template values, as transformers' tojson filter
// calls it: json.dumps(x, ensure_ascii=False, indent=..., separators=...,
// sort_keys=False). Key order, spacing, float formatting and escapes match
// CPython's output byte for byte.

#include <optional>
#include <string>

#include "core/status.h"
#include "template/value.h"

namespace mlxs::template_ {

struct JsonDumpOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;          // nullopt: one line
  std::optional<std::string> item_separator;  // default ", " (or "," with indent)
  std::optional<std::string> key_separator;   // default ": "
  bool sort_keys = false;
  std::size_t max_bytes = SIZE_MAX;
};

core::Result<std::string> json_dumps(const Value& v, const JsonDumpOptions& options);

}  // namespace mlxs::template_
