// The exporter against a working collector, a hung one and a refused port:
// submit() always returns at once, the queue bound holds, spans are counted
// as exported, dropped or failed, and shutdown ends within its bound. No
// assertion is about elapsed time.
#include "telemetry/exporter.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <mutex>

#include "core/log.h"
#include "otlp_receiver.h"
#include "telemetry/tracer.h"

namespace mlxs::telemetry {
namespace {

using testing::OtlpReceiver;

SpanData span(int i) {
  SpanData s;
  s.trace_id = random_trace_id();
  s.span_id = random_span_id();
  s.name = "span-" + std::to_string(i);
  s.start_unix_ns = 1;
  s.end_unix_ns = 2;
  return s;
}

std::unique_ptr<Exporter> make(const std::string& endpoint, std::size_t batch, std::size_t queue,
                               int timeout_ms) {
  ExporterOptions o;
  o.endpoint = endpoint;
  o.service_name = "exporter-test";
  o.batch_size = batch;
  o.queue_limit = queue;
  o.export_timeout_ms = timeout_ms;
  o.flush_interval_ms = 20;
  auto e = Exporter::create(o);
  EXPECT_TRUE(e.is_ok()) << e.status().to_string();
  return e.is_ok() ? std::move(e).value() : nullptr;
}

TEST(Exporter, PostsBatchesOfOtlpJsonToTheTracesPath) {
  OtlpReceiver receiver;
  auto e = make(receiver.endpoint() + "/base/", 4, 100, 5000);
  ASSERT_NE(e, nullptr);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(e->submit(span(i)));
  e->shutdown();
  EXPECT_EQ(e->counters().exported, 10u);
  EXPECT_EQ(e->counters().dropped + e->counters().failed, 0u);
  const auto requests = receiver.requests();
  ASSERT_GE(requests.size(), 3u) << "batches of at most 4";
  for (const auto& r : requests) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.path, "/base/v1/traces");
    EXPECT_EQ(r.content_type, "application/json");
  }
  const auto spans = receiver.spans();
  ASSERT_EQ(spans.size(), 10u);
  EXPECT_EQ(spans[0].service, "exporter-test");
  EXPECT_FALSE(e->submit(span(99))) << "shut down: dropped";
}

// Submitting far more spans than the queue holds while the collector never
// answers (hung: the sender is stuck on its first batch) or refuses every
// connection (each batch fails at once, so the sender keeps draining):
// every call returns, the overflow is dropped and counted.
enum class Dead : std::uint8_t { kHung, kRefusing };
void flood_dead_collector(const std::string& endpoint, Dead how) {
  constexpr std::size_t kSpans = 5000, kQueue = 16, kBatch = 4;
  auto e = make(endpoint, kBatch, kQueue, 200);
  ASSERT_NE(e, nullptr);
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < kSpans; ++i) accepted += e->submit(span(static_cast<int>(i))) ? 1 : 0;
  if (how == Dead::kHung) {
    // The sender holds at most one batch while the queue is full behind it.
    EXPECT_LE(accepted, kQueue + 2 * kBatch);
    EXPECT_GE(e->counters().dropped, kSpans - kQueue - 2 * kBatch);
  } else {
    // How many batches fail while the loop runs depends on the machine.
    EXPECT_LT(accepted, kSpans);
    EXPECT_EQ(e->counters().dropped, kSpans - accepted);
  }
  e->shutdown();
  const ExporterCounters c = e->counters();
  EXPECT_EQ(c.exported, 0u);
  EXPECT_EQ(c.exported + c.dropped + c.failed, kSpans) << "every span is accounted for";
}

TEST(Exporter, AHungCollectorNeverBlocksSubmit) {
  testing::SilentListener silent;
  flood_dead_collector("http://127.0.0.1:" + std::to_string(silent.port()), Dead::kHung);
}

TEST(Exporter, ARefusingCollectorNeverBlocksSubmit) {
  flood_dead_collector("http://127.0.0.1:" + std::to_string(testing::refused_port()),
                       Dead::kRefusing);
}

