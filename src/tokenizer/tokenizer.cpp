#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <filesystem>

#include "core/json_util.h"
#include "tokenizer/added_vocab.h"
#include "tokenizer/decoder.h"
#include "tokenizer/model.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer_config.h"
#include "tokenizer/utf8.h"

namespace mlxs::tokenizer {
namespace {

using core::Result;
using core::Status;

// Reusable per-thread buffers, so that steady-state encoding allocates little.
struct EncodeScratch {
  std::string valid;
  std::string normalized;
  PieceBuffer a, b, c;
};

EncodeScratch& scratch() {
  thread_local EncodeScratch s;
  return s;
}

Status with_file(Status status, std::string_view file) {
  return status.is_ok() ? status : status.with_context(file);
}

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::load_dir(const std::string& model_dir) {
  namespace fs = std::filesystem;
  const fs::path dir(model_dir);
  // Read failures keep their (path-free) message but become TokenizerError.
  auto as_tokenizer_error = [](const Status& st) {
    return Status(core::ErrorCode::kTokenizerError, st.message());
  };
  auto tok_text = core::read_file((dir / "tokenizer.json").string(), "tokenizer.json", 256u << 20);
  if (!tok_text.is_ok()) return as_tokenizer_error(tok_text.status());
  std::string config_text;
  std::error_code ec;
  if (fs::exists(dir / "tokenizer_config.json", ec)) {
    auto text = core::read_file((dir / "tokenizer_config.json").string(), "tokenizer_config.json",
                                64u << 20);
    if (!text.is_ok()) return as_tokenizer_error(text.status());
    config_text = std::move(text).value();
  }
  auto result = from_json(*tok_text, config_text);
  if (!result.is_ok()) return as_tokenizer_error(result.status());
  return result;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_json(std::string_view tokenizer_json,
                                                        std::string_view config_json) {
  MLXS_ASSIGN_OR_RETURN(const core::Json doc, core::parse_json(tokenizer_json, "tokenizer.json",
                                                               core::ErrorCode::kTokenizerError));
  if (!doc.is_object()) return field_error("tokenizer.json", "expected a JSON object");
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  auto part = [&](const char* key) -> const core::Json& {
    static const core::Json kNull;
    const auto it = doc.find(key);
    return it == doc.end() ? kNull : *it;
  };
  {
    auto r = parse_normalizer(part("normalizer"), "normalizer");
    if (!r.is_ok()) return with_file(r.status(), "tokenizer.json");
    t->normalizer_ = std::move(r).value();
  }
  {
    auto r = parse_pre_tokenizer(part("pre_tokenizer"), "pre_tokenizer");
    if (!r.is_ok()) return with_file(r.status(), "tokenizer.json");
    t->pre_tokenizer_ = std::move(r).value();
  }
  {
    if (!doc.contains("model")) return field_error("tokenizer.json: model", "missing");
    auto r = parse_model(part("model"), "model");
    if (!r.is_ok()) return with_file(r.status(), "tokenizer.json");
    t->model_ = std::move(r).value();
  }
  {
    auto r = parse_decoder(part("decoder"), "decoder");
    if (!r.is_ok()) return with_file(r.status(), "tokenizer.json");
    t->decoder_ = std::move(r).value();
  }
  {
    auto r = parse_post_processor(part("post_processor"), "post_processor");
    if (!r.is_ok()) return with_file(r.status(), "tokenizer.json");
    t->post_ = std::make_unique<PostProcessor>(std::move(r).value());
  }
  {
    auto r = parse_added_tokens(part("added_tokens"), "added_tokens");
    if (!r.is_ok()) return with_file(r.status(), "tokenizer.json");
    t->added_ = std::make_unique<AddedVocab>();
    MLXS_RETURN_IF_ERROR(
        with_file(t->added_->build(std::move(r).value(), t->normalizer_.get()), "tokenizer.json"));
  }
  if (!config_json.empty()) {
    auto r = parse_tokenizer_config(config_json);
    if (!r.is_ok()) return r.status();
    t->config_ = std::move(r).value();
  }
  MLXS_RETURN_IF_ERROR(t->finish_load());
  return t;
}

Status Tokenizer::finish_load() {
  const Vocab& vocab = model_->vocab();
  id_limit_ = vocab.id_limit();
  vocab_size_ = vocab.size();
  std::vector<std::string_view> counted;
  for (const auto& a : added_->tokens()) {
    id_limit_ = std::max(id_limit_, static_cast<std::size_t>(a.id) + 1);
    if (vocab.find(a.content) < 0) counted.push_back(a.content);
  }
  std::sort(counted.begin(), counted.end());
  vocab_size_ +=
      static_cast<std::size_t>(std::unique(counted.begin(), counted.end()) - counted.begin());
  // Special is a property of the token string (tokenizers checks the string
  // against its set of special contents), so mark every id whose token is one.
  std::vector<std::string_view> specials;
  for (const auto& a : added_->tokens()) {
    if (a.special) specials.push_back(a.content);
  }
  std::sort(specials.begin(), specials.end());
  special_by_id_.assign(id_limit_, 0);
  for (std::size_t id = 0; id < id_limit_ && !specials.empty(); ++id) {
    const auto tok = id_to_token(static_cast<std::int32_t>(id));
    if (tok && std::binary_search(specials.begin(), specials.end(), *tok)) special_by_id_[id] = 1;
  }
  for (auto* st : {&config_.bos, &config_.eos, &config_.pad, &config_.unk}) {
    if (st->has_value()) {
      const auto id = token_to_id((*st)->content);
      (*st)->id = id ? *id : -1;
    }
  }
  plan_ = DecodePlan::compile(decoder_.get());
  return Status::ok();
}

Status Tokenizer::encode_into(std::string_view text, bool add_special_tokens,
                              std::vector<std::int32_t>& ids) const {
  EncodeScratch& s = scratch();
  const std::size_t first = ids.size();
  if (!utf8::is_valid(text)) {
    s.valid.clear();
    utf8::append_lossy(s.valid, text);
    text = s.valid;
  }
  // 1. Added tokens matched in the raw text.
  s.a.clear();
  added_->split_raw(text, true, s.a);
  // 2. Normalize the other pieces; then added tokens matched in normalized text.
  PieceBuffer* cur = &s.a;
  if (normalizer_ != nullptr || added_->has_normalized()) {
    s.b.clear();
    for (const Piece& p : s.a.pieces) {
      if (p.added_id >= 0) {
        s.b.add(s.a.view(p), p.at_start, p.added_id);
        continue;
      }
      std::string_view piece = s.a.view(p);
      if (normalizer_ != nullptr) {
        s.normalized.clear();
        MLXS_RETURN_IF_ERROR(normalizer_->normalize(piece, s.normalized));
        piece = s.normalized;
      }
      added_->split_normalized(piece, p.at_start, s.b);
    }
    cur = &s.b;
  }
  // 3. Pre-tokenize.
  if (pre_tokenizer_ != nullptr) {
    PieceBuffer* next = cur == &s.a ? &s.b : &s.c;
    next->clear();
    MLXS_RETURN_IF_ERROR(pre_tokenizer_->run(*cur, *next));
    cur = next;
  }
  // 4. The model.
  for (const Piece& p : cur->pieces) {
    if (p.added_id >= 0) {
      ids.push_back(p.added_id);
    } else {
      MLXS_RETURN_IF_ERROR(model_->tokenize(cur->view(p), ids));
    }
  }
  // 5. Post-processing.
  if (add_special_tokens && (!post_->prefix.empty() || !post_->suffix.empty())) {
    ids.insert(ids.begin() + static_cast<std::ptrdiff_t>(first), post_->prefix.begin(),
               post_->prefix.end());
    ids.insert(ids.end(), post_->suffix.begin(), post_->suffix.end());
  }
  return Status::ok();
}

Result<std::vector<std::int32_t>> Tokenizer::encode(std::string_view text,
                                                    bool add_special_tokens) const {
  std::vector<std::int32_t> ids;
  MLXS_RETURN_IF_ERROR(encode_into(text, add_special_tokens, ids));
  return ids;
}

const std::string* Tokenizer::decode_token(std::int32_t id, bool skip_special_tokens) const {
  if (id < 0) return nullptr;
  if (skip_special_tokens && static_cast<std::size_t>(id) < special_by_id_.size() &&
      special_by_id_[static_cast<std::size_t>(id)]) {
    return nullptr;
  }
  if (const AddedToken* a = added_->by_id(id)) return &a->content;
  return model_->vocab().token(id);
}

Result<std::string> Tokenizer::decode(std::span<const std::int32_t> ids,
                                      bool skip_special_tokens) const {
  if (plan_ == nullptr) return decode_generic(ids, skip_special_tokens);
  DecodePlan::State state;
  plan_->reset(state);
  std::string out;
  for (const std::int32_t id : ids) {
    if (const std::string* tok = decode_token(id, skip_special_tokens))
      plan_->push(state, *tok, out);
  }
  plan_->finish(state, out);
  return out;
}

Result<std::string> Tokenizer::decode_generic(std::span<const std::int32_t> ids,
                                              bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const std::int32_t id : ids) {
    if (const std::string* tok = decode_token(id, skip_special_tokens)) tokens.push_back(*tok);
  }
  return run_decoder(decoder_.get(), std::move(tokens));
}

std::optional<std::string_view> Tokenizer::id_to_token(std::int32_t id) const {
  if (const AddedToken* a = added_->by_id(id)) return std::string_view(a->content);
  if (const std::string* t = model_->vocab().token(id)) return std::string_view(*t);
  return std::nullopt;
}

std::optional<std::int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* a = added_->by_content(token)) return a->id;
  const std::int32_t id = model_->vocab().find(token);
  if (id >= 0) return id;
  return std::nullopt;
}

bool Tokenizer::is_special(std::int32_t id) const {
  return id >= 0 && static_cast<std::size_t>(id) < special_by_id_.size() &&
         special_by_id_[static_cast<std::size_t>(id)];
}

void Tokenizer::clear_cache() const {
  model_->clear_cache();
}

bool Tokenizer::is_added(std::int32_t id) const {
  return added_->by_id(id) != nullptr;
}

}  // namespace mlxs::tokenizer
