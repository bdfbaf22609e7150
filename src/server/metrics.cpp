#include "server/metrics.h"

#include <algorithm>
#include <optional>
#include <vector>

#include <fmt/format.h>

namespace mlxs::server {

void Histogram::observe(double seconds) {
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) {
      ++buckets_[i];
      break;
    }
  }
  ++count_;
  sum_ += seconds;
}

std::uint64_t Histogram::cumulative(std::size_t i) const {
  std::uint64_t total = 0;
  for (std::size_t j = 0; j <= i && j < buckets_.size(); ++j) total += buckets_[j];
  return total;
}

std::string prometheus_escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Metrics::request_done(const std::string& route, int status, const std::string& code,
                           const std::string& model) {
  std::lock_guard lock(mutex_);
  ++requests_[{route, status, code, model}];
}

void Metrics::observe(Latency kind, const std::string& model, double seconds) {
  std::lock_guard lock(mutex_);
  models_[model].latency[static_cast<std::size_t>(kind)].observe(seconds);
}

void Metrics::add_tokens(const std::string& model, std::int64_t prompt, std::int64_t completion,
                         std::int64_t cached) {
  std::lock_guard lock(mutex_);
  ModelCounters& m = models_[model];
  m.prompt_tokens += prompt;
  m.completion_tokens += completion;
  m.cached_tokens += cached;
}

void Metrics::stream_waiting(const std::string& model, int delta) {
  std::lock_guard lock(mutex_);
  models_[model].waiting += delta;
}

void Metrics::stream_running(const std::string& model, int delta) {
  std::lock_guard lock(mutex_);
  models_[model].running += delta;
}

void Metrics::connections(int delta) {
  std::lock_guard lock(mutex_);
  connections_ += delta;
}