TEST(Exporter, FailuresAreLoggedOncePerKind) {
  std::vector<std::string> lines;
  std::mutex m;
  core::set_log_sink([&](std::string_view line) {
    std::lock_guard lock(m);
    lines.emplace_back(line);
  });
  {
    auto e = make("http://127.0.0.1:" + std::to_string(testing::refused_port()), 1, 1000, 200);
    for (int i = 0; i < 20; ++i) e->submit(span(i));
    e->shutdown();
    EXPECT_GT(e->counters().failed, 1u);
  }
  core::set_log_sink(nullptr);
  int failures = 0;
  for (const auto& l : lines) failures += l.find("trace_export_failed") != std::string::npos;
  EXPECT_EQ(failures, 1);
}

TEST(Exporter, RejectsBadEndpointsWithAConfigError) {
  for (const char* url :
       {"", "https://collector:4318", "collector:4318", "http://", "http://h:0", "http://h:99999",
        "http://h:43x", "http://h/p?q=1", "http://a b:1", "http://[::1]:4318"}) {
    ExporterOptions o;
    o.endpoint = url;
    auto e = Exporter::create(o);
    ASSERT_FALSE(e.is_ok()) << url;
    EXPECT_EQ(e.status().code(), core::ErrorCode::kConfigError) << url;
  }
  ExporterOptions o;
  o.endpoint = "http://collector:4318";
  o.queue_limit = 0;
  EXPECT_FALSE(Exporter::create(o).is_ok());
}

TEST(Endpoint, PathsAndDefaultPort) {
  auto e = parse_otlp_endpoint("http://collector");
  ASSERT_TRUE(e.is_ok());
  EXPECT_EQ(e->port, "80");
  EXPECT_EQ(e->target, "/v1/traces");
  e = parse_otlp_endpoint("http://10.0.0.1:4318/otlp//");
  ASSERT_TRUE(e.is_ok());
  EXPECT_EQ(e->host, "10.0.0.1");
  EXPECT_EQ(e->target, "/otlp/v1/traces");
}

TEST(Tracer, OffWithoutEndpointAndParentBasedSampling) {
  auto off = Tracer::create({});
  ASSERT_TRUE(off.is_ok());
  EXPECT_EQ(*off, nullptr);
  TracingOptions o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(testing::refused_port());
  o.sample_ratio = 0.0;
  o.export_timeout_ms = 100;
  auto t = Tracer::create(o);
  ASSERT_TRUE(t.is_ok());
  EXPECT_FALSE((*t)->start(std::nullopt).sampled()) << "ratio 0: no new trace is sampled";
  TraceContext remote;
  remote.trace_id = random_trace_id();
  remote.span_id = random_span_id();
  remote.flags = 1;
  const TraceContext own = (*t)->start(remote);
  EXPECT_TRUE(own.sampled()) << "a sampled parent wins over the ratio";
  EXPECT_EQ(own.trace_id, remote.trace_id);
  EXPECT_NE(own.span_id, remote.span_id);
  const TraceContext kid = Tracer::child(own);
  EXPECT_EQ(kid.trace_id, own.trace_id);
  EXPECT_NE(kid.span_id, own.span_id);
  o.sample_ratio = 1.5;
  EXPECT_FALSE(Tracer::create(o).is_ok());
}

TEST(Tracer, RatioSamplingFollowsTheTraceId) {
  TraceId id{};
  EXPECT_TRUE(sampled_by_ratio(id, 0.5));
  id[8] = 0x80;
  EXPECT_FALSE(sampled_by_ratio(id, 0.5));
  EXPECT_TRUE(sampled_by_ratio(id, 0.51));
  int sampled = 0;
  for (int i = 0; i < 4000; ++i) sampled += sampled_by_ratio(random_trace_id(), 0.25) ? 1 : 0;
  EXPECT_GT(sampled, 800);
  EXPECT_LT(sampled, 1200);
}

TEST(Tracer, SteadyTimesBecomeUnixNanos) {
  const auto now_unix = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  const std::int64_t converted = unix_ns_from_steady(core::SteadyClock::instance().now_ns());
  // The same instant, give or take scheduling: far closer than a minute.
  EXPECT_LT(std::llabs(converted - now_unix), 60'000'000'000LL);
  const SpanData s = make_span({}, {}, "x", SpanKind::kInternal, 100, 50);
  EXPECT_EQ(s.end_unix_ns, s.start_unix_ns) << "an end before its start is clamped";
}

}  // namespace
}  // namespace mlxs::telemetry
