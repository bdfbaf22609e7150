#pragma once
// JSON-RPC 2.0 envelopes as the original frames them (compat/jsonrpc.md §1-2):
// one compact JSON object per line, no batch arrays. Parsing a request line
// never throws; every malformed frame becomes a FrameError the server answers.

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "core/json_util.h"
#include "protocol/wire_error.h"

namespace mlxs::protocol {

using core::Json;

struct EnvelopeLimits {
  int max_depth = 128;  // nesting of one message
};

struct Request {
  // Absent for a notification (executed, never answered). Otherwise a string,
  // a number or null, echoed unchanged.
  std::optional<Json> id;
  std::string method;
  Json params = Json::object();  // {} when the request has none
};

// A frame the server cannot run: the answer to send (with `id` when it could
// be read, else null).
struct FrameError {
  Json id;  // null when unknown
  ErrorObject error;
  bool is_notification = false;  // a well-formed notification: answer nothing
};

std::variant<Request, FrameError> parse_request(std::string_view line,
                                                const EnvelopeLimits& limits = {});

// Best effort: the id of a line that could not be parsed, read from its end
// (the original client writes "id" last: {"jsonrpc","method","params","id"}).
// Null when none is found.
Json recover_id(std::string_view line);

// Compact, raw UTF-8, invalid UTF-8 replaced by U+FFFD; never throws.
std::string dump(const Json& value);

std::string write_request(const Json& id, std::string_view method, const Json& params);
std::string write_result(const Json& id, const Json& result);
std::string write_error(const Json& id, const ErrorObject& error);
std::string write_notification(std::string_view method, const Json& params);

// Client side: one line from the runtime.
struct Response {
  Json id;
  std::optional<Json> result;
  std::optional<ErrorObject> error;
};
struct Notification {
  std::string method;
  Json params;
};
// Classified as the original client does: `result` or `error` makes a
// response; `method` without `id` a notification. Errors are InvalidRequest.
core::Result<std::variant<Response, Notification>> parse_message(std::string_view line,
                                                                 const EnvelopeLimits& limits = {});

}  // namespace mlxs::protocol
