#pragma once
// Decoders of tokenizer.json ("decoder"): token strings -> text, exactly as
// tokenizers' decode_chain. Chains made of per-token steps (Replace, Strip,
// Metaspace, WordPiece) followed by ByteLevel or ByteFallback (+ Fuse, Strip)
// — every chain the supported models ship — also compile into a DecodePlan
// that decodes incrementally, which StreamDecoder and batch decode both use.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/utf8.h"

namespace mlxs::tokenizer {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // tokenizers' decode_chain, in place.
  virtual core::Status decode_chain(std::vector<std::string>& tokens) const = 0;
  // Steps that transform each token alone (given whether it is the first)
  // return true here and implement apply_token.
  virtual bool per_token() const { return false; }
  virtual void apply_token(std::string& /*token*/, bool /*first*/) const {}
};

core::Result<std::unique_ptr<Decoder>> parse_decoder(const Json& json, std::string_view path);

// tokenizers' Decoder::decode: decode_chain then concatenation. With no
// decoder, tokens are joined by spaces.
core::Result<std::string> run_decoder(const Decoder* decoder, std::vector<std::string> tokens);

// The incremental form of a supported chain (see the file comment).
class DecodePlan {
 public:
  // nullptr when the chain has another shape.
  static std::unique_ptr<DecodePlan> compile(const Decoder* decoder);

  struct State {
    std::size_t index = 0;          // tokens seen (for the "first token" rules)
    utf8::LossyStream bytes;        // ByteLevel
    std::string group;              // ByteFallback: bytes of the open run of byte tokens
    bool group_broken = false;      // the open run can no longer be valid UTF-8
    std::size_t group_emitted = 0;  // U+FFFD already emitted for a broken run
    std::size_t group_checked = 0;  // bytes of the run known to form whole valid chars
    std::size_t strip_left = 0;     // leading `strip` chars still to drop
    bool strip_started = false;
    std::size_t held_strip_chars = 0;  // trailing `strip` chars held back
    std::string scratch;
  };
  void reset(State& s) const;
  // Appends the text that is final after `token` to `out`.
  void push(State& s, std::string_view token, std::string& out) const;
  // Flushes everything (the batch decode's tail).
  void finish(State& s, std::string& out) const;

 private:
  enum class Tail : std::uint8_t { kNone, kByteLevel, kByteFallback };
  void emit_text(State& s, std::string_view text, std::string& out) const;
  void close_group(State& s, std::string& out) const;

  std::vector<const Decoder*> per_token_;
  Tail tail_ = Tail::kNone;
  bool has_strip_ = false;  // a Strip after the fuse point
  char32_t strip_content_ = ' ';
  std::string strip_content_utf8_;
  std::size_t strip_start_ = 0, strip_stop_ = 0;
  std::vector<std::unique_ptr<Decoder>> owned_;
};

// "<0xHH>" -> the byte, or -1 (Rust's u8::from_str_radix rules).
int byte_fallback_value(std::string_view token);

}  // namespace mlxs::tokenizer
