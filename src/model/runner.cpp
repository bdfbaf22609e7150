#include "model/runner.h"

#include <algorithm>
#include <cstring>

namespace mlxs::model {

using core::ErrorCode;
using core::Result;
using core::Status;

Runner::Runner(Model& model, std::unique_ptr<tensor::KvStorage> kv, int block_size,
               StepFollowers* followers)
    : model_(model), followers_(followers), kv_(std::move(kv)), block_size_(block_size) {
  const int blocks = kv_->shape().blocks;
  free_blocks_.reserve(static_cast<std::size_t>(blocks));
  for (int b = blocks - 1; b >= 0; --b) free_blocks_.push_back(b);
}

Result<std::unique_ptr<Runner>> Runner::create(Model& model, int max_seqs, int max_tokens_per_seq,
                                               int block_size, StepFollowers* followers) {
  if (max_seqs <= 0 || max_tokens_per_seq <= 0 || block_size <= 0) {
    return Status(ErrorCode::kInvalidParams, "runner capacity must be positive");
  }
  const int blocks = max_seqs * ((max_tokens_per_seq + block_size - 1) / block_size);
  MLXS_ASSIGN_OR_RETURN(auto kv,
                        model.backend().create_kv_storage(model.kv_shape(blocks, block_size)));
  if (followers != nullptr) MLXS_RETURN_IF_ERROR(followers->create_kv(blocks, block_size));
  return std::unique_ptr<Runner>(new Runner(model, std::move(kv), block_size, followers));
}

int Runner::add_sequence() {
  const int id = next_id_++;
  seqs_[id] = Seq{};
  return id;
}

void Runner::remove_sequence(int seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  for (auto b : it->second.blocks) free_blocks_.push_back(b);
  seqs_.erase(it);
}

int Runner::length(int seq) const {
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? -1 : it->second.length;
}

Status Runner::reserve(Seq& seq, std::int32_t length) {
  if (length > model_.max_context()) {
    return core::make_error(ErrorCode::kInvalidParams,
                            "sequence of {} tokens exceeds the context limit of {}", length,
                            model_.max_context());
  }
  const auto need = static_cast<std::size_t>((length + block_size_ - 1) / block_size_);
  while (seq.blocks.size() < need) {
    if (free_blocks_.empty()) return Status(ErrorCode::kGenerationError, "KV cache is full");
    seq.blocks.push_back(free_blocks_.back());
    free_blocks_.pop_back();
  }
  return Status::ok();
}

Status Runner::place_image(int seq, const PlacedImage& image) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return Status(ErrorCode::kInvalidParams, "unknown sequence");
  Seq& s = it->second;
  const std::int32_t after = s.images.empty() ? 0 : s.images.back().begin + s.images.back().rows;
  if (image.rows <= 0 || image.features == nullptr || image.begin < std::max(after, s.length)) {
    return Status(ErrorCode::kInvalidParams, "images must come in order, ahead of what was fed");
  }
  s.images.push_back(image);
  return Status::ok();
}

void Runner::fill_multimodal() {
  slice_images_.clear();
  for (const Seq* s : slice_seqs_) slice_images_.emplace_back(s->images);
  const VisionConfig* vision = model_.vision();
  fill_step_images(slices_, slice_images_, positions_, model_.config().hidden,
                   model_.multi_axis_rope(),
                   vision != nullptr && vision->bidirectional_image_attention, step_images_);
}

Result<std::vector<float>> Runner::step(std::span<const SeqFeed> feeds) {
  MLXS_ASSIGN_OR_RETURN(auto rows, step_view(feeds));
  return std::vector<float>(rows.begin(), rows.end());
}

Result<std::span<const std::int32_t>> Runner::step_greedy(std::span<const SeqFeed> feeds) {
  MLXS_ASSIGN_OR_RETURN(const std::size_t rows, run(feeds, /*greedy=*/true));
  return std::span<const std::int32_t>(greedy_tokens_.data(), rows);
}

Result<std::span<const float>> Runner::step_view(std::span<const SeqFeed> feeds) {
  MLXS_ASSIGN_OR_RETURN(const std::size_t rows, run(feeds, /*greedy=*/false));
  return std::span<const float>(out_.data(),
                                rows * static_cast<std::size_t>(model_.config().vocab));
}

