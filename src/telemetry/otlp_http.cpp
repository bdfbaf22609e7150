#include "telemetry/otlp_http.h"

#include <algorithm>
#include <chrono>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "core/net_names.h"

namespace mlxs::telemetry {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxAnswerBytes = 64 * 1024;  // collectors answer with tiny bodies

bool valid_host(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
  });
}

SendResult failure_of(beast::error_code ec, std::string_view stage) {
  const SendFailure kind = ec == beast::error::timeout ? SendFailure::kTimeout
                           : stage == "connect"        ? SendFailure::kConnect
                                                       : SendFailure::kIo;
  return {kind, std::string(stage) + ": " + ec.message()};
}

}  // namespace

std::string_view send_failure_name(SendFailure failure) {
  switch (failure) {
    case SendFailure::kNone:
      return "none";
    case SendFailure::kConnect:
      return "connect";
    case SendFailure::kTimeout:
      return "timeout";
    case SendFailure::kHttpStatus:
      return "http_status";
    case SendFailure::kIo:
      return "io";
  }
  return "io";
}

core::Result<OtlpEndpoint> parse_otlp_endpoint(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) {
    return core::Status(core::ErrorCode::kConfigError,
                        "the OTLP endpoint must be an http:// URL (https is not supported)");
  }
  std::string_view rest = url.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (path.find_first_of("?# ") != std::string_view::npos) {
    return core::Status(core::ErrorCode::kConfigError,
                        "the OTLP endpoint takes no query or fragment");
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  OtlpEndpoint out;
  out.port = "80";
  const std::size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos) {
    out.port = std::string(authority.substr(colon + 1));
    authority = authority.substr(0, colon);
  }
  if (!valid_host(authority) || !core::valid_port(out.port)) {
    return core::Status(core::ErrorCode::kConfigError,
                        "the OTLP endpoint needs a host name or IPv4 address and a port 1-65535");
  }
  out.host = std::string(authority);
  out.host_header = out.host + ":" + out.port;
  out.target = std::string(path) + "/v1/traces";
  return out;
}

SendResult post_json(const OtlpEndpoint& endpoint, const std::string& body, int timeout_ms) {
  // Declared first so it is destroyed last: pending handlers are then
  // discarded without running.
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  http::request<http::string_body> request{http::verb::post, endpoint.target, 11};
  request.set(http::field::host, endpoint.host_header);
  request.set(http::field::content_type, "application/json");
  request.set(http::field::user_agent, "mlx-serving");
  request.body() = body;
  request.prepare_payload();
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxAnswerBytes);

  const auto timeout = std::chrono::milliseconds(std::max(1, timeout_ms));
  const auto deadline = Clock::now() + timeout;
  const auto remaining = [&deadline] {
    return std::max<Clock::duration>(std::chrono::milliseconds(1), deadline - Clock::now());
  };
  SendResult result{SendFailure::kTimeout, "no answer within the export timeout"};

  const auto on_read = [&](beast::error_code ec, std::size_t) {
    if (ec) {
      result = failure_of(ec, "read");
      return;
    }
    const unsigned status = parser.get().result_int();
    result = status >= 200 && status < 300
                 ? SendResult{}
                 : SendResult{SendFailure::kHttpStatus,
                              "the collector answered HTTP " + std::to_string(status)};
  };
  const auto on_write = [&](beast::error_code ec, std::size_t) {
    if (ec) {
      result = failure_of(ec, "write");
      return;
    }
    stream.expires_after(remaining());
    http::async_read(stream, buffer, parser, on_read);
  };
  const auto on_connect = [&](beast::error_code ec, const tcp::endpoint&) {
    if (ec) {
      result = failure_of(ec, "connect");
      return;
    }
    stream.expires_after(remaining());
    http::async_write(stream, request, on_write);
  };
  resolver.async_resolve(endpoint.host, endpoint.port,
                         [&](beast::error_code ec, const tcp::resolver::results_type& found) {
                           if (ec) {
                             result = {SendFailure::kConnect, "resolve: " + ec.message()};
                             return;
                           }
                           stream.expires_after(remaining());
                           stream.async_connect(found, on_connect);
                         });
  // Bounds name resolution too, which the stream's own timer does not cover.
  ioc.run_for(timeout);
  return result;
}

}  // namespace mlxs::telemetry