namespace {

constexpr const char* kLatencyNames[kLatencyKinds] = {
    "mlxs_time_to_first_token_seconds", "mlxs_inter_token_latency_seconds",
    "mlxs_e2e_request_latency_seconds", "mlxs_queue_time_seconds"};
constexpr const char* kLatencyHelp[kLatencyKinds] = {
    "Request receipt to the first token", "Time between tokens of one stream",
    "Request receipt to the last byte", "Request receipt to the worker's accepted stream start"};

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

std::string Metrics::render(const control::Readiness& readiness,
                            const control::MetricsSnapshot& control_metrics) const {
  std::lock_guard lock(mutex_);
  std::string out;
  header(out, "mlxs_http_requests_total", "counter", "HTTP requests by route, status and code");
  for (const auto& [key, count] : requests_) {
    const auto& [route, status, code, model] = key;
    out += fmt::format(
        "mlxs_http_requests_total{{route=\"{}\",status=\"{}\",code=\"{}\",model=\"{}\"}} {}\n",
        prometheus_escape(route), status, prometheus_escape(code), prometheus_escape(model), count);
  }
  for (int k = 0; k < kLatencyKinds; ++k) {
    header(out, kLatencyNames[k], "histogram", kLatencyHelp[k]);
    for (const auto& [model, m] : models_) {
      const Histogram& h = m.latency[static_cast<std::size_t>(k)];
      const std::string label = prometheus_escape(model);
      for (std::size_t i = 0; i < Histogram::kBounds.size(); ++i) {
        out += fmt::format("{}_bucket{{model=\"{}\",le=\"{}\"}} {}\n", kLatencyNames[k], label,
                           Histogram::kBounds[i], h.cumulative(i));
      }
      out += fmt::format("{}_bucket{{model=\"{}\",le=\"+Inf\"}} {}\n", kLatencyNames[k], label,
                         h.count());
      out += fmt::format("{}_sum{{model=\"{}\"}} {}\n", kLatencyNames[k], label, h.sum());
      out += fmt::format("{}_count{{model=\"{}\"}} {}\n", kLatencyNames[k], label, h.count());
    }
  }
  const auto per_model = [&](const char* name, const char* type, const char* help, auto field) {
    header(out, name, type, help);
    for (const auto& [model, m] : models_) {
      out += fmt::format("{}{{model=\"{}\"}} {}\n", name, prometheus_escape(model), field(m));
    }
  };
  per_model("mlxs_prompt_tokens_total", "counter", "Prompt tokens of finished streams",
            [](const ModelCounters& m) { return m.prompt_tokens; });
  per_model("mlxs_generation_tokens_total", "counter", "Tokens generated",
            [](const ModelCounters& m) { return m.completion_tokens; });
  per_model("mlxs_prompt_cached_tokens_total", "counter",
            "Prompt tokens served from the prefix cache",
            [](const ModelCounters& m) { return m.cached_tokens; });
  per_model("mlxs_streams_running", "gauge", "Streams started and not yet ended",
            [](const ModelCounters& m) { return m.running; });
  per_model("mlxs_streams_waiting", "gauge", "Streams asked for and not yet started",
            [](const ModelCounters& m) { return m.waiting; });
  header(out, "mlxs_http_connections", "gauge", "Open HTTP connections");
  out += fmt::format("mlxs_http_connections {}\n", connections_);

  header(out, "mlxs_ready", "gauge", "1 when a model can serve");
  out += fmt::format("mlxs_ready {}\n", readiness.ready ? 1 : 0);
  // The control plane's own metrics (workers, breakers, its queue). Each
  // worker lists all of its own, so with several workers a family would come
  // in pieces: grouped by name, it gets one HELP/TYPE as Prometheus requires.
  std::vector<const control::MetricSample*> samples;
  for (const auto& sample : control_metrics.samples) samples.push_back(&sample);
  std::stable_sort(samples.begin(), samples.end(),
                   [](const auto* a, const auto* b) { return a->name < b->name; });
  std::string last_name;
  for (const auto* sample_ptr : samples) {
    const control::MetricSample& sample = *sample_ptr;
    if (sample.name != last_name) {
      header(out, sample.name.c_str(),
             sample.type == control::MetricType::kCounter ? "counter" : "gauge",
             sample.help.c_str());
      last_name = sample.name;
    }
    std::string labels;
    for (const auto& [key, value] : sample.labels) {
      labels +=
          fmt::format("{}{}=\"{}\"", labels.empty() ? "" : ",", key, prometheus_escape(value));
    }
    out += labels.empty() ? fmt::format("{} {}\n", sample.name, sample.value)
                          : fmt::format("{}{{{}}} {}\n", sample.name, labels, sample.value);
  }
  return out;
}

std::string Metrics::render_load(const core::Json* telemetry) const {
  struct Load {
    std::int64_t waiting = 0, running = 0;
    std::optional<double> kv;
  };
  std::map<std::string, Load> load;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [model, m] : models_) {
      if (!model.empty()) load[model].waiting += std::max<std::int64_t>(m.waiting, 0);
    }
  }
  // A worker's answer is read defensively: a missing or odd field counts 0.
  const auto count = [](const core::Json& e, const char* key) -> std::int64_t {
    const auto it = e.find(key);
    return it != e.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
  };
  if (telemetry != nullptr && telemetry->is_object()) {
    const auto engines = telemetry->find("engines");
    if (engines != telemetry->end() && engines->is_array()) {
      for (const auto& e : *engines) {
        const auto id = e.is_object() ? e.find("model_id") : e.end();
        if (id == e.end() || !id->is_string()) continue;
        Load& l = load[id->get<std::string>()];
        l.waiting += count(e, "waiting_interactive") + count(e, "waiting_batch");
        l.running += count(e, "running");
        const std::int64_t total = count(e, "kv_blocks_total");
        l.kv = total > 0
                   ? static_cast<double>(count(e, "kv_blocks_used")) / static_cast<double>(total)
                   : 0.0;
      }
    }
  }
  load.erase(std::string());
  std::string out;
  header(out, "mlxs_requests_waiting", "gauge",
         "Requests waiting: asked for and not yet started, or queued by the engine");
  for (const auto& [model, l] : load) {
    out += fmt::format("mlxs_requests_waiting{{model=\"{}\"}} {}\n", prometheus_escape(model),
                       l.waiting);
  }
  header(out, "mlxs_requests_running", "gauge", "Sequences the engine is running");
  for (const auto& [model, l] : load) {
    out += fmt::format("mlxs_requests_running{{model=\"{}\"}} {}\n", prometheus_escape(model),
                       l.running);
  }
  header(out, "mlxs_kv_cache_usage_ratio", "gauge", "Fraction of KV-cache blocks in use (0 to 1)");
  for (const auto& [model, l] : load) {
    if (!l.kv) continue;  // no worker answered for it: unknown, not empty
    out += fmt::format("mlxs_kv_cache_usage_ratio{{model=\"{}\"}} {}\n", prometheus_escape(model),
                       *l.kv);
  }
  return out;
}

}  // namespace mlxs::server

