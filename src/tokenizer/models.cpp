// WordPiece and WordLevel, and the "model" dispatcher (BPE lives in bpe.cpp).
#include <fmt/format.h>

#include "tokenizer/bpe.h"
#include "tokenizer/model.h"
#include "tokenizer/utf8.h"

namespace mlxs::tokenizer {
namespace {

core::Status missing_unk(std::string_view model) {
  return core::make_error(core::ErrorCode::kTokenizerError,
                          "{}: a word is unknown and there is no unk_token", model);
}

class WordPieceModel final : public Model {
 public:
  WordPieceModel(Vocab vocab, std::int32_t unk_id, std::string prefix, std::size_t max_chars)
      : vocab_(std::move(vocab)),
        unk_id_(unk_id),
        prefix_(std::move(prefix)),
        max_chars_(max_chars) {}

  core::Status tokenize(std::string_view w, std::vector<std::int32_t>& ids) const override {
    auto unk = [&]() -> core::Status {
      if (unk_id_ < 0) return missing_unk("WordPiece");
      ids.push_back(unk_id_);
      return core::Status::ok();
    };
    if (utf8::count_chars(w) > max_chars_) return unk();
    const std::size_t mark = ids.size();
    std::string sub;
    std::size_t start = 0;
    while (start < w.size()) {
      std::size_t end = w.size();
      std::int32_t found = -1;
      while (start < end) {
        sub.clear();
        if (start > 0) sub.append(prefix_);
        sub.append(w.substr(start, end - start));
        found = vocab_.find(sub);
        if (found >= 0) break;
        do {
          --end;
        } while (end > start && (static_cast<unsigned char>(w[end]) & 0xC0) == 0x80);
      }
      if (found < 0) {
        ids.resize(mark);
        return unk();
      }
      ids.push_back(found);
      start = end;
    }
    return core::Status::ok();
  }
  const Vocab& vocab() const override { return vocab_; }

 private:
  Vocab vocab_;
  std::int32_t unk_id_;
  std::string prefix_;
  std::size_t max_chars_;
};

class WordLevelModel final : public Model {
 public:
  WordLevelModel(Vocab vocab, std::int32_t unk_id) : vocab_(std::move(vocab)), unk_id_(unk_id) {}
  core::Status tokenize(std::string_view w, std::vector<std::int32_t>& ids) const override {
    const std::int32_t id = vocab_.find(w);
    if (id >= 0) {
      ids.push_back(id);
    } else if (unk_id_ >= 0) {
      ids.push_back(unk_id_);
    } else {
      return missing_unk("WordLevel");
    }
    return core::Status::ok();
  }
  const Vocab& vocab() const override { return vocab_; }

 private:
  Vocab vocab_;
  std::int32_t unk_id_;
};

}  // namespace

core::Result<std::unique_ptr<Model>> parse_model(const Json& json, std::string_view path) {
  if (!json.is_object()) return field_error(path, "expected an object");
  // Old files may omit "type": tell the models apart by their fields.
  std::string type;
  if (json.contains("type")) {
    MLXS_ASSIGN_OR_RETURN(type, req_string(json, "type", path));
  } else if (json.contains("merges")) {
    type = "BPE";
  } else if (json.contains("continuing_subword_prefix")) {
    type = "WordPiece";
  } else {
    type = "WordLevel";
  }
  if (type == "BPE") {
    MLXS_ASSIGN_OR_RETURN(auto bpe, BpeModel::from_json(json, path));
    return std::unique_ptr<Model>(std::move(bpe));
  }
  if (type == "WordPiece" || type == "WordLevel") {
    MLXS_ASSIGN_OR_RETURN(const Json* vocab_json, req_field(json, "vocab", path));
    MLXS_ASSIGN_OR_RETURN(Vocab vocab, Vocab::from_json(*vocab_json, child_path(path, "vocab")));
    MLXS_ASSIGN_OR_RETURN(const std::string unk, opt_string(json, "unk_token", path, "[UNK]"));
    const std::int32_t unk_id = vocab.find(unk);
    if (type == "WordLevel")
      return std::unique_ptr<Model>(new WordLevelModel(std::move(vocab), unk_id));
    MLXS_ASSIGN_OR_RETURN(std::string prefix,
                          opt_string(json, "continuing_subword_prefix", path, "##"));
    MLXS_ASSIGN_OR_RETURN(const std::int64_t max_chars,
                          opt_int(json, "max_input_chars_per_word", path, 100));
    if (max_chars < 0)
      return field_error(child_path(path, "max_input_chars_per_word"),
                         "expected a non-negative integer");
    return std::unique_ptr<Model>(new WordPieceModel(std::move(vocab), unk_id, std::move(prefix),
                                                     static_cast<std::size_t>(max_chars)));
  }
  return field_error(child_path(path, "type"),
                     "unknown or unsupported model type \"" + type + "\"");
}

}  // namespace mlxs::tokenizer
