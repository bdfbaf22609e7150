#pragma once
// A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) that
// encodes and decodes exactly as the `tokenizers` library does.
//
// Input text that is not valid UTF-8 is encoded as if each invalid subpart
// were U+FFFD (what a client decoding the bytes leniently would send). Decode
// skips ids that name no token, as tokenizers does, and turns incomplete
// UTF-8 into U+FFFD. All const methods may be called from many threads.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace mlxs::tokenizer {

class Normalizer;
class PreTokenizer;
class Model;
class Decoder;
class DecodePlan;
class AddedVocab;
class PostProcessor;
struct AddedToken;

// A special token named in tokenizer_config.json, with its id (-1 when the
// tokenizer has no such token).
struct SpecialToken {
  std::string content;
  std::int32_t id = -1;
};

struct TokenizerConfig {
  std::optional<SpecialToken> bos, eos, pad, unk;
  std::optional<bool> add_bos_token, add_eos_token;
  bool clean_up_tokenization_spaces = false;
  std::optional<std::string> chat_template;  // the default template when several are given
};

class Tokenizer {
 public:
  // Reads `model_dir`/tokenizer.json and, when present, tokenizer_config.json.
  static core::Result<std::unique_ptr<Tokenizer>> load_dir(const std::string& model_dir);
  // From the documents' text; `config_json` empty means no tokenizer_config.json.
  static core::Result<std::unique_ptr<Tokenizer>> from_json(std::string_view tokenizer_json,
                                                            std::string_view config_json = {});
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  core::Result<std::vector<std::int32_t>> encode(std::string_view text,
                                                 bool add_special_tokens) const;
  // Appends to `ids` (reusing its capacity).
  core::Status encode_into(std::string_view text, bool add_special_tokens,
                           std::vector<std::int32_t>& ids) const;

  core::Result<std::string> decode(std::span<const std::int32_t> ids,
                                   bool skip_special_tokens) const;

  // The token string of an id (added tokens first, then the model's vocabulary).
  std::optional<std::string_view> id_to_token(std::int32_t id) const;
  std::optional<std::int32_t> token_to_id(std::string_view token) const;
  // Distinct tokens, added ones included (tokenizers' get_vocab_size(true)).
  std::size_t vocab_size() const { return vocab_size_; }
  // One past the largest id in use.
  std::size_t id_limit() const { return id_limit_; }
  bool is_special(std::int32_t id) const;
  bool is_added(std::int32_t id) const;

  const TokenizerConfig& config() const { return config_; }
  std::int32_t bos_id() const { return config_.bos ? config_.bos->id : -1; }
  std::int32_t eos_id() const { return config_.eos ? config_.eos->id : -1; }
  std::int32_t pad_id() const { return config_.pad ? config_.pad->id : -1; }
  std::int32_t unk_id() const { return config_.unk ? config_.unk->id : -1; }

  // Forgets the memo of tokenized words (benchmarks measure cold encodes).
  void clear_cache() const;

  // The incremental decoder of this tokenizer's chain, or nullptr (then
  // StreamDecoder falls back to re-decoding a window).
  const DecodePlan* decode_plan() const { return plan_.get(); }
  // Decodes with the generic decode_chain even when a plan exists (tests).
  core::Result<std::string> decode_generic(std::span<const std::int32_t> ids,
                                           bool skip_special_tokens) const;
  // The token string decode feeds to the decoder for `id`, or nullptr when the
  // id is skipped (unknown, or special while skipping special tokens).
  const std::string* decode_token(std::int32_t id, bool skip_special_tokens) const;

 private:
  Tokenizer();
  core::Status finish_load();

  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Decoder> decoder_;
  std::unique_ptr<DecodePlan> plan_;
  std::unique_ptr<AddedVocab> added_;
  std::unique_ptr<PostProcessor> post_;
  std::vector<std::uint8_t> special_by_id_;  // 1: the id's token is special
  TokenizerConfig config_;
  std::size_t vocab_size_ = 0;
  std::size_t id_limit_ = 0;
};

}  // namespace mlxs::tokenizer
