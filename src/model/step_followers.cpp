#include "model/step_followers.h"

namespace mlxs::model {

core::Result<tensor::Tensor> forward_all_ranks(Model& model, StepFollowers* followers,
                                               const tensor::StepBatch& batch,
                                               tensor::KvStorage& kv) {
  if (followers == nullptr) return model.forward(batch, kv);
  followers->launch(batch);
  auto logits = model.forward(batch, kv);
  if (!logits.is_ok()) followers->abort(logits.status());
  MLXS_RETURN_IF_ERROR(followers->wait());
  return logits;
}

}  // namespace mlxs::model
