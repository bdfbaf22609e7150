#pragma once
// Incremental detokenization for one sequence: ids arrive one at a time and
// text is emitted as soon as it is final — never inside a UTF-8 character, and
// never text that a later id could still change. The concatenation of what
// push() and finish() emit equals Tokenizer::decode of the whole sequence.
//
// Invalid UTF-8 policy: bytes that cannot become valid whatever follows are
// emitted at once as U+FFFD (one per maximal invalid subpart for byte-level
// models; one per byte for a broken run of <0xHH> tokens, as tokenizers'
// ByteFallback does). An incomplete character at the end of the sequence is
// held back until finish(), which emits it as U+FFFD, like batch decode.
//
// For the decoder chains of byte-level BPE and SentencePiece-style models the
// work per token is constant. Other chains re-decode a window of recent ids
// (tokenizers' DecodeStream approach).

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "tokenizer/decoder.h"
#include "tokenizer/tokenizer.h"

namespace mlxs::tokenizer {

class StreamDecoder {
 public:
  StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens);

  // Appends to `out` the text that `id` completes (possibly none).
  core::Status push(std::int32_t id, std::string& out);
  // Appends the held-back tail; the decoder is then reset for a new sequence.
  core::Status finish(std::string& out);
  void reset();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  const DecodePlan* plan_;
  DecodePlan::State state_;
  // Window fallback.
  std::vector<std::int32_t> ids_;
  std::string prefix_;
  std::size_t prefix_index_ = 0;
};

}  // namespace mlxs::tokenizer
