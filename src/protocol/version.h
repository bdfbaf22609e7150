#pragma once
// Protocol version negotiation and extensions. The original has no version
// negotiation (compat/jsonrpc.md §4.1); ours is opt-in: runtime/info accepts
// {"protocol_version": "major.minor", "extensions": [...]}. Major 1 is the
// original's protocol; minor versions only add (extensions are off until a
// client asks for them, so an original client sees the original protocol).

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace mlxs::protocol {

inline constexpr int kProtocolMajor = 1;
inline constexpr int kProtocolMinor = 1;

// Extension names, also listed in runtime/info capabilities.
// One stream.step notification per engine step instead of stream.chunk.
inline constexpr std::string_view kExtStreamStep = "stream.step";
// model.load_progress notifications while a load_model runs.
inline constexpr std::string_view kExtLoadProgress = "model.load_progress";
// The stream/cancel method (always available; listed so clients can detect it).
inline constexpr std::string_view kExtStreamCancel = "stream/cancel";

struct ProtocolVersion {
  int major = 0;
  int minor = 0;
};

std::string protocol_version_string();  // "1.1"

// "major.minor" (each 1-4 digits); InvalidParams otherwise.
core::Result<ProtocolVersion> parse_protocol_version(std::string_view text);

// Ok when this runtime speaks `requested`'s major version (any minor: a
// newer minor only adds what the client may not use). Unsupported otherwise
// (sent as -32602 with data.code "Unsupported").
core::Status check_protocol_version(std::string_view requested);

// The extensions of `requested` this runtime has (unknown names are left
// out, so a client learns what it got from the answer).
std::vector<std::string> negotiate_extensions(std::span<const std::string> requested);
std::span<const std::string_view> known_extensions();

}  // namespace mlxs::protocol
