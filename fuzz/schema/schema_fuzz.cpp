// Any text is either a schema that compiles or a coded error; a compiled
// schema validates a fixed instance (and the schema document itself) within
// the work bounds, with validate() and is_valid() agreeing and one-line
// messages.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/json_util.h"
#include "schema/schema.h"

namespace {

using mlxs::core::Json;

const Json& fixed_instance() {
  static const Json instance = Json::parse(R"({
    "id": "abc-123", "n": 42, "x": 0.0075, "big": 18446744073709551615, "neg": -7,
    "when": "2024-02-29T12:00:00Z", "mail": "a@b.example", "host": "xn--9n2bp8q.xn--9t4b11yi5a",
    "tags": ["a", "b", "a", 1, 1.0, null, true, {"k": [1, 2]}],
    "nested": {"a": {"b": {"c": [[], {}, ""]}}},
    "text": "caf\u00e9 \ud83d\udc32 \u0000\n end", "empty": {}, "list": []})");
  return instance;
}

const mlxs::schema::DocumentMap& documents() {
  static const mlxs::schema::DocumentMap docs = [] {
    mlxs::schema::DocumentMap d;
    d.emplace("http://example.com/r.json",
              Json::parse(R"({"$id": "http://example.com/r.json", "$defs": {"s": {"type": "string"},
                              "d": {"$dynamicAnchor": "t", "minLength": 1}}, "items": {"$dynamicRef": "#t"}})"));
    return d;
  }();
  return docs;
}

bool has_limit_error(const mlxs::schema::ValidationResult& r) {
  for (const auto& e : r.errors) {
    if (e.keyword == "limit") return true;
  }
  return false;
}

void check(const mlxs::schema::Schema& schema, const Json& instance) {
  const mlxs::schema::ValidationResult r = schema.validate(instance);
  if (r.valid != r.errors.empty()) __builtin_trap();
  for (const auto& e : r.errors) {
    if (e.message.empty() || e.keyword.empty() || e.message.find('\n') != std::string::npos)
      __builtin_trap();
  }
  if (r.summary().find('\n') != std::string::npos) __builtin_trap();
  // is_valid() does no more work than validate(), so without a bound hit they agree.
  if (!has_limit_error(r) && schema.is_valid(instance) != r.valid) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = mlxs::core::parse_json(text, "schema", mlxs::core::ErrorCode::kInvalidParams, 64);
  if (!doc) return 0;
  mlxs::schema::CompileOptions options;
  options.documents = &documents();
  options.format_assertion = (size & 1U) != 0;
  options.max_eval_steps = 200000;
  options.max_nodes = 20000;
  auto schema = mlxs::schema::Schema::compile(*doc, options);
  if (!schema) {
    if (schema.status().code() != mlxs::core::ErrorCode::kInvalidParams ||
        schema.status().message().empty()) {
      __builtin_trap();
    }
    return 0;
  }
  check(*schema, fixed_instance());
  check(*schema, *doc);
  return 0;
}