namespace mlxs::server {

std::string render_engine_telemetry(const core::Json& telemetry) {
  std::string out;
  const auto engines = telemetry.find("engines");
  if (engines == telemetry.end() || !engines->is_array()) return out;
  struct Field {
    const char* name;
    const char* type;
    const char* help;
    const char* key;
  };
  static constexpr Field kFields[] = {
      {"mlxs_kv_blocks_used", "gauge", "KV cache blocks in use", "kv_blocks_used"},
      {"mlxs_kv_blocks_total", "gauge", "KV cache blocks in all", "kv_blocks_total"},
      {"mlxs_kv_blocks_cached_free", "gauge", "Free KV blocks still holding reusable prefixes",
       "kv_blocks_cached_free"},
      {"mlxs_engine_running", "gauge", "Sequences the engine runs", "running"},
      {"mlxs_engine_preemptions_total", "counter", "Sequences preempted", "preemptions"},
      {"mlxs_prefix_queries_total", "counter", "Prefix cache lookups", "prefix_queries"},
      {"mlxs_prefix_hits_total", "counter", "Prefix cache hits", "prefix_hits"},
      {"mlxs_engine_device_busy_microseconds_total", "counter",
       "Device time from each step's first work to its logits (0 on the CPU)", "device_busy_us"},
      {"mlxs_engine_device_idle_microseconds_total", "counter",
       "Device time between one step's logits and the next step's first work (0 on the CPU)",
       "device_idle_us"},
  };
  for (const Field& f : kFields) {
    header(out, f.name, f.type, f.help);
    for (const auto& e : *engines) {
      out += fmt::format("{}{{model=\"{}\"}} {}\n", f.name,
                         prometheus_escape(e.value("model_id", std::string())),
                         e.value(f.key, std::int64_t{0}));
    }
  }
  header(out, "mlxs_engine_waiting", "gauge", "Sequences waiting, by priority class");
  for (const auto& e : *engines) {
    const std::string model = prometheus_escape(e.value("model_id", std::string()));
    for (const char* cls : {"interactive", "batch"}) {
      out += fmt::format("mlxs_engine_waiting{{model=\"{}\",class=\"{}\"}} {}\n", model, cls,
                         e.value(std::string("waiting_") + cls, std::int64_t{0}));
    }
  }
  header(out, "mlxs_prefix_cache_hit_rate", "gauge", "Prefix cache hits per lookup");
  for (const auto& e : *engines) {
    const auto queries = e.value("prefix_queries", std::int64_t{0});
    const auto hits = e.value("prefix_hits", std::int64_t{0});
    out +=
        fmt::format("mlxs_prefix_cache_hit_rate{{model=\"{}\"}} {}\n",
                    prometheus_escape(e.value("model_id", std::string())),
                    queries > 0 ? static_cast<double>(hits) / static_cast<double>(queries) : 0.0);
  }
  return out;
}

}  // namespace mlxs::server
