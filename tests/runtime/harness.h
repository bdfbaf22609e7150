#pragma once
// Drives an in-process runtime Server over two pipes, as a client would:
// write request lines, collect every line the server writes.

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/json_util.h"
#include "runtime/server.h"

namespace mlxs::runtime::testing {

using core::Json;

class Harness {
 public:
  explicit Harness(RuntimeOptions options = defaults()) {
    EXPECT_EQ(::pipe(in_), 0);
    EXPECT_EQ(::pipe(out_), 0);
    server_ = std::make_unique<Server>(in_[0], out_[1], options);
    runner_ = std::thread([this] { exit_code_ = server_->run(); });
    reader_ = std::thread([this] { read_loop(); });
  }
  ~Harness() {
    close_input();
    if (runner_.joinable()) runner_.join();
    server_.reset();
    ::close(out_[1]);
    if (reader_.joinable()) reader_.join();
    ::close(out_[0]);
    ::close(in_[0]);
  }

  static RuntimeOptions defaults() {
    RuntimeOptions o;
    o.announce_ready = false;
    o.threads = 1;
    o.kv_memory_bytes = 64u << 20;
    return o;
  }

  void send_raw(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(in_[1], bytes.data() + done, bytes.size() - done);
      if (n <= 0) return;
      done += static_cast<std::size_t>(n);
    }
  }
  void send(const Json& msg) { send_raw(msg.dump() + "\n"); }
  // Sends a request with a fresh integer id; returns the id.
  int call(const std::string& method, const Json& params = nullptr) {
    const int id = next_id_++;
    Json msg = {{"jsonrpc", "2.0"}, {"method", method}, {"id", id}};
    if (!params.is_null()) msg["params"] = params;
    send(msg);
    return id;
  }
  // The response with this id (waits up to `seconds`).
  Json response(const Json& id, int seconds = 60) {
    Json out;
    wait(
        [&] {
          for (const Json& l : lines_) {
            if (l.contains("id") && l["id"] == id &&
                (l.contains("result") || l.contains("error"))) {
              out = l;
              return true;
            }
          }
          return false;
        },
        seconds);
    EXPECT_FALSE(out.is_null()) << "no response to id " << id.dump();
    return out;
  }
  Json request(const std::string& method, const Json& params = nullptr) {
    return response(call(method, params));
  }
  // Notifications of one stream until (and including) its final event.
  std::vector<Json> stream(const std::string& stream_id, int seconds = 120) {
    std::vector<Json> out;
    wait(
        [&] {
          out.clear();
          for (const Json& l : lines_) {
            if (!l.contains("method")) continue;
            const Json& p = l["params"];
            bool mine = p.value("stream_id", std::string()) == stream_id;
            if (l["method"] == "stream.step") {
              for (const Json& s : p["streams"]) mine = mine || s["stream_id"] == stream_id;
            }
            if (mine) out.push_back(l);
            if (mine && l["method"] == "stream.event") return true;
          }
          return false;
        },
        seconds);
    return out;
  }
  std::vector<Json> lines() {
    std::lock_guard lock(mutex_);
    return std::vector<Json>(lines_.begin(), lines_.end());
  }
  std::vector<std::string> raw_lines() {
    std::lock_guard lock(mutex_);
    return raw_;
  }
  void close_input() {
    if (in_[1] >= 0) ::close(in_[1]);
    in_[1] = -1;
  }
  int wait_exit() {
    if (runner_.joinable()) runner_.join();
    return exit_code_;
  }

 private:
  template <class Pred>
  void wait(Pred pred, int seconds) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, std::chrono::seconds(seconds), [&] { return pred(); });
  }
  void read_loop() {
    std::string buf;
    char chunk[8192];
    for (ssize_t n; (n = ::read(out_[0], chunk, sizeof(chunk))) > 0;) {
      buf.append(chunk, static_cast<std::size_t>(n));
      for (std::size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        std::lock_guard lock(mutex_);
        raw_.push_back(line);
        lines_.push_back(Json::parse(line, nullptr, false));
        cv_.notify_all();
      }
    }
  }

  int in_[2] = {-1, -1};
  int out_[2] = {-1, -1};
  std::unique_ptr<Server> server_;
  std::thread runner_, reader_;
  int exit_code_ = -1;
  int next_id_ = 1;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Json> lines_;
  std::vector<std::string> raw_;
};

}  // namespace mlxs::runtime::testing