Result<std::size_t> Runner::run(std::span<const SeqFeed> feeds, bool greedy) {
  const LoadOptions& cap = model_.options();
  const auto vocab = static_cast<std::size_t>(model_.config().vocab);
  std::size_t out_rows = 0;
  std::vector<std::size_t>& feed_base = feed_base_;
  feed_base.clear();
  for (const auto& f : feeds) {
    auto it = seqs_.find(f.seq);
    if (it == seqs_.end()) return Status(ErrorCode::kInvalidParams, "unknown sequence");
    if (f.tokens.empty()) return Status(ErrorCode::kInvalidParams, "a feed has no tokens");
    MLXS_RETURN_IF_ERROR(
        reserve(it->second, it->second.length + static_cast<std::int32_t>(f.tokens.size())));
    feed_base.push_back(out_rows);
    out_rows += f.all_logits ? f.tokens.size() : 1;
  }
  if (greedy) {
    if (greedy_tokens_.size() < out_rows) greedy_tokens_.resize(out_rows);
  } else if (out_.size() < out_rows * vocab) {
    out_.resize(out_rows * vocab);
  }
  float* out = out_.data();
  std::vector<std::size_t>& out_index = out_index_;
  out_index.clear();

  auto flush = [&]() -> Status {
    if (tokens_.empty()) return Status::ok();
    fill_multimodal();
    tensor::StepBatch batch{tokens_, positions_, slices_, logit_rows_};
    batch.rope_positions = step_images_.rope_positions;
    batch.attend_until = step_images_.attend_until;
    batch.embeds = step_images_.embeds;
    MLXS_ASSIGN_OR_RETURN(tensor::Tensor logits,
                          forward_all_ranks(model_, followers_, batch, *kv_));
    if (!logit_rows_.empty()) {
      // Greedy: only each row's argmax comes back, as in the engine's greedy
      // steps; else one transfer of the whole block of rows, scattered here.
      full_rows_.assign(logit_rows_.size(), greedy ? 0 : 1);
      tensor::Backend::LogitsRequest request;
      request.full_rows = full_rows_;
      auto host = model_.backend().finish_logits(logits, request);
      if (!host.is_ok()) {
        // Rank 0's device failed: the others may wait for it in a
        // collective, so the group ends.
        if (followers_ != nullptr) followers_->abort(host.status());
        return host.status();
      }
      for (std::size_t i = 0; i < logit_rows_.size(); ++i) {
        if (greedy) {
          greedy_tokens_[out_index[i]] = host->tokens[i];
        } else {
          std::memcpy(out + out_index[i] * vocab, host->rows + i * vocab, vocab * sizeof(float));
        }
      }
    }
    tokens_.clear();
    positions_.clear();
    slices_.clear();
    slice_seqs_.clear();
    logit_rows_.clear();
    out_index.clear();
    return Status::ok();
  };

  for (std::size_t fi = 0; fi < feeds.size(); ++fi) {
    const SeqFeed& f = feeds[fi];
    Seq& seq = seqs_[f.seq];
    const auto n = static_cast<std::int32_t>(f.tokens.size());
    std::int32_t off = 0;
    while (off < n) {
      const auto room_t = static_cast<std::int32_t>(cap.max_batch_tokens - tokens_.size());
      const bool room_s = slices_.size() < static_cast<std::size_t>(cap.max_seqs);
      const auto room_r = static_cast<std::int32_t>(cap.max_logit_rows - logit_rows_.size());
      if (room_t == 0 || !room_s || room_r == 0) {
        MLXS_RETURN_IF_ERROR(flush());
        continue;
      }
      std::int32_t take = std::min(n - off, room_t);
      if (f.all_logits) take = std::min(take, room_r);
      if (model_.vision() != nullptr && model_.vision()->bidirectional_image_attention) {
        // An image attending both ways is computed in one pass.
        take = take_whole_images(seq.images, seq.length, take);
        if (take == 0) {
          if (tokens_.empty()) {
            return Status(ErrorCode::kInvalidParams, "an image has more rows than one pass takes");
          }
          MLXS_RETURN_IF_ERROR(flush());
          continue;
        }
      }
      const auto begin = static_cast<std::int32_t>(tokens_.size());
      for (std::int32_t i = 0; i < take; ++i) {
        tokens_.push_back(f.tokens[static_cast<std::size_t>(off + i)]);
        positions_.push_back(seq.length + i);
        if (f.all_logits) {
          logit_rows_.push_back(begin + i);
          out_index.push_back(feed_base[fi] + static_cast<std::size_t>(off + i));
        }
      }
      seq.length += take;
      off += take;
      if (!f.all_logits && off == n) {
        logit_rows_.push_back(begin + take - 1);
        out_index.push_back(feed_base[fi]);
      }
      slices_.push_back(tensor::SeqSlice{begin, take, seq.length, seq.blocks.data(),
                                         static_cast<std::int32_t>(seq.blocks.size())});
      slice_seqs_.push_back(&seq);
    }
  }
  MLXS_RETURN_IF_ERROR(flush());
  return out_rows;
}

}  // namespace mlxs::model
