// Traces end to end: `serve` (child worker, then --in-process) exporting to
// an OTLP/HTTP receiver started by this test. A chat completion carrying a
// traceparent yields the server span under the caller's span (trace id
// kept) and the worker's spans under it: tokenize, structured-output
// compile, queue, prefill chunks and exactly one decode span, with model,
// token counts, finish reason and request id. A malformed traceparent still
// succeeds and starts a new trace. With a collector that never answers,
// requests still succeed and the exporter counts its failures in /metrics.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <thread>

#include "../telemetry/otlp_receiver.h"
#include "raw_http.h"
#include "serve_process.h"
#include "testing/fixtures.h"
#include "testing/process.h"

namespace mlxs::testing {
namespace {

using core::Json;

constexpr std::string_view kTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view kCallerSpan = "00f067aa0ba902b7";

std::string chat_body(bool stream, const std::string& extra = "") {
  std::string body = R"({"model":"test","messages":[{"role":"user","content":"Hello there"}],)"
                     R"("temperature":0,"ignore_eos":true,"max_tokens":5)";
  if (stream) body += R"(,"stream":true,"stream_options":{"include_usage":true})";
  if (!extra.empty()) body += "," + extra;
  return body + "}";
}

std::vector<ReceivedSpan> named(const std::vector<ReceivedSpan>& spans, const std::string& name,
                                const std::string& parent = "") {
  std::vector<ReceivedSpan> out;
  for (const auto& s : spans) {
    if (s.span.value("name", "") != name) continue;
    if (!parent.empty() && s.span.value("parentSpanId", "") != parent) continue;
    out.push_back(s);
  }
  return out;
}

std::vector<ReceivedSpan> of_trace(const std::vector<ReceivedSpan>& spans, std::string_view id) {
  std::vector<ReceivedSpan> out;
  for (const auto& s : spans) {
    if (s.span.value("traceId", "") == id) out.push_back(s);
  }
  return out;
}

// The server span whose mlxs.request_id is `id`, once exported.
std::vector<ReceivedSpan> spans_of_request(const OtlpReceiver& receiver, const std::string& id) {
  std::string trace;
  const auto all = receiver.wait_for([&](const std::vector<ReceivedSpan>& spans) {
    for (const auto& s : spans) {
      if (s.span.value("kind", 0) == 2 && s.attribute("mlxs.request_id") == id &&
          s.span.value("name", "").starts_with("POST ")) {
        trace = s.span.value("traceId", "");
      }
    }
    return !trace.empty() && !named(of_trace(spans, trace), "mlxs.worker.generate").empty();
  });
  return trace.empty() ? std::vector<ReceivedSpan>{} : of_trace(all, trace);
}

// A Prometheus sample's value, or -1 when the series is absent.
double sample(const std::string& text, const std::string& series) {
  const auto pos = text.find("\n" + series + " ");
  return pos == std::string::npos ? -1.0 : std::stod(text.substr(pos + series.size() + 2));
}

std::int64_t int_attr(const ReceivedSpan& s, const std::string& key) {
  const Json v = s.attribute(key);
  return v.is_string() ? std::stoll(v.get<std::string>()) : -1;
}

// The checks every mode shares: the whole tree of one traced chat request.
void expect_request_tree(const std::vector<ReceivedSpan>& spans, const std::string& request_id,
                         bool guided) {
  const auto server = named(spans, "POST /v1/chat/completions");
  ASSERT_EQ(server.size(), 1u);
  const Json& root = server[0].span;
  EXPECT_EQ(root["kind"], 2);
  EXPECT_EQ(server[0].service, "mlx-serving");
  EXPECT_EQ(server[0].attribute("gen_ai.request.model"), "test");
  EXPECT_EQ(server[0].attribute("mlxs.request_id"), request_id);
  EXPECT_EQ(int_attr(server[0], "gen_ai.usage.output_tokens"), 5);
  EXPECT_GT(int_attr(server[0], "gen_ai.usage.input_tokens"), 0);
  EXPECT_EQ(server[0].attribute("mlxs.finish_reason"), "length");
  EXPECT_EQ(server[0].attribute("mlxs.priority"), "interactive");
  EXPECT_EQ(root["status"]["code"], 0);
  // Times are Unix nanoseconds (after 2020), not a steady clock's.
  const std::int64_t start = std::stoll(root["startTimeUnixNano"].get<std::string>());
  EXPECT_GT(start, 1'577'836'800'000'000'000LL);
  EXPECT_GE(std::stoll(root["endTimeUnixNano"].get<std::string>()), start);
  const std::string root_id = root["spanId"];

  EXPECT_EQ(named(spans, "mlxs.stream", root_id).size(), 1u);
  const auto worker = named(spans, "mlxs.worker.generate", root_id);
  ASSERT_EQ(worker.size(), 1u) << "the worker span hangs under the server span";
  EXPECT_EQ(worker[0].attribute("mlxs.request_id"), request_id);
  EXPECT_EQ(int_attr(worker[0], "gen_ai.usage.output_tokens"), 5);
  EXPECT_EQ(worker[0].attribute("mlxs.finish_reason"), "length");
  EXPECT_GT(std::stoll(worker[0].span["startTimeUnixNano"].get<std::string>()),
            1'577'836'800'000'000'000LL);
  const std::string worker_id = worker[0].span["spanId"];
  EXPECT_EQ(named(spans, "mlxs.tokenize", worker_id).size(), 1u);
  EXPECT_EQ(named(spans, "mlxs.queue", worker_id).size(), 1u);
  EXPECT_EQ(named(spans, "mlxs.guidance_compile", worker_id).size(), guided ? 1u : 0u);
  const auto prefill = named(spans, "mlxs.prefill", worker_id);
  ASSERT_GE(prefill.size(), 1u);
  EXPECT_GT(int_attr(prefill[0], "mlxs.prefill.tokens"), 0);
  EXPECT_EQ(int_attr(worker[0], "mlxs.prefill.chunks"), static_cast<std::int64_t>(prefill.size()));
  const auto decode = named(spans, "mlxs.decode", worker_id);
  ASSERT_EQ(decode.size(), 1u) << "one aggregated decode span, not one per token";
  EXPECT_EQ(int_attr(decode[0], "gen_ai.usage.output_tokens"), 5);
}

class TracingE2E : public SharedServeSuite {
 protected:
  static void SetUpTestSuite() {
    const std::string model = synth_test_model();
    ASSERT_FALSE(model.empty()) << "dev synth-model failed";
    receiver_ = new OtlpReceiver();
    ASSERT_GT(receiver_->port(), 0);
    start_shared(
        {"--model", "test=" + model, "--threads", "2", "--otlp-endpoint", receiver_->endpoint()});
  }
  static void TearDownTestSuite() {
    SharedServeSuite::TearDownTestSuite();
    delete receiver_;
    receiver_ = nullptr;
  }
  static inline OtlpReceiver* receiver_ = nullptr;
};

TEST_F(TracingE2E, ATracedChatRequestBecomesOneTreeUnderTheCallersSpan) {
  const std::string traceparent =
      "traceparent: 00-" + std::string(kTraceId) + "-" + std::string(kCallerSpan) + "-01";
  const RawReply r = http_call(port(), "POST", "/v1/chat/completions", chat_body(true),
                               {traceparent, "X-Request-Id: traced-request-1"});
  ASSERT_EQ(r.status, 200) << r.body;
  const auto spans = spans_of_request(*receiver_, "traced-request-1");
  ASSERT_FALSE(spans.empty()) << "no spans arrived; serve log:\n" << server_->log();
  expect_request_tree(spans, "traced-request-1", false);
  const auto server = named(spans, "POST /v1/chat/completions");
  ASSERT_EQ(server.size(), 1u);
  EXPECT_EQ(server[0].span["traceId"], kTraceId) << "the caller's trace id is kept";
  EXPECT_EQ(server[0].span["parentSpanId"], kCallerSpan) << "under the caller's span";
  for (const auto& s : spans) EXPECT_EQ(s.span["traceId"], kTraceId);

  const auto requests = receiver_->requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests[0].path, "/v1/traces");
  EXPECT_EQ(requests[0].content_type, "application/json");
}

TEST_F(TracingE2E, StructuredOutputAddsItsCompileSpan) {
  const RawReply r = http_call(port(), "POST", "/v1/chat/completions",
                               chat_body(false, R"("response_format":{"type":"json_object"})"),
                               {"X-Request-Id: traced-guided"});
  ASSERT_EQ(r.status, 200) << r.body;
  const auto spans = spans_of_request(*receiver_, "traced-guided");
  ASSERT_FALSE(spans.empty());
  const auto server = named(spans, "POST /v1/chat/completions");
  ASSERT_EQ(server.size(), 1u);
  EXPECT_FALSE(server[0].span.contains("parentSpanId")) << "no traceparent: a new root";
  // The model may end the JSON early; the tree is the same otherwise.
  const auto worker = named(spans, "mlxs.worker.generate");
  ASSERT_EQ(worker.size(), 1u);
  EXPECT_EQ(named(spans, "mlxs.guidance_compile", worker[0].span["spanId"]).size(), 1u);
  EXPECT_EQ(named(spans, "mlxs.decode").size(), 1u);
}

TEST_F(TracingE2E, AMalformedTraceparentStartsANewTraceAndTheRequestSucceeds) {
  for (const std::string& bad :
       {"00-" + std::string(kTraceId) + "-" + std::string(kCallerSpan) + "-0",
        "00-" + std::string(32, '0') + "-" + std::string(kCallerSpan) + "-01",
        "00-" + std::string(kTraceId) + "-" + std::string(kCallerSpan) + "-01-extra",
        "ff-" + std::string(kTraceId) + "-" + std::string(kCallerSpan) + "-01",
        std::string(4000, 'x')}) {
    const std::string id = "bad-traceparent-" + std::to_string(bad.size()) + bad.substr(0, 2);
    const RawReply r = http_call(port(), "POST", "/v1/chat/completions", chat_body(false),
                                 {"traceparent: " + bad, "X-Request-Id: " + id});
    ASSERT_EQ(r.status, 200) << bad.substr(0, 80) << ": " << r.body;
    const auto spans = spans_of_request(*receiver_, id);
    const auto server = named(spans, "POST /v1/chat/completions");
    ASSERT_EQ(server.size(), 1u) << bad.substr(0, 80);
    EXPECT_NE(server[0].span["traceId"], kTraceId);
    EXPECT_FALSE(server[0].span.contains("parentSpanId")) << "a new trace, as a root";
    EXPECT_EQ(named(spans, "mlxs.worker.generate", server[0].span["spanId"]).size(), 1u);
  }
  // Two traceparent headers are invalid as a whole.
  const std::string good =
      "traceparent: 00-" + std::string(kTraceId) + "-" + std::string(kCallerSpan) + "-01";
  const RawReply r = http_call(port(), "POST", "/v1/chat/completions", chat_body(false),
                               {good, good, "X-Request-Id: two-traceparents"});
  ASSERT_EQ(r.status, 200) << r.body;
  const auto server =
      named(spans_of_request(*receiver_, "two-traceparents"), "POST /v1/chat/completions");
  ASSERT_EQ(server.size(), 1u);
  EXPECT_NE(server[0].span["traceId"], kTraceId);
}

TEST_F(TracingE2E, UnsampledCallersAreNotRecordedAndExportIsCounted) {
  const RawReply r =
      http_call(port(), "POST", "/v1/chat/completions", chat_body(false),
                {"traceparent: 00-" + std::string(32, 'a') + "-" + std::string(kCallerSpan) + "-00",
                 "X-Request-Id: unsampled"});
  ASSERT_EQ(r.status, 200) << r.body;
  // A sampled request after it: once its spans are in, the unsampled one's
  // (exported earlier, in order, by the same processes) would be too.
  ASSERT_EQ(http_call(port(), "POST", "/v1/chat/completions", chat_body(false),
                      {"X-Request-Id: sampled-after"})
                .status,
            200);
  ASSERT_FALSE(spans_of_request(*receiver_, "sampled-after").empty());
  EXPECT_TRUE(of_trace(receiver_->spans(), std::string(32, 'a')).empty());
  // Both exporters count: serve's own and the worker's (from runtime/telemetry).
  const std::string metrics = http_call(port(), "GET", "/metrics").body;
  EXPECT_GT(sample(metrics, R"(mlxs_trace_spans_exported_total{process="serve"})"), 0) << metrics;
  EXPECT_GT(sample(metrics, R"(mlxs_trace_spans_exported_total{process="worker"})"), 0);
  EXPECT_EQ(sample(metrics, R"(mlxs_trace_spans_dropped_total{process="serve"})"), 0);
  EXPECT_EQ(sample(metrics, R"(mlxs_trace_spans_failed_total{process="worker"})"), 0);
}

// serve --in-process: one process, one exporter, the same tree.
class TracingInProcessE2E : public TracingE2E {
 protected:
  static void SetUpTestSuite() {
    const std::string model = synth_test_model();
    ASSERT_FALSE(model.empty());
    receiver_ = new OtlpReceiver();
    start_shared({"--model", "test=" + model, "--threads", "2", "--in-process", "--otlp-endpoint",
                  receiver_->endpoint(), "--set", "tracing.service_name=edge"});
  }
};

TEST_F(TracingInProcessE2E, TheSameTreeComesOutOfOneProcess) {
  const std::string traceparent =
      "traceparent: 00-" + std::string(kTraceId) + "-" + std::string(kCallerSpan) + "-01";
  const RawReply r = http_call(port(), "POST", "/v1/chat/completions", chat_body(true),
                               {traceparent, "X-Request-Id: in-process-1"});
  ASSERT_EQ(r.status, 200) << r.body;
  auto spans = spans_of_request(*receiver_, "in-process-1");
  ASSERT_FALSE(spans.empty()) << server_->log();
  for (auto& s : spans) {
    EXPECT_EQ(s.service, "edge");
    s.service = "mlx-serving";  // the shared checks expect the default name
  }
  expect_request_tree(spans, "in-process-1", false);
  // One exporter in one process: counted once, as serve's.
  const std::string metrics = http_call(port(), "GET", "/metrics").body;
  EXPECT_GT(sample(metrics, R"(mlxs_trace_spans_exported_total{process="serve"})"), 0) << metrics;
  EXPECT_EQ(sample(metrics, R"(mlxs_trace_spans_exported_total{process="worker"})"), -1);
}

// A collector that accepts connections and never answers: serving goes on,
// the exporter counts what it could not send.
class TracingDeadCollectorE2E : public SharedServeSuite {
 protected:
  static void SetUpTestSuite() {
    const std::string model = synth_test_model();
    ASSERT_FALSE(model.empty());
    silent_ = new SilentListener();
    start_shared({"--model", "test=" + model, "--threads", "2", "--otlp-endpoint",
                  "http://127.0.0.1:" + std::to_string(silent_->port()), "--set",
                  "tracing.export_timeout_ms=300", "--set", "tracing.queue_limit=4", "--set",
                  "tracing.batch_size=2"});
  }
  static void TearDownTestSuite() {
    SharedServeSuite::TearDownTestSuite();
    delete silent_;
    silent_ = nullptr;
  }
  static inline SilentListener* silent_ = nullptr;
};

TEST_F(TracingDeadCollectorE2E, RequestsSucceedAndTheLossIsCounted) {
  for (int i = 0; i < 6; ++i) {
    const RawReply r = http_call(port(), "POST", "/v1/chat/completions", chat_body(i % 2 == 0), {});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  // The exporter gives up on each batch after its timeout; poll until it
  // has counted one and said so (once) in the log.
  double failed = 0, dropped = 0;
  bool logged = false;
  for (int i = 0; i < 600 && !(failed > 0 && logged); ++i) {
    const std::string m = http_call(port(), "GET", "/metrics").body;
    failed = sample(m, R"(mlxs_trace_spans_failed_total{process="serve"})");
    dropped = sample(m, R"(mlxs_trace_spans_dropped_total{process="serve"})");
    logged = server_->log().find("trace_export_failed") != std::string::npos;
    if (!(failed > 0 && logged)) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GT(failed, 0);
  EXPECT_GE(dropped, 0) << "the queue holds 4 spans: the rest were dropped and counted";
  EXPECT_TRUE(logged) << server_->log();
}

TEST_F(TracingDeadCollectorE2E, ConcurrentStreamsAllComplete) {
  // Serve's and the worker's exporters both hang on the collector while
  // eight streams run at once; none of them waits for it.
  std::vector<std::thread> clients;
  std::vector<int> status(8, 0);
  for (std::size_t i = 0; i < status.size(); ++i) {
    clients.emplace_back([&, i] {
      status[i] = http_call(port(), "POST", "/v1/chat/completions", chat_body(true), {}).status;
    });
  }
  for (auto& t : clients) t.join();
  for (int s : status) EXPECT_EQ(s, 200);
}

TEST(TracingFlags, ABadEndpointStopsServeAndTheWorkerWithAConfigError) {
  for (const char* bad : {"https://collector:4318", "collector:4318", "http://c:99999"}) {
    auto r =
        run_process({mlx_serving_binary(), "serve", "--port", "0", "--otlp-endpoint", bad}, 120);
    EXPECT_EQ(r.exit_code, 1) << bad << ": " << r.err;
    EXPECT_NE(r.err.find("ConfigError"), std::string::npos) << r.err;
    r = run_process({mlx_serving_binary(), "runtime", "--otlp-endpoint", bad}, 120);
    EXPECT_EQ(r.exit_code, 1) << bad << ": " << r.err;
    EXPECT_NE(r.err.find("ConfigError"), std::string::npos) << r.err;
  }
  // The file's value is checked by the schema before anything starts.
  const auto r = run_process({mlx_serving_binary(), "serve", "--port", "0", "--set",
                              "tracing.endpoint=https://collector:4318"},
                             120);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("tracing.endpoint"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mlxs::testing
