// Any tokenizer.json / tokenizer_config.json text either loads or is a
// TokenizerError; what loads can encode and decode without crashing.
// Input: the tokenizer.json text, optionally followed by "\n\x00\n" and the
// tokenizer_config.json text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const auto sep = all.find(std::string_view("\n\0\n", 3));
  const std::string_view tok_json = sep == std::string_view::npos ? all : all.substr(0, sep);
  const std::string_view config =
      sep == std::string_view::npos ? std::string_view() : all.substr(sep + 3);
  auto t = mlxs::tokenizer::Tokenizer::from_json(tok_json, config);
  if (!t.is_ok()) {
    if (t.status().code() != mlxs::core::ErrorCode::kTokenizerError) __builtin_trap();
    return 0;
  }
  for (const std::string_view text :
       {std::string_view("Hello world, 123 !"), std::string_view("a\xC3\xA9\xFF  b"),
        tok_json.substr(0, 64)}) {
    auto ids = (*t)->encode(text, true);
    if (ids.is_ok()) (void)(*t)->decode(*ids, false);
  }
  return 0;
}
