// The stdout writer: notification shapes, per-stream order (chunks, stats,
// completed; or chunks, error), coalescing, the step extension and line caps.
#include <unistd.h>

#include <csignal>
#include <thread>

#include <gtest/gtest.h>

#include "protocol/protocol.h"
#include "runtime/output.h"

namespace mlxs::runtime {
namespace {

using core::Json;

// Collects everything written to a pipe.
class Sink {
 public:
  Sink() {
    EXPECT_EQ(::pipe(fds_), 0);
    reader_ = std::thread([this] {
      char buf[4096];
      for (ssize_t n; (n = ::read(fds_[0], buf, sizeof(buf))) > 0;)
        data_.append(buf, static_cast<std::size_t>(n));
    });
  }
  ~Sink() {
    close_write();
    if (reader_.joinable()) reader_.join();
    ::close(fds_[0]);
  }
  int fd() const { return fds_[1]; }
  std::vector<Json> lines() {
    close_write();
    reader_.join();
    std::vector<Json> out;
    std::size_t start = 0;
    for (std::size_t nl; (nl = data_.find('\n', start)) != std::string::npos; start = nl + 1) {
      const std::string line = data_.substr(start, nl - start);
      max_line = std::max(max_line, line.size());
      out.push_back(Json::parse(line));
    }
    EXPECT_EQ(start, data_.size()) << "every line ends with a newline";
    return out;
  }
  std::size_t max_line = 0;

