#include "runtime/registry.h"

#include <algorithm>

#include "core/log.h"

namespace mlxs::runtime {

using core::ErrorCode;
using core::Status;

ModelRegistry::ModelRegistry(LoadContext context) : ctx_(std::move(context)) {}

ModelRegistry::~ModelRegistry() {
  close();
}

void ModelRegistry::apply(Slot& slot, SlotEvent event) {
  auto next = transition(slot.state, event);
  if (next.is_ok()) {
    slot.state = *next;
  } else {
    core::log_error("runtime_slot_transition", {{"error", next.status().message()}});
  }
}

void ModelRegistry::release(const std::shared_ptr<LoadedModel>& model, bool notify) {
  if (model && model->host) {
    model->host->stop(Status(ErrorCode::kCancelled, "the model was unloaded"), notify);
  }
}

core::Result<protocol::LoadModelResult> ModelRegistry::load(const std::string& model_id,
                                                            const LoadKey& key) {
  std::shared_ptr<Slot> slot;
  {
    std::unique_lock lock(mutex_);
    // Concurrent loads of one id: the later one waits for the earlier.
    changed_.wait(lock, [&] { return closed_ || !loading_.contains(model_id); });
    if (closed_) return Status(ErrorCode::kModelLoadError, "the runtime is shutting down");
    if (auto it = ready_.find(model_id); it != ready_.end() && it->second->model->key == key) {
      return it->second->model->info;
    }
    slot = std::make_shared<Slot>();
    slot->index = next_index_++;
    loading_[model_id] = slot;
  }
  auto loaded = load_model(model_id, key, ctx_, slot->index);
  std::shared_ptr<LoadedModel> replaced;
  std::shared_ptr<LoadedModel> discard;
  core::Result<protocol::LoadModelResult> result = Status(ErrorCode::kModelLoadError, "not loaded");
  {
    std::lock_guard lock(mutex_);
    if (auto it = loading_.find(model_id); it != loading_.end() && it->second == slot)
      loading_.erase(it);
    if (!loaded.is_ok()) {
      apply(*slot, SlotEvent::kLoadFailed);
      if (slot->state == SlotState::kUnloading) apply(*slot, SlotEvent::kReleased);
      result = loaded.status();
    } else {
      apply(*slot, SlotEvent::kLoadSucceeded);
      std::shared_ptr<LoadedModel> model = std::move(loaded).value();
      if (slot->state == SlotState::kReady && !closed_) {
        slot->model = model;
        slot->order = next_order_++;
        if (auto it = ready_.find(model_id); it != ready_.end()) {
          // Loading an id again replaces it (compat/behaviour.md §7.4).
          replaced = it->second->model;
          apply(*it->second, SlotEvent::kUnloadRequested);
          apply(*it->second, SlotEvent::kReleased);
        }
        ready_[model_id] = slot;
        result = model->info;
      } else {
        // Unloaded (or shut down) while it was loading.
        if (slot->state == SlotState::kReady) apply(*slot, SlotEvent::kUnloadRequested);
        apply(*slot, SlotEvent::kReleased);
        discard = std::move(model);
        result = Status(ErrorCode::kModelLoadError, "unloaded while it was loading");
      }
    }
  }
  changed_.notify_all();
  release(replaced, true);
  release(discard, false);
  if (!result.is_ok()) {
    const ErrorCode code = result.status().code() == ErrorCode::kInvalidParams
                               ? ErrorCode::kInvalidParams
                               : ErrorCode::kModelLoadError;
    return Status(code, "Failed to load model " + model_id + ": " + result.status().message());
  }
  core::log_info("runtime_model_loaded",
                 {{"model_id", model_id}, {"context_length", result->context_length}});
  return result;
}

void ModelRegistry::unload(const std::string& model_id) {
  std::shared_ptr<LoadedModel> model;
  {
    std::lock_guard lock(mutex_);
    if (auto it = loading_.find(model_id); it != loading_.end()) {
      // The load finishes on its own thread and then drops its result.
      apply(*it->second, SlotEvent::kUnloadRequested);
      loading_.erase(it);
    }
    if (auto it = ready_.find(model_id); it != ready_.end()) {
      apply(*it->second, SlotEvent::kUnloadRequested);
      model = it->second->model;
      apply(*it->second, SlotEvent::kReleased);
      ready_.erase(it);
    }
  }
  changed_.notify_all();
  release(model, true);
  if (model) core::log_info("runtime_model_unloaded", {{"model_id", model_id}});
}

void ModelRegistry::close() {
  std::vector<std::shared_ptr<LoadedModel>> models;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    for (auto& [id, slot] : loading_) apply(*slot, SlotEvent::kUnloadRequested);
    loading_.clear();
    for (auto& [id, slot] : ready_) {
      apply(*slot, SlotEvent::kUnloadRequested);
      models.push_back(slot->model);
      apply(*slot, SlotEvent::kReleased);
    }
    ready_.clear();
  }
  changed_.notify_all();
  for (auto& m : models) release(m, false);
}

std::shared_ptr<LoadedModel> ModelRegistry::find(const std::string& model_id) const {
  std::lock_guard lock(mutex_);
  const auto it = ready_.find(model_id);
  return it == ready_.end() ? nullptr : it->second->model;
}

std::vector<std::shared_ptr<LoadedModel>> ModelRegistry::ready() const {
  std::vector<std::pair<std::uint64_t, std::shared_ptr<LoadedModel>>> ordered;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, slot] : ready_) ordered.emplace_back(slot->order, slot->model);
  }
  std::sort(ordered.begin(), ordered.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::shared_ptr<LoadedModel>> out;
  for (auto& [order, model] : ordered) out.push_back(std::move(model));
  return out;
}

}  // namespace mlxs::runtime
