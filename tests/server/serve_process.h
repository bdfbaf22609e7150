#pragma once
// A running `mlx-serving serve` for end-to-end tests: started with --port 0,
// ready once it prints its address; stopped with SIGTERM when destroyed. Its
// stderr is collected (a thread drains it so the server never blocks on it).

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace mlxs::testing {

class ServeProcess {
 public:
  // nullptr (and the reason in *error) when it did not come up in time.
  static std::unique_ptr<ServeProcess> start(const std::vector<std::string>& args,
                                             std::string* error, int timeout_s = 300);
  ~ServeProcess();
  int port() const { return port_; }
  std::string log() const;
  // SIGTERM and wait; the exit code (128 + signal when killed).
  int stop();

 private:
  ServeProcess() = default;
  int pid_ = -1;
  int port_ = 0;
  int err_fd_ = -1;
  std::thread drain_;
  mutable std::mutex mutex_;
  std::string log_;
  int exit_code_ = -1;
};

// A suite sharing one `serve` process: SetUpTestSuite calls start_shared;
// the server is stopped after the suite (a clean exit expected) and every
// test skips when it did not come up.
class SharedServeSuite : public ::testing::Test {
 protected:
  static void start_shared(const std::vector<std::string>& args) {
    std::string error;
    server_ = ServeProcess::start(args, &error).release();
    ASSERT_NE(server_, nullptr) << error;
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      EXPECT_EQ(server_->stop(), 0) << server_->log();
    }
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (server_ == nullptr) GTEST_SKIP() << "no server";
  }
  static int port() { return server_->port(); }

  static inline ServeProcess* server_ = nullptr;
};

// A synthetic qwen3-shaped model with the real Qwen3 tokenizer (made once per
// test binary under temp_dir()).
std::string synth_test_model();

}  // namespace mlxs::testing
