// Raw bytes through what the server does before any worker sees a request:
// Beast's HTTP/1.1 parser (with the server's header and body limits), the
// body's JSON parse, validation against the endpoint's document and the
// OpenAI request plan. Every input ends as a plan or a coded 4xx error in
// OpenAI's shape, never a crash; a plan always has 1..max_choices choices.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "server/openai_request.h"

namespace {

namespace http = boost::beast::http;
using mlxs::core::Json;
using namespace mlxs::server;

void check_error(const ApiError& e) {
  if (e.status < 400 || e.status >= 500) std::abort();
  const Json wire = e.to_json();
  if (!wire["error"]["message"].is_string() || !wire["error"]["code"].is_string()) std::abort();
  (void)wire.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void plan(const HttpSchemas& schemas, std::string_view target, std::string_view body) {
  auto parsed = mlxs::core::parse_json(body, "body", mlxs::core::ErrorCode::kParseError, 64);
  if (!parsed.is_ok()) return;
  const bool chat = target.find("chat") != std::string_view::npos;
  const Endpoint endpoint = chat ? Endpoint::kChat : Endpoint::kCompletions;
  CompletionPlan out;
  RequestLimits limits;
  if (auto e = plan_completion(endpoint, schemas, *parsed, limits, &out)) {
    check_error(*e);
    return;
  }
  if (out.choices.empty() || static_cast<int>(out.choices.size()) > limits.max_choices) {
    std::abort();
  }
  for (const char* doc : {"tokenize", "detokenize", "models.load"}) {
    const BodyCheck c = schemas.check(doc, *parsed);
    if (!c.valid) check_error(ApiError::invalid_body(c));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const HttpSchemas* schemas = [] {
    auto s = HttpSchemas::embedded();
    if (!s.is_ok()) std::abort();
    return *s;
  }();
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // Inputs starting with '{' are bodies for both endpoints; others are raw requests.
  if (!bytes.empty() && bytes.front() == '{') {
    plan(*schemas, "/v1/chat/completions", bytes);
    plan(*schemas, "/v1/completions", bytes);
    return 0;
  }
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(1 << 20);
  parser.eager(true);
  boost::beast::error_code ec;
  std::size_t used = 0;
  while (used < size && !parser.is_done()) {
    const std::size_t n = parser.put(boost::asio::buffer(data + used, size - used), ec);
    if (ec == http::error::need_more) break;
    if (ec || n == 0) return 0;
    used += n;
  }
  if (!parser.is_done()) return 0;
  const auto& req = parser.get();
  const std::string_view target(req.target().data(), req.target().size());
  plan(*schemas, target, req.body());
  return 0;
}
