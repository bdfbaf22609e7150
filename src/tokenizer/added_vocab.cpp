#include "tokenizer/added_vocab.h"

#include <algorithm>
#include <map>

#include "tokenizer/normalizer.h"
#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"

namespace mlxs::tokenizer {
namespace {

char32_t last_char(std::string_view s) {
  std::size_t start = s.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  std::size_t len = 0;
  return utf8::decode_valid(s, start, &len);
}

// Where the trailing whitespace of `s` begins.
std::size_t trailing_space_start(std::string_view s) {
  std::size_t end = s.size();
  while (end > 0) {
    std::size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    std::size_t len = 0;
    if (!unicode::is_whitespace(utf8::decode_valid(s, start, &len))) break;
    end = start;
  }
  return end;
}

std::size_t leading_space_length(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t len = 0;
    if (!unicode::is_whitespace(utf8::decode_valid(s, i, &len))) break;
    i += len;
  }
  return i;
}

}  // namespace

core::Result<std::vector<AddedToken>> parse_added_tokens(const Json& json, std::string_view path) {
  std::vector<AddedToken> out;
  if (json.is_null()) return out;
  if (!json.is_array()) return field_error(path, "expected an array");
  for (std::size_t i = 0; i < json.size(); ++i) {
    const std::string p = index_path(path, i);
    const Json& e = json[i];
    AddedToken t;
    MLXS_ASSIGN_OR_RETURN(const std::int64_t id, opt_int(e, "id", p, -1));
    if (id < 0 || id > INT32_MAX - 1)
      return field_error(child_path(p, "id"), "expected a non-negative integer id");
    t.id = static_cast<std::int32_t>(id);
    MLXS_ASSIGN_OR_RETURN(t.content, req_string(e, "content", p));
    MLXS_ASSIGN_OR_RETURN(t.special, opt_bool(e, "special", p, false));
    MLXS_ASSIGN_OR_RETURN(t.lstrip, opt_bool(e, "lstrip", p, false));
    MLXS_ASSIGN_OR_RETURN(t.rstrip, opt_bool(e, "rstrip", p, false));
    MLXS_ASSIGN_OR_RETURN(t.single_word, opt_bool(e, "single_word", p, false));
    MLXS_ASSIGN_OR_RETURN(t.normalized, opt_bool(e, "normalized", p, !t.special));
    if (!utf8::is_valid(t.content)) return field_error(child_path(p, "content"), "not valid UTF-8");
    out.push_back(std::move(t));
  }
  return out;
}

void TokenTrie::build(const std::vector<std::pair<std::string, std::int32_t>>& patterns) {
  // Build with maps, then flatten into sorted edge arrays.
  std::vector<std::map<unsigned char, std::uint32_t>> children(1);
  std::vector<std::int32_t> values(1, -1);
  for (const auto& [text, value] : patterns) {
    if (text.empty()) continue;
    std::uint32_t node = 0;
    for (const char c : text) {
      const auto b = static_cast<unsigned char>(c);
      auto it = children[node].find(b);
      if (it == children[node].end()) {
        const auto next = static_cast<std::uint32_t>(children.size());
        children[node][b] = next;
        children.emplace_back();
        values.push_back(-1);
        node = next;
      } else {
        node = it->second;
      }
    }
    values[node] = value;  // a later duplicate wins
  }
  nodes_.assign(children.size(), Node{});
  edges_.clear();
  root_.fill(0);
  first_.fill(false);
  for (std::size_t n = 0; n < children.size(); ++n) {
    nodes_[n].value = values[n];
    nodes_[n].edge_begin = static_cast<std::uint32_t>(edges_.size());
    nodes_[n].edge_count = static_cast<std::uint32_t>(children[n].size());
    for (const auto& [b, child] : children[n]) edges_.emplace_back(b, child);
  }
  for (const auto& [b, child] : children[0]) {
    root_[b] = child;
    first_[b] = true;
  }
}

