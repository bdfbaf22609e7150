#include "guidance/vocab.h"

#include <array>

#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"

namespace mlxs::guidance {
namespace {

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (int k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

// "<0xHH>" -> the byte, else -1.
int byte_token(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = t[i];
    v = v * 16 + (c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                         : -100);
  }
  return v < 0 ? -1 : v;
}

}  // namespace

core::Result<std::shared_ptr<const TokenVocab>> TokenVocab::from_tokenizer(
    const tokenizer::Tokenizer& tok) {
  const auto limit = static_cast<std::int32_t>(tok.id_limit());
  std::vector<std::string> bytes(static_cast<std::size_t>(limit));
  // Is the decoder byte-level? Then each token's characters stand for bytes,
  // which is the only exact reading for tokens holding part of a character.
  // Decide by comparing with the tokenizer's own decode where it is lossless.
  int agree = 0, disagree = 0;
  std::string bl;
  for (std::int32_t id = 0; id < limit && agree + disagree < 4000; id += 7) {
    if (tok.is_special(id)) continue;
    const std::string* t = tok.decode_token(id, false);
    if (t == nullptr) continue;
    bl.clear();
    tokenizer::byte_level::decode_token(*t, bl);
    if (!valid_utf8(bl)) continue;
    const std::int32_t one[1] = {id};
    auto text = tok.decode(one, false);
    if (!text.is_ok()) continue;
    (*text == bl ? agree : disagree) += 1;
  }
  const bool byte_level = agree > 0 && disagree * 100 <= agree;
  // Otherwise read each token's text after a reference token, so that
  // decoders that strip a leading space from the first token do not.
  std::int32_t ref = -1;
  std::string ref_text;
  if (!byte_level) {
    for (const char* cand : {"<0x41>", "A", "a"}) {
      if (auto id = tok.token_to_id(cand); id && !tok.is_special(*id)) {
        const std::int32_t one[1] = {*id};
        auto text = tok.decode(one, false);
        if (text.is_ok() && !text->empty()) {
          ref = *id;
          ref_text = *text;
          break;
        }
      }
    }
  }
  for (std::int32_t id = 0; id < limit; ++id) {
    if (tok.is_special(id)) continue;
    const std::string* t = tok.decode_token(id, false);
    if (t == nullptr) continue;
    std::string& out = bytes[static_cast<std::size_t>(id)];
    if (byte_level) {
      tokenizer::byte_level::decode_token(*t, out);
      continue;
    }
    if (const int b = byte_token(*t); b >= 0) {
      out.assign(1, static_cast<char>(b));
      continue;
    }
    if (ref >= 0) {
      const std::int32_t two[2] = {ref, id};
      auto text = tok.decode(two, false);
      if (text.is_ok() && text->starts_with(ref_text)) {
        out = text->substr(ref_text.size());
        continue;
      }
    }
    const std::int32_t one[1] = {id};
    auto text = tok.decode(one, false);
    if (text.is_ok()) out = *text;
  }
  std::vector<std::int32_t> eos;
  if (tok.eos_id() >= 0) eos.push_back(tok.eos_id());
  return from_tokens(bytes, std::move(eos));
}

std::shared_ptr<const TokenVocab> TokenVocab::from_tokens(const std::vector<std::string>& bytes,
                                                          std::vector<std::int32_t> eos_ids) {
  auto v = std::make_shared<TokenVocab>();
  for (const std::string& b : bytes) {
    v->data_ += b;
    v->offsets_.push_back(static_cast<std::uint32_t>(v->data_.size()));
  }
  v->eos_ = std::move(eos_ids);
  v->finish();
  return v;
}

void TokenVocab::finish() {
  std::vector<std::pair<std::string_view, std::int32_t>> entries;
  entries.reserve(size());
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t id = 0; id < size(); ++id) {
    const std::string_view b = bytes(static_cast<std::int32_t>(id));
    for (const char c : b) h = (h ^ static_cast<std::uint8_t>(c)) * 0x100000001b3ull;
    h = (h ^ 0xFFu) * 0x100000001b3ull;  // separator
    if (!b.empty()) entries.emplace_back(b, static_cast<std::int32_t>(id));
  }
  for (const auto e : eos_) h = (h ^ static_cast<std::uint64_t>(e)) * 0x100000001b3ull;
  fingerprint_ = h;
  trie_ = TokenTrie::build(std::move(entries));
}

}  // namespace mlxs::guidance
