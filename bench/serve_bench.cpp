#include "serve_bench.h"

// GCC 12 flags asio's coroutine frames (sized operator delete after its own
// operator new) as mismatched: a false positive of GCC 12's coroutine support.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "core/progress.h"
#include "machine.h"

namespace mlxs::bench {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Target {
  std::string host;
  std::string port;
  std::string base;  // path prefix without a trailing slash
};

core::Result<Target> parse_url(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) {
    return core::make_error(core::ErrorCode::kInvalidParams, "--url must start with http://");
  }
  std::string rest = url.substr(kScheme.size());
  Target t;
  const auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  t.base = slash == std::string::npos ? "" : rest.substr(slash);
  while (!t.base.empty() && t.base.back() == '/') t.base.pop_back();
  if (t.base.size() >= 3 && t.base.compare(t.base.size() - 3, 3, "/v1") == 0) {
    t.base.resize(t.base.size() - 3);  // accept ".../v1" as OpenAI clients take it
  }
  const auto colon = authority.rfind(':');
  t.host = colon == std::string::npos ? authority : authority.substr(0, colon);
  t.port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
  if (t.host.empty()) return core::make_error(core::ErrorCode::kInvalidParams, "--url has no host");
  return t;
}

struct Sample {
  bool ok = false;
  std::string error;
  double ttft = 0, e2e = 0;
  std::vector<double> gaps;  // per token, between chunks
  std::int64_t output_tokens = 0;
  std::int64_t prompt_tokens = 0;
};

Sample failed(std::string why) {
  Sample s;
  s.error = std::move(why);
  return s;
}

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Space-separated common words: about one token each for BPE vocabularies.
std::string make_prompt(std::mt19937_64& rng, int words) {
  static const char* kWords[] = {"the",  "of",   "and",   "to",   "in", "is", "was",  "for", "on",
                                 "that", "with", "as",    "it",   "by", "at", "from", "his", "an",
                                 "were", "are",  "which", "this", "be", "or", "has",  "had"};
  std::uniform_int_distribution<std::size_t> pick(0, std::size(kWords) - 1);
  std::string out;
  for (int i = 0; i < words; ++i) {
    if (i) out += ' ';
    out += kWords[pick(rng)];
  }
  return out;
}

struct Shared {
  const ServeBenchOptions& options;
  Target target;
  std::vector<std::string> prompts;
  std::vector<Clock::time_point> arrivals;
  std::size_t next = 0;
  std::vector<Sample> samples;
  core::Progress progress;
  long done = 0;
};