std::int32_t TokenTrie::longest_at(std::string_view text, std::size_t pos, std::size_t* end) const {
  std::uint32_t node = root_[static_cast<unsigned char>(text[pos])];
  if (node == 0) return -1;
  std::int32_t best = -1;
  std::size_t i = pos + 1;
  while (true) {
    if (nodes_[node].value >= 0) {
      best = nodes_[node].value;
      *end = i;
    }
    if (i >= text.size()) break;
    const auto b = static_cast<unsigned char>(text[i]);
    const auto* first = edges_.data() + nodes_[node].edge_begin;
    const auto* last = first + nodes_[node].edge_count;
    const auto* it = std::lower_bound(first, last, b,
                                      [](const auto& e, unsigned char x) { return e.first < x; });
    if (it == last || it->first != b) break;
    node = it->second;
    ++i;
  }
  return best;
}

core::Status AddedVocab::build(std::vector<AddedToken> tokens, const Normalizer* normalizer) {
  tokens_ = std::move(tokens);
  index_of_content_.clear();
  std::int32_t max_id = -1;
  for (const auto& t : tokens_) max_id = std::max(max_id, t.id);
  index_of_id_.assign(static_cast<std::size_t>(max_id + 1), -1);
  std::vector<std::pair<std::string, std::int32_t>> raw, normalized;
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& t = tokens_[i];
    index_of_id_[static_cast<std::size_t>(t.id)] = static_cast<std::int32_t>(i);
    index_of_content_[t.content] = static_cast<std::int32_t>(i);
    if (t.content.empty()) continue;
    if (t.normalized) {
      std::string form;
      if (normalizer != nullptr) {
        MLXS_RETURN_IF_ERROR(normalizer->normalize(t.content, form));
      } else {
        form = t.content;
      }
      normalized.emplace_back(std::move(form), static_cast<std::int32_t>(i));
    } else {
      raw.emplace_back(t.content, static_cast<std::int32_t>(i));
    }
  }
  raw_.build(raw);
  normalized_.build(normalized);
  return core::Status::ok();
}

const AddedToken* AddedVocab::by_id(std::int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= index_of_id_.size()) return nullptr;
  const std::int32_t i = index_of_id_[static_cast<std::size_t>(id)];
  return i < 0 ? nullptr : &tokens_[static_cast<std::size_t>(i)];
}

const AddedToken* AddedVocab::by_content(std::string_view content) const {
  const auto it = index_of_content_.find(std::string(content));
  return it == index_of_content_.end() ? nullptr : &tokens_[static_cast<std::size_t>(it->second)];
}

void AddedVocab::split(const TokenTrie& trie, std::string_view text, bool at_start,
                       PieceBuffer& out) const {
  if (trie.empty() || text.empty()) {
    out.add(text, at_start);
    return;
  }
  std::size_t start_offset = 0;  // end of the last emitted piece
  std::size_t pos = 0;           // where matching resumes (the end of the last match)
  while (pos < text.size()) {
    if (!trie.may_start(static_cast<unsigned char>(text[pos]))) {
      ++pos;
      continue;
    }
    std::size_t stop = 0;
    const std::int32_t index = trie.longest_at(text, pos, &stop);
    if (index < 0) {
      ++pos;
      continue;
    }
    std::size_t start = pos;
    pos = stop;
    const AddedToken& t = tokens_[static_cast<std::size_t>(index)];
    if (t.single_word) {
      const bool start_space =
          start == 0 || !unicode::is_word_char(last_char(text.substr(0, start)));
      bool stop_space = stop == text.size();
      if (!stop_space) {
        std::size_t len = 0;
        stop_space = !unicode::is_word_char(utf8::decode_valid(text, stop, &len));
      }
      if (!start_space || !stop_space) continue;
    }
    if (t.lstrip) start = std::max(trailing_space_start(text.substr(0, start)), start_offset);
    if (t.rstrip) stop += leading_space_length(text.substr(stop));
    if (start_offset < start)
      out.add(text.substr(start_offset, start - start_offset), at_start && start_offset == 0);
    out.add(text.substr(start, stop - start), at_start && start == 0, t.id);
    start_offset = stop;
  }
  if (start_offset < text.size()) out.add(text.substr(start_offset), at_start && start_offset == 0);
}

}  // namespace mlxs::tokenizer
