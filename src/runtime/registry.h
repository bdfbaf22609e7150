#pragma once
// The loaded models by id. A load runs without the registry lock (loading is
// slow; runtime/state must answer meanwhile) and publishes the model when it
// is ready. Each slot follows the state machine of slot_state.h. Reloading an
// id with different sources replaces the model once the new one is ready;
// loading it again with the same sources returns the loaded one.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "runtime/loaded_model.h"
#include "runtime/slot_state.h"

namespace mlxs::runtime {

class ModelRegistry {
 public:
  explicit ModelRegistry(LoadContext context);
  ~ModelRegistry();

  // Blocks for the load (call it off the request thread).
  core::Result<protocol::LoadModelResult> load(const std::string& model_id, const LoadKey& key);
  // Ends the model's streams (error events) and frees it; unknown ids are fine.
  void unload(const std::string& model_id);
  // Every model, without events (shutdown); later loads are refused.
  void close();

  std::shared_ptr<LoadedModel> find(const std::string& model_id) const;
  std::vector<std::shared_ptr<LoadedModel>> ready() const;  // in load order

 private:
  struct Slot {
    SlotState state = SlotState::kLoading;
    std::shared_ptr<LoadedModel> model;
    std::uint64_t order = 0;
    int index = 0;
  };
  void apply(Slot& slot, SlotEvent event);  // caller holds mutex_
  static void release(const std::shared_ptr<LoadedModel>& model, bool notify);

  LoadContext ctx_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::unordered_map<std::string, std::shared_ptr<Slot>> ready_;    // Ready slots by id
  std::unordered_map<std::string, std::shared_ptr<Slot>> loading_;  // Loading slots by id
  std::uint64_t next_order_ = 1;
  int next_index_ = 0;
  bool closed_ = false;
};

}  // namespace mlxs::runtime
