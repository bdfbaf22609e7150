#pragma once
// The runtime worker: a JSON-RPC 2.0 server over a pair of file descriptors
// speaking the original mlx-serving protocol (../shared/compat/jsonrpc.md).
//
// Threads: the caller of run() reads and frames requests and answers the
// quick methods itself (runtime/info, runtime/state, runtime/telemetry,
// shutdown, stream/cancel, refusals); a small task pool runs tokenize, stream
// starts and unloads; each load_model gets its own thread; each loaded model
// has its engine thread; one writer thread owns the output descriptor.
//
// No input ends the worker except shutdown and the end of input: every bad
// frame is answered with a JSON-RPC error and reading goes on.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backend/cpu/thread_pool.h"
#include "core/clock.h"
#include "core/status.h"
#include "engine/arbiter.h"
#include "protocol/protocol.h"
#include "runtime/line_framer.h"
#include "runtime/options.h"
#include "runtime/output.h"
#include "runtime/registry.h"
#include "runtime/stream_table.h"
#include "runtime/task_pool.h"

namespace mlxs::runtime {

// The text the original client waits for on stderr (in one write).
inline constexpr std::string_view kReadyMarker = "MLX Runtime ready\n";
// Exit code of a worker whose tensor-parallel group failed (EX_SOFTWARE).
inline constexpr int kGroupFailedExit = 70;

class Server {
 public:
  Server(int in_fd, int out_fd, RuntimeOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves until shutdown, the end of input or a closed output; returns the
  // exit code (0 for all three; 1 when the worker could not start;
  // kGroupFailedExit when a tensor-parallel group failed).
  int run();
  // Thread-safe: makes run() return soon.
  void request_stop();

 private:
  using Json = core::Json;
  using Reply = core::Result<Json>;

  void handle_line(FramedLine line);
  void dispatch(protocol::Request request);
  void respond(const std::optional<Json>& id, protocol::Method method, const Json& params,
               Reply reply);
  void send_error(const std::optional<Json>& id, const protocol::ErrorObject& error);
  void count_error(const core::Status& status);

  // Handlers (handlers_*.cpp).
  Reply runtime_info(const Json& params);
  Reply runtime_state();
  Reply runtime_telemetry();
  Reply stream_cancel(const Json& params);
  Reply load_model(const Json& params);
  Reply unload_model(const Json& params);
  Reply check_draft(const Json& params);
  Reply batch_check_draft(const Json& params);
  Reply tokenize(const Json& params);
  Reply batch_tokenize(const Json& params);
  Reply detokenize(const Json& params);
  Reply load_vision_model(const Json& params);
  // generate_with_image: generate with the image placed at the prompt's <image>.
  void start_generate_with_image(const std::optional<Json>& id, const Json& params);
  // Reserves the stream, builds and submits its request on the task pool,
  // answers `method` and starts streaming.
  void start_stream(const std::optional<Json>& id, protocol::Method method, const Json& params,
                    protocol::GenerateParams p);
  Reply batcher_query(protocol::Method method, const Json& params);

  // Stream starts: reserve ids on the reader thread, start on the pool.
  struct PreparedStream;
  void start_generate(const std::optional<Json>& id, const Json& params);
  void start_batch_generate(const std::optional<Json>& id, const Json& params);
  void start_parallel(const std::optional<Json>& id, const Json& params);
  void start_continuous(const std::optional<Json>& id, const Json& params);
  core::Result<std::shared_ptr<StreamRecord>> reserve(const std::optional<std::string>& stream_id,
                                                      const std::string& model_id,
                                                      StreamStyle style);
  // Submits a reserved stream to its model's engine; the record is released on failure.
  // Submits a reserved stream to its model's engine (sets record->stream).
  // The caller releases the record when it fails.
  core::Result<std::shared_ptr<LoadedModel>> submit(const std::shared_ptr<StreamRecord>& record,
                                                    const protocol::GenerateParams& params,
                                                    core::Nanos timeout_ns = 0);
  // Starts draining; ends the stream with an error event when its model is gone.
  void activate(const std::shared_ptr<LoadedModel>& model,
                const std::shared_ptr<StreamRecord>& record);
  // The streams of one batch request: those of one model join its engine
  // host at once, so they are first drained together.
  void activate_batch(
      const std::vector<std::pair<std::shared_ptr<LoadedModel>, std::shared_ptr<StreamRecord>>>&
          started);

  core::Result<protocol::CheckDraftResult> check_pair(
      const protocol::CheckDraftParams& params) const;
  core::Result<protocol::TokenizeResult> tokenize_one(const protocol::TokenizeParams& params);
  std::size_t result_budget() const;

  const int in_fd_;
  const int out_fd_;
  const RuntimeOptions options_;
  const core::SteadyClock clock_;
  std::shared_ptr<backend::cpu::ThreadPool> cpu_;
  engine::DeviceArbiter arbiter_;
  Output output_;
  StreamTable streams_;
  std::unique_ptr<ModelRegistry> registry_;
  std::unique_ptr<TaskPool> tasks_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> group_failed_{false};

  std::mutex extensions_mutex_;
  std::vector<std::string> extensions_;        // negotiated through runtime/info
  std::atomic<bool> load_progress_on_{false};  // model.load_progress is among them

  std::mutex loaders_mutex_;
  std::vector<std::thread> loaders_;

  // Telemetry.
  std::atomic<std::int64_t> state_calls_{0};
  std::atomic<std::int64_t> requests_{0};
  std::atomic<std::int64_t> errors_{0};
  std::atomic<std::int64_t> timeouts_{0};
  std::atomic<std::int64_t> tokenize_calls_{0};
  std::atomic<std::int64_t> tokenize_tokens_{0};
  std::atomic<std::int64_t> streams_started_{0};
};

}  // namespace mlxs::runtime
