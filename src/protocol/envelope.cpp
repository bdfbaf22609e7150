#include "protocol/envelope.h"

#include <cctype>

namespace mlxs::protocol {

using core::ErrorCode;
using core::Status;

namespace {

FrameError frame_error(Json id, ErrorCode code, std::string message) {
  FrameError out;
  out.id = std::move(id);
  out.error = make_error_object(Status(code, std::move(message)));
  return out;
}

bool valid_id(const Json& id) {
  return id.is_string() || id.is_number() || id.is_null();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json recover_id(std::string_view line) {
  // Only the last 256 bytes: `"id": <number or short string> }`.
  std::string_view tail = trim(line);
  if (tail.size() > 256) tail = tail.substr(tail.size() - 256);
  if (tail.empty() || tail.back() != '}') return nullptr;
  tail.remove_suffix(1);
  const auto key = tail.rfind("\"id\"");
  if (key == std::string_view::npos) return nullptr;
  std::string_view rest = trim(tail.substr(key + 4));
  if (rest.empty() || rest.front() != ':') return nullptr;
  rest = trim(rest.substr(1));
  if (rest.empty() || rest.size() > 200) return nullptr;
  try {
    Json id = Json::parse(rest);
    if (id.is_string() || id.is_number()) return id;
  } catch (const Json::exception&) {
  }
  return nullptr;
}

std::variant<Request, FrameError> parse_request(std::string_view line,
                                                const EnvelopeLimits& limits) {
  auto parsed = core::parse_json(line, "request", ErrorCode::kParseError, limits.max_depth);
  if (!parsed.is_ok()) {
    // The original's words for a frame it cannot read.
    return frame_error(recover_id(line), ErrorCode::kParseError,
                       "Parse error: " + parsed.status().message());
  }
  Json& msg = *parsed;
  if (msg.is_array()) {
    return frame_error(
        nullptr, ErrorCode::kInvalidRequest,
        "Invalid Request: JSON-RPC batch arrays are not supported; send one object per line");
  }
  if (!msg.is_object()) {
    return frame_error(nullptr, ErrorCode::kInvalidRequest,
                       "Invalid Request: a request must be a JSON object");
  }
  const auto id_it = msg.find("id");
  const bool has_id = id_it != msg.end();
  Json id = has_id ? *id_it : Json(nullptr);
  if (has_id && !valid_id(id)) {
    return frame_error(nullptr, ErrorCode::kInvalidRequest,
                       "Invalid Request: id must be a string, a number or null");
  }
  const auto version = msg.find("jsonrpc");
  if (version == msg.end() || !version->is_string() ||
      version->get_ref<const std::string&>() != "2.0") {
    return frame_error(id, ErrorCode::kInvalidRequest, "Invalid Request: jsonrpc must be \"2.0\"");
  }
  const auto method = msg.find("method");
  if (method == msg.end() || !method->is_string()) {
    return frame_error(id, ErrorCode::kInvalidRequest, "Invalid Request: method must be a string");
  }
  if (msg.contains("result") || msg.contains("error")) {
    return frame_error(id, ErrorCode::kInvalidRequest,
                       "Invalid Request: a request carries no result or error");
  }
  Request req;
  if (has_id) req.id = id;
  req.method = method->get<std::string>();
  const auto params = msg.find("params");
  if (params != msg.end() && !params->is_null()) {
    if (!params->is_object()) {
      // Named parameters only, as the original.
      FrameError e = frame_error(id, ErrorCode::kInvalidParams,
                                 "Invalid params: params must be an object of named parameters");
      e.is_notification = !has_id;
      return e;
    }
    req.params = std::move(*params);
  }
  return req;
}

std::string write_request(const Json& id, std::string_view method, const Json& params) {
  Json msg = {{"jsonrpc", "2.0"}, {"method", method}};
  if (!params.is_null()) msg["params"] = params;
  msg["id"] = id;
  return dump(msg);
}

std::string write_result(const Json& id, const Json& result) {
  return dump(Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", result}});
}

std::string write_error(const Json& id, const ErrorObject& error) {
  return dump(Json{{"jsonrpc", "2.0"}, {"id", id}, {"error", error.to_json()}});
}

std::string write_notification(std::string_view method, const Json& params) {
  return dump(Json{{"jsonrpc", "2.0"}, {"method", method}, {"params", params}});
}

core::Result<std::variant<Response, Notification>> parse_message(std::string_view line,
                                                                 const EnvelopeLimits& limits) {
  MLXS_ASSIGN_OR_RETURN(
      Json msg, core::parse_json(line, "message", ErrorCode::kInvalidRequest, limits.max_depth));
  if (!msg.is_object()) return Status(ErrorCode::kInvalidRequest, "message: not a JSON object");
  const auto version = msg.find("jsonrpc");
  if (version == msg.end() || *version != "2.0") {
    return Status(ErrorCode::kInvalidRequest, "message: jsonrpc must be \"2.0\"");
  }
  if (msg.contains("result") || msg.contains("error")) {
    Response r;
    r.id = msg.value("id", Json(nullptr));
    if (const auto it = msg.find("result"); it != msg.end()) r.result = *it;
    if (const auto it = msg.find("error"); it != msg.end()) {
      if (!it->is_object() || !(*it)["code"].is_number_integer() || !(*it)["message"].is_string()) {
        return Status(ErrorCode::kInvalidRequest,
                      "message: error must carry an integer code and a message");
      }
      ErrorObject e;
      e.code = (*it)["code"].get<int>();
      e.message = (*it)["message"].get<std::string>();
      e.data = it->value("data", Json(nullptr));
      r.error = std::move(e);
    }
    return std::variant<Response, Notification>(std::move(r));
  }
  const auto method = msg.find("method");
  if (method != msg.end() && method->is_string() && !msg.contains("id")) {
    Notification n;
    n.method = method->get<std::string>();
    n.params = msg.value("params", Json::object());
    return std::variant<Response, Notification>(std::move(n));
  }
  return Status(ErrorCode::kInvalidRequest, "message: neither a response nor a notification");
}

}  // namespace mlxs::protocol
