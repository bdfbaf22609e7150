#pragma once
// A tensor-parallel group serving one model as one engine (issue 13). Rank 0
// is the engine's own model: the engine schedules, samples and streams as for
// a whole model (its logits are all-gathered, so it has every column). Ranks
// 1..N-1 are follower threads, each owning its backend, its shard of the
// weights and its KV cache (the same block ids as rank 0's: the cache is
// split by kv heads, so rank 0's block pool is valid for every rank). Each
// step the engine hands the followers the very StepBatch it runs itself and
// waits until each has finished with it before touching it again.
//
// Failure: a rank whose step fails aborts every rank's communicator, so no
// rank waits forever in a collective; the group is then broken for good and
// the engine ends every stream with WorkerCrashed (the worker goes down as
// one and is restarted by its supervisor).
//
// A hand-over allocates nothing and takes no lock while ranks are busy: the
// followers spin on an atomic step counter for a while, then sleep.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "model/model.h"
#include "model/step_followers.h"
#include "tensor/backend.h"
#include "tensor/communicator.h"

namespace mlxs::engine {

// What one rank is made of, built on that rank's thread. Members are
// declared so that the model goes first, the communicator last.
struct RankParts {
  // This rank's communicator when the rank owns it (NCCL); a group of
  // threads (InProcessGroup) is owned through `shared` instead.
  std::unique_ptr<tensor::Communicator> owned_communicator;
  std::shared_ptr<void> shared;
  // The communicator the model joins (owned above or through `shared`).
  tensor::Communicator* communicator = nullptr;
  std::unique_ptr<tensor::Backend> backend;
  std::unique_ptr<model::Model> model;
};

struct TpGroupOptions {
  // How long an idle follower spins on the step counter before it sleeps
  // (a sleeping follower costs a futex wake on the next step).
  std::int64_t spin_ns = 50'000;
};

class TensorParallelGroup final : public model::StepFollowers {
 public:
  // Builds rank r with make(r) on its own thread (followers keep theirs;
  // rank 0's runs on the caller's, concurrently, since joining a group may
  // block until every rank has). Rank 0's backend and model go to `rank0`,
  // its communicator stays with the group. When a rank fails, every rank is
  // aborted and the first error comes back.
  using MakeRank = std::function<core::Result<RankParts>(int rank)>;
  static core::Result<std::unique_ptr<TensorParallelGroup>> start(int world, const MakeRank& make,
                                                                  RankParts& rank0,
                                                                  TpGroupOptions options = {});
  // Stops the followers, whose parts are destroyed on their own threads.
  ~TensorParallelGroup() override;
  TensorParallelGroup(const TensorParallelGroup&) = delete;
  TensorParallelGroup& operator=(const TensorParallelGroup&) = delete;

  int world_size() const { return static_cast<int>(followers_.size()) + 1; }

  // model::StepFollowers, with a thread per follower.
  core::Status create_kv(int blocks, int block_size) override;
  void launch(const tensor::StepBatch& batch) override;
  core::Status wait() override;
  void abort(const core::Status& why) override;
  // Every rank calibrates its KV-cache scales together (rank 0's model on
  // the caller's thread, the followers' on theirs): one prefill of `tokens`
  // tokens through the group's collectives (model::Model::calibrate_kv_scales),
  // each rank keeping the scales of its own kv heads. A rank that fails
  // aborts every communicator, so no rank waits in a collective; the group
  // is then broken and the first error comes back.
  core::Status calibrate_kv_scales(model::Model& rank0, int tokens);
  // Rank r's model (1 .. world - 1), for tests and diagnostics; null for
  // rank 0 (the caller's) and past the group.
  const model::Model* follower_model(int rank) const;
  // Whether a rank failed (or abort() was called).
  bool broken() const { return broken_.load(std::memory_order_acquire); }
  // The first failure's words ("rank 1: ..."); empty while healthy.
  std::string failure() const;

 private:
  enum class Command : std::uint8_t { kNone, kCreateKv, kForward, kCalibrateKv, kStop };
  struct Follower;
  explicit TensorParallelGroup(TpGroupOptions options);
  // Publishes `command` to every follower and waits for all of them.
  void publish(Command command);
  void follower_loop(Follower& f);
  void wait_done();

  const TpGroupOptions options_;
  std::vector<std::unique_ptr<Follower>> followers_;
  std::vector<tensor::Communicator*> communicators_;  // every rank's, rank 0 first
  std::unique_ptr<tensor::Communicator> rank0_owned_;
  std::shared_ptr<void> rank0_shared_;

  // The step hand-over: the leader writes the command and its arguments,
  // then bumps `issued_`; each follower decrements `pending_` when done.
  Command command_ = Command::kNone;
  tensor::StepBatch batch_{};
  int kv_blocks_ = 0, kv_block_size_ = 0;
  int calibration_tokens_ = 0;
  std::atomic<std::uint64_t> issued_{0};
  std::atomic<int> pending_{0};
  // Sleepers: a follower (or the leader) that stopped spinning.
  std::atomic<int> sleepers_{0};
  std::mutex sleep_mutex_;
  std::condition_variable sleep_cv_;

  std::atomic<bool> broken_{false};
  mutable std::mutex failure_mutex_;
  std::string failure_;
};

}  // namespace mlxs::engine
