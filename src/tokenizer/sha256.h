#pragma once
// SHA-256 (FIPS 180-4), to check tokenizer files against their published digests.

#include <cstdint>
#include <string>
#include <string_view>

namespace mlxs::tokenizer {

// Lowercase hex digest of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace mlxs::tokenizer
