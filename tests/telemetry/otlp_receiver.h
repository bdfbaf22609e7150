#pragma once
// A tiny OTLP/HTTP receiver for tests, on plain POSIX sockets: it accepts
// POSTs on 127.0.0.1, answers 200 with "{}", and keeps each request's path,
// content type and JSON body. Spans are read back flattened.

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/json_util.h"

namespace mlxs::testing {

struct ReceivedRequest {
  std::string method;
  std::string path;
  std::string content_type;
  core::Json body;  // null when the body was not JSON
};

// One span with its resource's service.name; attributes as key -> JSON value
// ({"stringValue": ...} unwrapped to the plain value; intValue stays a string).
struct ReceivedSpan {
  std::string service;
  core::Json span;
  core::Json attribute(const std::string& key) const;
};

class OtlpReceiver {
 public:
  OtlpReceiver();
  ~OtlpReceiver();
  OtlpReceiver(const OtlpReceiver&) = delete;
  OtlpReceiver& operator=(const OtlpReceiver&) = delete;

  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<ReceivedRequest> requests() const;
  std::vector<ReceivedSpan> spans() const;
  // Polls until `done(spans())` or about `timeout_ms` passed; the last spans.
  std::vector<ReceivedSpan> wait_for(
      const std::function<bool(const std::vector<ReceivedSpan>&)>& done,
      int timeout_ms = 60000) const;

 private:
  void serve();
  void handle(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<ReceivedRequest> requests_;
  std::thread thread_;
};

// A port that accepts TCP connections (the kernel completes them) and never
// answers: a hung collector.
class SilentListener {
 public:
  SilentListener();
  ~SilentListener();
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A port nothing listens on: connections are refused.
int refused_port();

}  // namespace mlxs::testing
