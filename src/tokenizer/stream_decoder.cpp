#include "tokenizer/stream_decoder.h"

namespace mlxs::tokenizer {

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(&tokenizer), skip_special_(skip_special_tokens), plan_(tokenizer.decode_plan()) {
  reset();
}

void StreamDecoder::reset() {
  if (plan_ != nullptr) plan_->reset(state_);
  ids_.clear();
  prefix_.clear();
  prefix_index_ = 0;
}

namespace {
bool ends_with_replacement(const std::string& s) {
  return s.size() >= 3 && std::string_view(s).substr(s.size() - 3) == utf8::kReplacementUtf8;
}
}  // namespace

core::Status StreamDecoder::push(std::int32_t id, std::string& out) {
  if (plan_ != nullptr) {
    if (const std::string* tok = tokenizer_->decode_token(id, skip_special_))
      plan_->push(state_, *tok, out);
    return core::Status::ok();
  }
  // The window keeps the ids already emitted as context (so first-token rules
  // and joins are decoded as in the full sequence) and emits the difference.
  if (prefix_.empty() && !ids_.empty()) {
    MLXS_ASSIGN_OR_RETURN(std::string p, tokenizer_->decode(ids_, skip_special_));
    if (!ends_with_replacement(p)) {
      prefix_ = std::move(p);
      prefix_index_ = ids_.size();
    }
  }
  ids_.push_back(id);
  MLXS_ASSIGN_OR_RETURN(const std::string text, tokenizer_->decode(ids_, skip_special_));
  if (text.size() > prefix_.size() && !ends_with_replacement(text) &&
      text.compare(0, prefix_.size(), prefix_) == 0) {
    out.append(text, prefix_.size());
    const std::size_t new_prefix_index = ids_.size() - prefix_index_;
    ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(prefix_index_));
    MLXS_ASSIGN_OR_RETURN(prefix_, tokenizer_->decode(ids_, skip_special_));
    prefix_index_ = new_prefix_index;
  }
  return core::Status::ok();
}

core::Status StreamDecoder::finish(std::string& out) {
  if (plan_ != nullptr) {
    plan_->finish(state_, out);
  } else if (!ids_.empty()) {
    MLXS_ASSIGN_OR_RETURN(const std::string text, tokenizer_->decode(ids_, skip_special_));
    if (text.compare(0, prefix_.size(), prefix_) != 0) {
      return core::make_error(core::ErrorCode::kTokenizerError,
                              "stream decode: the decoder rewrote emitted text");
    }
    out.append(text, prefix_.size());
  }
  reset();
  return core::Status::ok();
}

}  // namespace mlxs::tokenizer