 private:
  void close_write() {
    if (fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }
  int fds_[2] = {-1, -1};
  std::thread reader_;
  std::string data_;
};

std::shared_ptr<StreamRecord> record(std::string id, std::size_t batch = 4,
                                     StreamStyle style = StreamStyle::kStandard) {
  auto r = std::make_shared<StreamRecord>();
  r->stream_id = std::move(id);
  r->model_id = "m";
  r->chunk_batch = batch;
  r->style = style;
  r->end_token_id = 2;
  return r;
}

StreamDelta tokens(const std::shared_ptr<StreamRecord>& r,
                   std::vector<std::pair<int, std::string>> toks) {
  StreamDelta d;
  d.record = r;
  for (auto& [id, text] : toks) d.tokens.push_back(TokenOut{id, text, std::nullopt, {}});
  return d;
}

StreamEnd ok_end(std::int64_t n) {
  StreamEnd e;
  e.finish_reason = "stop";
  e.tokens_generated = n;
  e.time_to_first_token = 0.01;
  e.total_time = 0.11;
  return e;
}

struct Collected {
  std::vector<std::string> tokens;  // per stream, in order
  std::vector<std::string> methods;
};

std::map<std::string, Collected> by_stream(const std::vector<Json>& lines) {
  std::map<std::string, Collected> out;
  for (const Json& l : lines) {
    const Json& p = l["params"];
    const std::string sid = p["stream_id"];
    out[sid].methods.push_back(l["method"]);
    if (l["method"] == "stream.chunk") {
      if (p.contains("tokens")) {
        for (const Json& t : p["tokens"]) out[sid].tokens.push_back(t["token"]);
      } else {
        out[sid].tokens.push_back(p["token"]);
      }
    }
  }
  return out;
}

void expect_valid(const std::vector<Json>& lines) {
  const auto& set = **protocol::SchemaSet::rpc();
  for (const Json& l : lines) {
    EXPECT_TRUE(set.validate("notification", l).is_ok()) << l.dump();
    const std::string name = l["method"].get<std::string>() + ".params";
    const auto s = set.validate(name, l["params"]);
    EXPECT_TRUE(s.is_ok()) << s.message() << " " << l.dump();
  }
}

TEST(Output, ChunksStatsCompletedInOrderWithCoalescing) {
  Sink sink;
  core::FakeClock clock;
  Output out(sink.fd(), OutputOptions{}, clock);
  out.start();
  auto a = record("a", 4);
  auto b = record("b", 4);
  for (int step = 0; step < 10; ++step) {
    StepOutput s;
    s.model_id = "m";
    s.step = static_cast<std::uint64_t>(step);
    s.deltas.push_back(tokens(a, {{10 + step, "a" + std::to_string(step)}}));
    s.deltas.push_back(tokens(b, {{20 + step, "b" + std::to_string(step)}}));
    if (step == 9) {
      s.deltas[0].end = ok_end(10);
      s.deltas[1].end = ok_end(10);
    }
    out.send_step(std::move(s));
  }
  out.stop();
  const auto lines = sink.lines();
  expect_valid(lines);
  const auto streams = by_stream(lines);
  for (const char* sid : {"a", "b"}) {
    const Collected& c = streams.at(sid);
    ASSERT_EQ(c.tokens.size(), 10u);
    for (int i = 0; i < 10; ++i)
      EXPECT_EQ(c.tokens[static_cast<std::size_t>(i)], std::string(sid) + std::to_string(i));
    ASSERT_GE(c.methods.size(), 3u);
    EXPECT_EQ(c.methods[c.methods.size() - 2], "stream.stats");
    EXPECT_EQ(c.methods.back(), "stream.event");
    // First token at once, then batches of 4 (+ the rest before the end).
    EXPECT_EQ(std::count(c.methods.begin(), c.methods.end(), "stream.chunk"), 4);
  }
  const Json& stats = lines[lines.size() - 2]["params"];
  EXPECT_EQ(stats["tokens_generated"], 10);
  EXPECT_NEAR(stats["tokens_per_second"].get<double>(), 100.0, 1e-9);
}

TEST(Output, ErrorsEndWithoutStatsAndTextWithoutTokenIsCarried) {
  Sink sink;
  core::FakeClock clock;
  Output out(sink.fd(), OutputOptions{}, clock);
  out.start();
  auto a = record("a", 1);
  auto b = record("b", 8);
  StepOutput s;
  s.deltas.push_back(tokens(a, {{5, "x"}}));
  s.deltas[0].end = StreamEnd{};
  s.deltas[0].end->error =
      core::Status(core::ErrorCode::kTimeout, "Generation failed for m: deadline");
  s.deltas.push_back(tokens(b, {{7, "he"}, {-1, "l"}, {8, "lo"}, {-1, "\xef\xbf\xbd"}}));
  s.deltas[1].end = ok_end(2);
  out.send_step(std::move(s));
  out.stop();
  const auto lines = sink.lines();
  expect_valid(lines);
  const auto streams = by_stream(lines);
  EXPECT_EQ(streams.at("a").methods, (std::vector<std::string>{"stream.chunk", "stream.event"}));
  const Json& err = lines[1]["params"];
  EXPECT_EQ(err["event"], "error");
  EXPECT_EQ(err["code"], "Timeout");
  EXPECT_EQ(err["is_final"], true);
  const Collected& cb = streams.at("b");
  std::string text;
  for (const auto& t : cb.tokens) text += t;
  EXPECT_EQ(text, "hello\xef\xbf\xbd");
  EXPECT_EQ(cb.tokens.back(), "\xef\xbf\xbd") << "the tail goes out with the end token";
}

TEST(Output, FlushIntervalBoundsLatency) {
  Sink sink;
  OutputOptions options;
  options.flush_interval_ns = 2'000'000;
  Output out(sink.fd(), options, core::SteadyClock::instance());
  out.start();
  auto a = record("a", 1000);
  StepOutput s;
  s.deltas.push_back(tokens(a, {{1, "x"}}));
  out.send_step(std::move(s));
  for (int i = 0; i < 3; ++i) {
    StepOutput t;
    t.deltas.push_back(tokens(a, {{2 + i, "y"}}));
    out.send_step(std::move(t));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(out.lines_written(), 2u) << "first token at once, the rest after the interval";
  out.stop();
}

TEST(Output, LongTextIsSplitUnderTheLineCap) {
  Sink sink;
  core::FakeClock clock;
  OutputOptions options;
  options.max_line_bytes = 30 * 1024;
  Output out(sink.fd(), options, clock);
  out.start();
  auto a = record("a", 16);
  std::string control(20000, '\x01');  // every byte needs 6 bytes of escaping
  std::string wide;
  for (int i = 0; i < 5000; ++i) wide += "\xe4\xb8\x80";  // U+4E00
  StepOutput s;
  s.deltas.push_back(tokens(a, {{1, control}, {2, wide}}));
  s.deltas[0].end = ok_end(2);
  out.send_step(std::move(s));
  out.stop();
  const auto lines = sink.lines();
  EXPECT_LE(sink.max_line, options.max_line_bytes);
  const auto streams = by_stream(lines);
  std::string text;
  for (const auto& t : streams.at("a").tokens) text += t;
  EXPECT_EQ(text, control + wide);
}

TEST(Output, BatcherStyleSendsEveryTokenAndStatsInTheEvent) {
  Sink sink;
  core::FakeClock clock;
  Output out(sink.fd(), OutputOptions{}, clock);
  out.start();
  auto a = record("a", 16, StreamStyle::kBatcher);
  StepOutput s;
  s.deltas.push_back(tokens(a, {{1, "a"}, {2, "b"}, {3, "c"}}));
  s.deltas[0].end = ok_end(3);
  out.send_step(std::move(s));
  out.stop();
  const auto lines = sink.lines();
  expect_valid(lines);
  ASSERT_EQ(lines.size(), 4u);
  for (int i = 0; i < 3; ++i)
    EXPECT_FALSE(lines[static_cast<std::size_t>(i)]["params"].contains("tokens"));
  const Json& ev = lines[3]["params"];
  EXPECT_EQ(ev["event"], "completed");
  EXPECT_EQ(ev["stats"]["finish_reason"], "stop");
  EXPECT_EQ(ev["stats"]["tokens_generated"], 3);
  EXPECT_TRUE(ev["stats"].contains("ttft_ms"));
}

TEST(Output, StepModeSendsOneNotificationPerStep) {
  Sink sink;
  core::FakeClock clock;
  Output out(sink.fd(), OutputOptions{}, clock);
  out.set_step_mode(true);
  out.start();
  std::vector<std::shared_ptr<StreamRecord>> recs;
  for (int i = 0; i < 50; ++i) recs.push_back(record("s" + std::to_string(i)));
  for (int step = 0; step < 3; ++step) {
    StepOutput s;
    s.model_id = "m";
    s.step = static_cast<std::uint64_t>(step);
    for (auto& r : recs) {
      s.deltas.push_back(tokens(r, {{step + 4, "t"}}));
      if (step == 2) s.deltas.back().end = ok_end(3);
    }
    out.send_step(std::move(s));
  }
  out.stop();
  const auto lines = sink.lines();
  expect_valid(lines);
  ASSERT_EQ(lines.size(), 3u + 50u * 2u);
  for (int step = 0; step < 3; ++step) {
    const Json& l = lines[static_cast<std::size_t>(step)];
    EXPECT_EQ(l["method"], "stream.step");
    EXPECT_EQ(l["params"]["step"], step);
    EXPECT_EQ(l["params"]["streams"].size(), 50u);
  }
  EXPECT_EQ(lines[3]["method"], "stream.stats");
  EXPECT_EQ(lines[4]["method"], "stream.event");
}

TEST(Output, ResponsesKeepTheirOrder) {
  Sink sink;
  core::FakeClock clock;
  Output out(sink.fd(), OutputOptions{}, clock);
  out.start();
  for (int i = 0; i < 100; ++i) out.send_line(protocol::write_result(i, Json{{"n", i}}));
  out.stop();
  const auto lines = sink.lines();
  ASSERT_EQ(lines.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(lines[static_cast<std::size_t>(i)]["id"], i);
}

TEST(Output, AClosedReaderMarksTheOutputBroken) {
  std::signal(SIGPIPE, SIG_IGN);  // as the runtime does
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);
  core::FakeClock clock;
  Output out(fds[1], OutputOptions{}, clock);
  std::atomic<bool> told{false};
  out.set_on_broken([&] { told = true; });
  out.start();
  out.send_line("{}");
  out.stop();
  EXPECT_TRUE(out.broken());
  EXPECT_TRUE(told.load());
  ::close(fds[1]);
}

TEST(Output, SplitUtf8KeepsCharactersWhole) {
  const std::string s = "a\xc3\xa9\xe4\xb8\x80\xf0\x9f\x98\x80z";
  for (std::size_t max = 1; max <= s.size(); ++max) {
    const auto pieces = split_utf8(s, max);
    std::string joined;
    for (const auto& p : pieces) {
      joined += p;
      EXPECT_TRUE(core::Json::accept(core::Json(p).dump())) << max;
    }
    EXPECT_EQ(joined, s);
  }
  EXPECT_EQ(split_utf8("", 4).size(), 1u);
}

}  // namespace
}  // namespace mlxs::runtime
