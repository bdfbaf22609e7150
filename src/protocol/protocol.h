#pragma once
// The protocol module in one include: envelopes, the wire error table,
// method catalogue, message structs, schemas and version negotiation, plus
// parse_params (validate against the method's document, then read).

#include <fmt/format.h>

#include "protocol/codec.h"
#include "protocol/envelope.h"
#include "protocol/messages_generate.h"
#include "protocol/messages_model.h"
#include "protocol/messages_runtime.h"
#include "protocol/messages_tokenize.h"
#include "protocol/methods.h"
#include "protocol/notifications.h"
#include "protocol/schemas.h"
#include "protocol/version.h"
#include "protocol/wire_error.h"

namespace mlxs::protocol {

// Params of `method` as T: InvalidParams ("Invalid params for generate: 2
// errors: /max_tokens: ...; /top_p: ...") when they break its document.
template <Described T>
core::Result<T> parse_params(Method method, const Json& params) {
  MLXS_ASSIGN_OR_RETURN(const SchemaSet* set, SchemaSet::rpc());
  const MethodInfo& info = method_info(method);
  const core::Status valid = set->validate(info.params_schema, params);
  if (!valid.is_ok()) {
    return core::Status(valid.code(),
                        fmt::format("Invalid params for {}: {}", info.name, valid.message()));
  }
  return from_json<T>(params, fmt::format("Invalid params for {}", info.name));
}

// The failing paths of `params` (data.errors of an InvalidParams answer).
inline Json params_failures(Method method, const Json& params) {
  auto set = SchemaSet::rpc();
  if (!set.is_ok()) return Json::array();
  return (*set)->failures(method_info(method).params_schema, params);
}

}  // namespace mlxs::protocol
