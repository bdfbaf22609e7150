// The control plane's record of each model, against a worker played by the
// test on a socket pair: the model.load_progress extension is asked for at
// start, a load shows as loading with the worker's latest report (reports for
// models not being loaded, and malformed ones, change nothing), the answer's
// memory is kept with the last report, the memory gauge follows it, and a
// failed first load or an unload leaves no record behind.
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "control/control_plane.h"

namespace mlxs::control {
namespace {

using core::Json;

class PeerHandle final : public WorkerHandle {
 public:
  explicit PeerHandle(int peer) : peer_(peer) {}
  void kill() override { ::shutdown(peer_, SHUT_RDWR); }
  int wait() override { return 0; }
  std::string describe() const override { return "test peer"; }

 private:
  int peer_;
};

// The worker's end: answers runtime/info and runtime/state itself (start and
// heartbeats), hands every other request to the test.
class Peer {
 public:
  ~Peer() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
    if (reader_.joinable()) reader_.join();
    if (fd_ >= 0) ::close(fd_);
  }

  WorkerLauncher launcher() {
    return [this](const std::string&) -> core::Result<LaunchedWorker> {
      int fds[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        return core::Status(core::ErrorCode::kIoError, "socketpair");
      }
      fd_ = fds[1];
      reader_ = std::thread([this] { read_loop(); });
      LaunchedWorker w;
      w.to_worker = w.from_worker = fds[0];
      w.handle = std::make_unique<PeerHandle>(fds[1]);
      return w;
    };
  }

  void write(const Json& msg) {
    const std::string line = msg.dump() + "\n";
    ASSERT_EQ(::write(fd_, line.data(), line.size()), static_cast<ssize_t>(line.size()));
  }
  void notify(const Json& params) {
    write({{"jsonrpc", "2.0"}, {"method", "model.load_progress"}, {"params", params}});
  }
  void answer(const Json& request, const Json& result) {
    write({{"jsonrpc", "2.0"}, {"id", request["id"]}, {"result", result}});
  }
  void fail(const Json& request, const std::string& message) {
    write({{"jsonrpc", "2.0"},
           {"id", request["id"]},
           {"error",
            {{"code", -32001}, {"message", message}, {"data", {{"code", "ModelLoadError"}}}}}});
  }

  // The next request the test must answer.
  Json next_request() {
    std::unique_lock lock(mutex_);
    const bool got =
        cv_.wait_for(lock, std::chrono::seconds(20), [this] { return !requests_.empty(); });
    EXPECT_TRUE(got) << "no request came";
    if (!got) return Json();
    Json r = std::move(requests_.front());
    requests_.pop_front();
    return r;
  }
  Json info_params() {
    std::lock_guard lock(mutex_);
    return info_params_;
  }

 private:
  void read_loop() {
    std::string buf;
    char chunk[4096];
    for (ssize_t n; (n = ::read(fd_, chunk, sizeof(chunk))) > 0;) {
      buf.append(chunk, static_cast<std::size_t>(n));
      for (std::size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
        const Json req = Json::parse(buf.substr(0, nl));
        buf.erase(0, nl + 1);
        const std::string method = req.value("method", "");
        if (method == "runtime/info") {
          {
            std::lock_guard lock(mutex_);
            info_params_ = req.value("params", Json::object());
          }
          answer(req, {{"version", "0"},
                       {"mlx_version", "none"},
                       {"mlx_lm_version", "none"},
                       {"protocol", "json-rpc-2.0"},
                       {"capabilities", Json::array()},
                       {"mlx_supported", false},
                       {"memory", {{"rss", 0}, {"vms", 0}}},
                       {"protocol_version", "1.1"}});
        } else if (method == "runtime/state") {
          answer(req,
                 {{"loaded_models", Json::array()}, {"active_streams", 0}, {"restart_count", 0}});
        } else {
          std::lock_guard lock(mutex_);
          requests_.push_back(req);
          cv_.notify_all();
        }
      }
    }
  }

  int fd_ = -1;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Json> requests_;
  Json info_params_;
};

std::optional<ModelStatus> model_status(const Gateway& g, const std::string& id) {
  for (const auto& w : g.readiness().workers) {
    for (const auto& m : w.model_status) {
      if (m.id == id) return m;
    }
  }
  return std::nullopt;
}

template <class Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 2000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

std::vector<MetricSample> memory_samples(const Gateway& g) {
  std::vector<MetricSample> out;
  for (const auto& s : g.metrics().samples) {
    if (s.name == "mlxs_model_memory_bytes") out.push_back(s);
  }
  return out;
}

Json progress(const std::string& id, std::int64_t done, std::int64_t total, std::int64_t tensors,
              std::int64_t tensors_total) {
  return {{"model_id", id},
          {"done_bytes", done},
          {"total_bytes", total},
          {"tensors_done", tensors},
          {"tensors_total", tensors_total}};
}

using Answer = std::promise<core::Result<Json>>;

SupervisorOptions options() {
  SupervisorOptions o;
  o.shutdown_timeout_ns = 200 * kMillis;  // the peer never answers shutdown
  return o;
}

TEST(ModelStatus, LoadProgressMemoryAndTheirEnd) {
  Peer peer;
  ControlPlane cp({peer.launcher()}, options());
  cp.start();
  ASSERT_TRUE(eventually([&] { return cp.readiness().ready; }));
  const Json ext = peer.info_params()["extensions"];
  EXPECT_NE(std::find(ext.begin(), ext.end(), "model.load_progress"), ext.end()) << ext.dump();

  Answer loaded;
  cp.call("load_model", {{"model_id", "m"}, {"local_path", "/models/m"}},
          [&](core::Result<Json> r) { loaded.set_value(std::move(r)); });
  const Json load = peer.next_request();
  ASSERT_EQ(load["method"], "load_model");
  auto st = model_status(cp, "m");
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->state, "loading");
  EXPECT_FALSE(st->load.has_value()) << "no report yet";
  EXPECT_FALSE(st->memory.has_value());

