#include "engine/tp_group.h"

#include <chrono>

#include "core/log.h"

namespace mlxs::engine {

using core::ErrorCode;
using core::Result;
using core::Status;

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Spins until `ready()` for up to `spin_ns` (reading the clock every 64
// turns: a vDSO call, no syscall), then sleeps on the group's condition
// variable. The sleeper count makes the waker notify only when someone
// sleeps, so the hot path stays free of locks and syscalls.
template <typename Ready>
void spin_then_sleep(std::int64_t spin_ns, std::atomic<int>& sleepers, std::mutex& mutex,
                     std::condition_variable& cv, Ready ready) {
  const std::int64_t until = now_ns() + spin_ns;
  for (int turn = 1;; ++turn) {
    if (ready()) return;
    cpu_relax();
    if ((turn & 63) == 0 && now_ns() >= until) break;
  }
  sleepers.fetch_add(1);
  {
    std::unique_lock lock(mutex);
    cv.wait(lock, ready);
  }
  sleepers.fetch_sub(1);
}

void wake_sleepers(std::atomic<int>& sleepers, std::mutex& mutex, std::condition_variable& cv) {
  if (sleepers.load() == 0) return;
  { std::lock_guard lock(mutex); }
  cv.notify_all();
}

}  // namespace

struct TensorParallelGroup::Follower {
  int rank = 0;
  RankParts parts;
  std::unique_ptr<tensor::KvStorage> kv;
  Status status = Status::ok();  // of its last command (create_kv)
  bool live = false;             // built, and running follower_loop
  std::thread thread;
};

TensorParallelGroup::TensorParallelGroup(TpGroupOptions options) : options_(options) {}

Result<std::unique_ptr<TensorParallelGroup>> TensorParallelGroup::start(int world,
                                                                        const MakeRank& make,
                                                                        RankParts& rank0,
                                                                        TpGroupOptions options) {
  if (world < 1 || world > 64) {
    return core::make_error(ErrorCode::kInvalidParams,
                            "tensor parallelism over {} ranks: must be in [1, 64]", world);
  }
  std::unique_ptr<TensorParallelGroup> group(new TensorParallelGroup(options));
  group->communicators_.assign(static_cast<std::size_t>(world), nullptr);
  // Loading is not a hot path: a plain latch says when every follower is built.
  std::mutex built_mutex;
  std::condition_variable built_cv;
  int built = 0;
  for (int r = 1; r < world; ++r) {
    auto f = std::make_unique<Follower>();
    f->rank = r;
    group->followers_.push_back(std::move(f));
  }
  for (auto& fp : group->followers_) {
    Follower* f = fp.get();
    f->thread = std::thread([&, f, g = group.get()] {
      auto parts = make(f->rank);
      {
        std::lock_guard lock(built_mutex);
        if (parts.is_ok()) {
          f->parts = std::move(parts).value();
          g->communicators_[static_cast<std::size_t>(f->rank)] = f->parts.communicator;
          f->live = true;
        } else {
          f->status = parts.status();
        }
        ++built;
        // Under the lock: once `built` is full, start() may return and
        // take the latch with it.
        built_cv.notify_all();
      }
      if (f->live) g->follower_loop(*f);
      // The rank's objects end on the thread that made them (CUDA binds
      // its device per thread), the model before what it uses, and the
      // communicator while rank 0's ends (~TensorParallelGroup): NCCL ends
      // a group's communicators together.
      f->kv.reset();
      f->parts.model.reset();
      f->parts.owned_communicator.reset();
      f->parts.backend.reset();
      f->parts.shared.reset();
    });
  }
  auto mine = make(0);
  if (mine.is_ok()) {
    group->communicators_[0] = mine->communicator;
  } else {
    // The others may be waiting for rank 0 to join: they are told to stop.
    std::lock_guard lock(built_mutex);
    for (tensor::Communicator* c : group->communicators_) {
      if (c != nullptr) c->abort();
    }
  }
  {
    std::unique_lock lock(built_mutex);
    built_cv.wait(lock, [&] { return built == world - 1; });
  }
  Status failed = mine.is_ok() ? Status::ok() : mine.status();
  for (const auto& f : group->followers_) {
    if (failed.is_ok() && !f->status.is_ok()) {
      failed = core::make_error(f->status.code(), "tensor-parallel rank {}: {}", f->rank,
                                f->status.message());
    }
  }
  if (!failed.is_ok()) {
    // A load error, not a crash: the ranks are stopped without a report.
    group->broken_.store(true);
    for (tensor::Communicator* c : group->communicators_) {
      if (c != nullptr) c->abort();
    }
    return failed;  // the destructor stops the followers that were built
  }
  group->rank0_owned_ = std::move(mine->owned_communicator);
  group->rank0_shared_ = std::move(mine->shared);
  rank0.communicator = mine->communicator;
  rank0.backend = std::move(mine->backend);
  rank0.model = std::move(mine->model);
  return group;
}

TensorParallelGroup::~TensorParallelGroup() {
  publish(Command::kStop);
  // Rank 0's communicator ends now, while the followers end theirs: NCCL's
  // destroy returns on a rank only once every rank of the group has called it.
  if (!communicators_.empty()) communicators_[0] = nullptr;
  rank0_owned_.reset();
  for (auto& f : followers_) {
    if (f->thread.joinable()) f->thread.join();
  }
}

void TensorParallelGroup::publish(Command command) {
  int live = 0;
  for (const auto& f : followers_) live += f->live ? 1 : 0;
  if (live == 0) return;
  command_ = command;
  pending_.store(live);
  issued_.fetch_add(1);
  wake_sleepers(sleepers_, sleep_mutex_, sleep_cv_);
}

void TensorParallelGroup::wait_done() {
  spin_then_sleep(options_.spin_ns, sleepers_, sleep_mutex_, sleep_cv_,
                  [this] { return pending_.load(std::memory_order_acquire) == 0; });
}

void TensorParallelGroup::follower_loop(Follower& f) {
  // Nothing is published before every rank is built, so the first command
  // is number 1 even if it came before this thread got here.
  std::uint64_t seen = 0;
  for (;;) {
    spin_then_sleep(options_.spin_ns, sleepers_, sleep_mutex_, sleep_cv_,
                    [&] { return issued_.load(std::memory_order_acquire) != seen; });
    seen = issued_.load(std::memory_order_acquire);
    const Command command = command_;
    bool stop = false;
    switch (command) {
      case Command::kStop:
        stop = true;
        break;
      case Command::kCreateKv: {
        auto kv =
            f.parts.backend->create_kv_storage(f.parts.model->kv_shape(kv_blocks_, kv_block_size_));
        f.status = kv.is_ok() ? Status::ok() : kv.status();
        if (kv.is_ok()) f.kv = std::move(kv).value();
        break;
      }
      case Command::kForward:
        if (!broken() && f.kv) {
          auto out = f.parts.model->forward(batch_, *f.kv);
          if (!out.is_ok()) {
            abort(core::make_error(out.status().code(), "tensor-parallel rank {}: {}", f.rank,
                                   out.status().message()));
          }
        }
        break;
      case Command::kCalibrateKv:
        if (!broken()) {
          f.status = f.parts.model->calibrate_kv_scales(calibration_tokens_);
          if (!f.status.is_ok()) {
            abort(core::make_error(f.status.code(), "tensor-parallel rank {}: {}", f.rank,
                                   f.status.message()));
          }
        }
        break;
      case Command::kNone:
        break;
    }
    if (pending_.fetch_sub(1) == 1) wake_sleepers(sleepers_, sleep_mutex_, sleep_cv_);
    if (stop) return;
  }
}

Status TensorParallelGroup::create_kv(int blocks, int block_size) {
  kv_blocks_ = blocks;
  kv_block_size_ = block_size;
  publish(Command::kCreateKv);
  wait_done();
  for (const auto& f : followers_) {
    if (f->live && !f->status.is_ok()) {
      return core::make_error(f->status.code(), "tensor-parallel rank {}: {}", f->rank,
                              f->status.message());
    }
  }
  return Status::ok();
}

Status TensorParallelGroup::calibrate_kv_scales(model::Model& rank0, int tokens) {
  calibration_tokens_ = tokens;
  publish(Command::kCalibrateKv);
  const Status mine = rank0.calibrate_kv_scales(tokens);
  if (!mine.is_ok()) {
    abort(core::make_error(mine.code(), "tensor-parallel rank 0: {}", mine.message()));
  }
  wait_done();
  if (!broken()) return Status::ok();
  // failure() names the first rank that failed.
  return core::make_error(mine.is_ok() ? ErrorCode::kModelLoadError : mine.code(),
                          "KV-cache calibration: {}", failure());
}

const model::Model* TensorParallelGroup::follower_model(int rank) const {
  if (rank < 1 || rank > static_cast<int>(followers_.size())) return nullptr;
  const Follower& f = *followers_[static_cast<std::size_t>(rank - 1)];
  return f.live ? f.parts.model.get() : nullptr;
}

void TensorParallelGroup::launch(const tensor::StepBatch& batch) {
  batch_ = batch;
  publish(Command::kForward);
}

Status TensorParallelGroup::wait() {
  wait_done();
  if (!broken()) return Status::ok();
  return Status(ErrorCode::kWorkerCrashed, "the tensor-parallel group failed: " + failure());
}

void TensorParallelGroup::abort(const Status& why) {
  {
    std::lock_guard lock(failure_mutex_);
    if (failure_.empty()) failure_ = why.message();
  }
  if (!broken_.exchange(true)) {
    core::log_error("tp_group_aborted", {{"error", why.to_string()}});
  }
  for (tensor::Communicator* c : communicators_) {
    if (c != nullptr) c->abort();
  }
}

std::string TensorParallelGroup::failure() const {
  std::lock_guard lock(failure_mutex_);
  return failure_;
}

}  // namespace mlxs::engine