// One request over `stream` (reconnecting when needed); parses the SSE body
// as it arrives.
net::awaitable<Sample> one_request(Shared& s, beast::tcp_stream& stream, bool& connected,
                                   const std::string& prompt) {
  Sample out;
  auto executor = co_await net::this_coro::executor;
  beast::error_code ec;
  if (!connected) {
    tcp::resolver resolver(executor);
    auto results = co_await resolver.async_resolve(s.target.host, s.target.port,
                                                   net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return failed("resolve: " + ec.message());
    stream.expires_after(std::chrono::seconds(30));
    co_await stream.async_connect(results, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return failed("connect: " + ec.message());
    connected = true;
  }
  Json body = {{"model", s.options.model},
               {"prompt", prompt},
               {"max_tokens", s.options.output_len},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}},
               {"temperature", s.options.temperature}};
  if (s.options.top_p < 1) body["top_p"] = s.options.top_p;
  if (s.options.ignore_eos) body["ignore_eos"] = true;
  http::request<http::string_body> req{http::verb::post, s.target.base + "/v1/completions", 11};
  req.set(http::field::host, s.target.host);
  req.set(http::field::content_type, "application/json");
  req.set(http::field::accept, "text/event-stream");
  if (!s.options.api_key.empty())
    req.set(http::field::authorization, "Bearer " + s.options.api_key);
  req.keep_alive(true);
  req.body() = body.dump();
  req.prepare_payload();

  const auto start = Clock::now();
  stream.expires_after(std::chrono::seconds(s.options.timeout_s));
  co_await http::async_write(stream, req, net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    connected = false;
    co_return failed("write: " + ec.message());
  }
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  // No limit on a long stream. Not boost::none: Boost 1.81's parser compares
  // the content length against the empty optional as "greater", so every
  // response with a Content-Length (each HTTP error) failed as "body limit
  // exceeded" instead of reporting its status.
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  co_await http::async_read_header(stream, buffer, parser,
                                   net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    connected = false;
    co_return failed("read: " + ec.message());
  }
  const int status = static_cast<int>(parser.get().result_int());
  std::string pending, error_body;
  char chunk[16384];
  auto last = start;
  bool first = true, usage_seen = false;
  std::int64_t chunks = 0;
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof(chunk);
    // read_some: whatever has arrived. (async_read waits until the 16 KiB
    // buffer is full, which made the first token's time that of the ~100th.)
    co_await http::async_read_some(stream, buffer, parser,
                                   net::redirect_error(net::use_awaitable, ec));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      connected = false;
      co_return failed("read: " + ec.message());
    }
    const std::size_t n = sizeof(chunk) - parser.get().body().size;
    if (status != 200) {
      error_body.append(chunk, n);
      continue;
    }
    pending.append(chunk, n);
    for (std::size_t end; (end = pending.find("\n\n")) != std::string::npos;) {
      std::string event = pending.substr(0, end);
      pending.erase(0, end + 2);
      if (event.rfind("data: ", 0) != 0) continue;
      const std::string data = event.substr(6);
      if (data == "[DONE]") continue;
      const Json j = Json::parse(data, nullptr, false);
      if (j.is_discarded()) continue;
      if (j.contains("error")) {
        out.error = j["error"].value("message", std::string("error event"));
        continue;
      }
      if (j.contains("usage") && j["usage"].is_object()) {
        out.output_tokens = j["usage"].value("completion_tokens", std::int64_t{0});
        out.prompt_tokens = j["usage"].value("prompt_tokens", std::int64_t{0});
        usage_seen = true;
      }
      if (!j.contains("choices") || j["choices"].empty()) continue;
      const std::string text = j["choices"][0].value("text", std::string());
      if (text.empty()) continue;
      const auto now = Clock::now();
      if (first) {
        out.ttft = seconds(now - start);
        first = false;
      } else {
        out.gaps.push_back(seconds(now - last));
      }
      last = now;
      ++chunks;
    }
  }
  out.e2e = seconds(Clock::now() - start);
  if (!parser.get().keep_alive()) connected = false;
  if (status != 200) {
    const Json j = Json::parse(error_body, nullptr, false);
    out.error = fmt::format("HTTP {}: {}", status,
                            j.is_object() && j.contains("error")
                                ? j["error"].value("message", std::string())
                                : error_body.substr(0, 200));
    co_return out;
  }
  if (!usage_seen) out.output_tokens = chunks;
  out.ok = out.error.empty() && !first;
  if (!out.ok && out.error.empty()) out.error = "no tokens streamed";
  co_return out;
}

net::awaitable<void> client(Shared& s) {
  auto executor = co_await net::this_coro::executor;
  beast::tcp_stream stream(executor);
  bool connected = false;
  net::steady_timer timer(executor);
  while (s.next < s.prompts.size()) {
    const std::size_t i = s.next++;
    if (s.arrivals[i] > Clock::now()) {
      timer.expires_at(s.arrivals[i]);
      beast::error_code ec;
      co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    Sample sample = co_await one_request(s, stream, connected, s.prompts[i]);
    if (!connected) {
      beast::error_code ignored;
      stream.socket().close(ignored);
    }
    s.samples[i] = std::move(sample);
    s.progress.update("bench serve", ++s.done, static_cast<long>(s.prompts.size()));
  }
}

Json percentiles(std::vector<double> v) {
  if (v.empty())
    return Json{
        {"mean_ms", nullptr}, {"p50_ms", nullptr}, {"p95_ms", nullptr}, {"p99_ms", nullptr}};
  std::sort(v.begin(), v.end());
  const auto at = [&](double q) {
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const auto hi = std::min(lo + 1, v.size() - 1);
    return (v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo))) * 1000.0;
  };
  double sum = 0;
  for (double x : v) sum += x;
  return Json{{"mean_ms", sum / static_cast<double>(v.size()) * 1000.0},
              {"p50_ms", at(0.50)},
              {"p95_ms", at(0.95)},
              {"p99_ms", at(0.99)}};
}

}  // namespace