  peer.notify(progress("other", 5, 10, 1, 2));            // not being loaded: ignored
  peer.notify({{"model_id", "m"}, {"done_bytes", "x"}});  // malformed: ignored
  peer.notify(progress("m", 40, 100, 1, 4));
  ASSERT_TRUE(eventually([&] {
    const auto s = model_status(cp, "m");
    return s && s->load && s->load->done_bytes == 40;
  }));
  EXPECT_EQ(model_status(cp, "m")->load->total_bytes, 100);
  EXPECT_EQ(model_status(cp, "m")->load->tensors_total, 4);
  EXPECT_FALSE(model_status(cp, "other").has_value());
  EXPECT_TRUE(memory_samples(cp).empty()) << "nothing held while loading";

  peer.notify(progress("m", 100, 100, 4, 4));
  peer.answer(load, {{"model_id", "m"},
                     {"state", "ready"},
                     {"context_length", 64},
                     {"parameter_count", 50},
                     {"dtype", "bfloat16"},
                     {"is_vision_model", false},
                     {"cached_path", "/models/m"},
                     {"memory",
                      {{"weights_bytes", 100},
                       {"kv_cache_bytes", 4 * 512},
                       {"kv_blocks_total", 4},
                       {"kv_block_bytes", 512},
                       {"device", "cpu"}}}});
  auto r = loaded.get_future().get();
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  st = model_status(cp, "m");
  ASSERT_TRUE(st && st->memory && st->load);
  EXPECT_EQ(st->state, "ready");
  EXPECT_EQ(st->memory->weights_bytes, 100);
  EXPECT_EQ(st->memory->kv_cache_bytes, 2048);
  EXPECT_EQ(st->memory->kv_blocks_total, 4);
  EXPECT_EQ(st->memory->device, "cpu");
  EXPECT_EQ(st->load->done_bytes, 100) << "the finished load's last report stays";
  const auto samples = memory_samples(cp);
  ASSERT_EQ(samples.size(), 2u);
  for (const auto& s : samples) {
    EXPECT_EQ(s.type, MetricType::kGauge);
    const auto has = [&](const std::string& k, const std::string& v) {
      return std::find(s.labels.begin(), s.labels.end(), std::pair{k, v}) != s.labels.end();
    };
    EXPECT_TRUE(has("model", "m"));
    EXPECT_TRUE(has("worker", "worker-0"));
    EXPECT_EQ(s.value, has("kind", "weights") ? 100.0 : 2048.0);
  }

  // A first load that fails leaves nothing behind.
  Answer failed;
  cp.call("load_model", {{"model_id", "bad"}, {"local_path", "/models/bad"}},
          [&](core::Result<Json> res) { failed.set_value(std::move(res)); });
  const Json bad = peer.next_request();
  EXPECT_EQ(model_status(cp, "bad")->state, "loading");
  peer.notify(progress("bad", 1, 10, 1, 5));
  peer.fail(bad, "Failed to load model bad: broken");
  EXPECT_FALSE(failed.get_future().get().is_ok());
  EXPECT_FALSE(model_status(cp, "bad").has_value());

  // A report after the load ended changes nothing.
  peer.notify(progress("m", 1, 100, 1, 4));
  Answer unloaded;
  cp.call("unload_model", {{"model_id", "m"}},
          [&](core::Result<Json> res) { unloaded.set_value(std::move(res)); });
  const Json unload = peer.next_request();
  ASSERT_EQ(unload["method"], "unload_model");
  EXPECT_EQ(model_status(cp, "m")->load->done_bytes, 100);
  peer.answer(unload, {{"success", true}});
  EXPECT_TRUE(unloaded.get_future().get().is_ok());
  EXPECT_FALSE(model_status(cp, "m").has_value());
  EXPECT_TRUE(memory_samples(cp).empty());
  cp.stop();
}

// A worker of the original protocol answers load_model without `memory`:
// the model is ready, with no memory figures and no gauge.
TEST(ModelStatus, AnswerWithoutMemory) {
  Peer peer;
  ControlPlane cp({peer.launcher()}, options());
  cp.start();
  ASSERT_TRUE(eventually([&] { return cp.readiness().ready; }));
  Answer loaded;
  cp.call("load_model", {{"model_id", "m"}},
          [&](core::Result<Json> r) { loaded.set_value(std::move(r)); });
  const Json load = peer.next_request();
  peer.answer(load, {{"model_id", "m"}, {"state", "ready"}, {"memory", {{"weights_bytes", -1}}}});
  ASSERT_TRUE(loaded.get_future().get().is_ok());
  const auto st = model_status(cp, "m");
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->state, "ready");
  EXPECT_FALSE(st->memory.has_value()) << "a malformed memory report is left out";
  EXPECT_TRUE(memory_samples(cp).empty());
  cp.stop();
}

}  // namespace
}  // namespace mlxs::control
