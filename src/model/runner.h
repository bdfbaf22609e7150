#pragma once
// Runs a Model for a handful of sequences with a simple block allocator: what
// `generate`, `bench decode` and the parity tests need. Serving uses the
// engine's scheduler and prefix-sharing KV manager instead; this class keeps
// the direct path small and obviously correct.

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "model/model.h"
#include "model/placed_image.h"
#include "model/step_followers.h"

namespace mlxs::model {

struct SeqFeed {
  int seq = 0;                           // id from Runner::add_sequence
  std::span<const std::int32_t> tokens;  // new tokens to append
  bool all_logits = false;               // logits for every token, else the last only
};

class Runner {
 public:
  // KV storage for `max_seqs` live sequences of up to `max_tokens_per_seq`.
  // Under tensor parallelism `model` is rank 0 and `followers` (which must
  // outlive the runner) run the other ranks on every pass.
  static core::Result<std::unique_ptr<Runner>> create(Model& model, int max_seqs,
                                                      int max_tokens_per_seq, int block_size = 16,
                                                      StepFollowers* followers = nullptr);

  int add_sequence();
  void remove_sequence(int seq);
  // Places an image's features in a sequence, before its placeholder
  // tokens are fed (images in order, not overlapping; `features` stays the
  // caller's and must outlive the feeds).
  core::Status place_image(int seq, const PlacedImage& image);
  int length(int seq) const;

  // Appends tokens to sequences in as few forward passes as the model's step
  // capacity allows. Returns host logits: for each feed in order, one row per
  // token (all_logits) or one row for its last token.
  core::Result<std::vector<float>> step(std::span<const SeqFeed> feeds);
  // The same rows in a buffer the runner reuses (no allocation once it has
  // grown), valid until the next call.
  core::Result<std::span<const float>> step_view(std::span<const SeqFeed> feeds);
  // The same passes, but only each row's greedy token comes back (the
  // backend reduces the rows where they are, as the engine's greedy steps do).
  core::Result<std::span<const std::int32_t>> step_greedy(std::span<const SeqFeed> feeds);

  Model& model() { return model_; }

 private:
  struct Seq {
    std::vector<std::int32_t> blocks;
    std::int32_t length = 0;
    std::vector<PlacedImage> images;
  };
  // The multimodal fields of the pass being assembled.
  void fill_multimodal();
  std::vector<float> out_;
  std::vector<std::int32_t> greedy_tokens_;  // step_greedy's ids
  std::vector<std::uint8_t> full_rows_;
  std::vector<std::size_t> feed_base_;
  std::vector<std::size_t> out_index_;  // output row of each logit row in the pass
  Runner(Model& model, std::unique_ptr<tensor::KvStorage> kv, int block_size,
         StepFollowers* followers);
  core::Status reserve(Seq& seq, std::int32_t length);
  // The passes of one step: rows into out_ (logits) or greedy_tokens_ (ids).
  // Returns how many rows.
  core::Result<std::size_t> run(std::span<const SeqFeed> feeds, bool greedy);

  Model& model_;
  StepFollowers* followers_;
  std::unique_ptr<tensor::KvStorage> kv_;
  int block_size_;
  std::vector<std::int32_t> free_blocks_;
  std::map<int, Seq> seqs_;
  int next_id_ = 0;
  // Per-pass scratch, reused.
  std::vector<std::int32_t> tokens_, positions_, logit_rows_;
  std::vector<tensor::SeqSlice> slices_;
  std::vector<const Seq*> slice_seqs_;
  std::vector<std::span<const PlacedImage>> slice_images_;
  StepImages step_images_;
};

}  // namespace mlxs::model