core::Result<Json> run_serve_bench(const ServeBenchOptions& o) {
  MLXS_ASSIGN_OR_RETURN(Target target, parse_url(o.url));
  if (o.model.empty())
    return core::make_error(core::ErrorCode::kInvalidParams, "--model is required");
  Shared s{o, target, {}, {}, 0, {}, core::Progress(o.progress)};
  std::mt19937_64 rng(o.seed);
  const auto t0 = Clock::now();
  std::exponential_distribution<double> gap(o.request_rate > 0 ? o.request_rate : 1.0);
  double at = 0;
  for (int i = 0; i < o.num_prompts; ++i) {
    s.prompts.push_back(make_prompt(rng, o.input_len));
    if (o.request_rate > 0) at += gap(rng);
    s.arrivals.push_back(t0 + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(o.request_rate > 0 ? at : 0)));
  }
  s.samples.resize(s.prompts.size());
  net::io_context ioc;
  for (int c = 0; c < std::max(1, o.concurrency); ++c) {
    net::co_spawn(ioc, client(s), net::detached);
  }
  ioc.run();
  s.progress.done();
  const double wall = seconds(Clock::now() - t0);

  std::vector<double> ttft, tpot, itl, e2e;
  std::int64_t out_tokens = 0, in_tokens = 0;
  int ok = 0;
  Json errors = Json::array();
  for (const Sample& x : s.samples) {
    if (!x.ok) {
      if (errors.size() < 5) errors.push_back(x.error);
      continue;
    }
    ++ok;
    ttft.push_back(x.ttft);
    e2e.push_back(x.e2e);
    out_tokens += x.output_tokens;
    in_tokens += x.prompt_tokens;
    if (x.output_tokens > 1) {
      tpot.push_back((x.e2e - x.ttft) / static_cast<double>(x.output_tokens - 1));
    }
    // A chunk may carry several tokens: its gap is spread over them.
    const double per_chunk =
        x.gaps.empty() ? 0
                       : static_cast<double>(std::max<std::int64_t>(1, x.output_tokens - 1)) /
                             static_cast<double>(x.gaps.size());
    for (double g : x.gaps) itl.push_back(g / std::max(1.0, per_chunk));
  }
  return Json{{"benchmark", "serve"},
              {"machine", describe_machine()},
              {"config",
               {{"url", o.url},
                {"model", o.model},
                {"concurrency", o.concurrency},
                {"num_prompts", o.num_prompts},
                {"input_len", o.input_len},
                {"output_len", o.output_len},
                {"request_rate", o.request_rate},
                {"ignore_eos", o.ignore_eos},
                {"temperature", o.temperature},
                {"top_p", o.top_p}}},
              {"completed", ok},
              {"failed", o.num_prompts - ok},
              {"errors", errors},
              {"duration_s", wall},
              {"prompt_tokens", in_tokens},
              {"output_tokens", out_tokens},
              {"requests_per_s", wall > 0 ? ok / wall : 0.0},
              {"output_tokens_per_s", wall > 0 ? static_cast<double>(out_tokens) / wall : 0.0},
              {"ttft", percentiles(ttft)},
              {"tpot", percentiles(tpot)},
              {"itl", percentiles(itl)},
              {"e2e", percentiles(e2e)}};
}

std::string format_serve_table(const Json& r) {
  std::string out = fmt::format(
      "bench serve: {} model {} - {} requests ({} failed), concurrency {}, input ~{} output {} "
      "tokens\n",
      r["config"]["url"].get<std::string>(), r["config"]["model"].get<std::string>(),
      r["config"]["num_prompts"].get<int>(), r["failed"].get<int>(),
      r["config"]["concurrency"].get<int>(), r["config"]["input_len"].get<int>(),
      r["config"]["output_len"].get<int>());
  out += fmt::format("  duration {:.2f} s   requests/s {:.2f}   output tokens/s {:.1f}\n",
                     r["duration_s"].get<double>(), r["requests_per_s"].get<double>(),
                     r["output_tokens_per_s"].get<double>());
  out += fmt::format("  {:<6} {:>10} {:>10} {:>10} {:>10}\n", "ms", "mean", "p50", "p95", "p99");
  const auto cell = [](const Json& v) {
    return v.is_number() ? fmt::format("{:10.2f}", v.get<double>()) : fmt::format("{:>10}", "-");
  };
  for (const char* k : {"ttft", "tpot", "itl", "e2e"}) {
    const Json& p = r[k];
    out += fmt::format("  {:<6} {} {} {} {}\n", k, cell(p["mean_ms"]), cell(p["p50_ms"]),
                       cell(p["p95_ms"]), cell(p["p99_ms"]));
  }
  for (const auto& e : r["errors"]) out += "  error: " + e.get<std::string>() + "\n";
  return out;
}

}  // namespace mlxs::bench
