#pragma once
// The one HTTP call the exporter makes: POST a JSON body to
// `{endpoint}/v1/traces` (OTLP/HTTP), with one deadline over resolving,
// connecting, sending and reading the answer. Plain http:// only.

#include <string>
#include <string_view>

#include "core/status.h"

namespace mlxs::telemetry {

struct OtlpEndpoint {
  std::string host;
  std::string port;    // 80 when the URL names none (as for any http:// URL)
  std::string target;  // "/v1/traces", after the URL's own path
  std::string host_header;
};

// "http://host[:port][/base/path]"; ConfigError naming what is wrong.
core::Result<OtlpEndpoint> parse_otlp_endpoint(std::string_view url);

enum class SendFailure : std::uint8_t { kNone, kConnect, kTimeout, kHttpStatus, kIo };
inline constexpr int kSendFailureKinds = 5;
std::string_view send_failure_name(SendFailure failure);

struct SendResult {
  SendFailure failure = SendFailure::kNone;
  std::string detail;  // for the log line
};

SendResult post_json(const OtlpEndpoint& endpoint, const std::string& body, int timeout_ms);

}  // namespace mlxs::telemetry
