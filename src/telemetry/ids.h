#pragma once
// Trace and span ids in W3C Trace Context sizes (16 and 8 bytes), their
// lower-case hex form, and fresh random ones. All-zero ids mean "none" in
// both W3C and OTLP, so a generated id is never all zero.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace mlxs::telemetry {

using TraceId = std::array<std::uint8_t, 16>;
using SpanId = std::array<std::uint8_t, 8>;

template <std::size_t N>
bool is_zero(const std::array<std::uint8_t, N>& id) {
  for (const std::uint8_t b : id) {
    if (b != 0) return false;
  }
  return true;
}

// Lower-case hex, two digits per byte.
std::string to_hex(std::span<const std::uint8_t> bytes);

// Exactly 32 / 16 lower-case hex digits (W3C forbids upper case); nullopt
// otherwise. All-zero ids parse (the caller decides whether they are valid).
std::optional<TraceId> trace_id_from_hex(std::string_view hex);
std::optional<SpanId> span_id_from_hex(std::string_view hex);
// Two lower-case hex digits (versions and flags).
std::optional<std::uint8_t> byte_from_hex(std::string_view hex);

// From a per-thread generator seeded by the operating system's entropy.
TraceId random_trace_id();
SpanId random_span_id();

}  // namespace mlxs::telemetry
