#include "telemetry/ids.h"

#include <random>

namespace mlxs::telemetry {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case included: the spec allows only lower case
}

template <std::size_t N>
std::optional<std::array<std::uint8_t, N>> from_hex(std::string_view hex) {
  if (hex.size() != 2 * N) return std::nullopt;
  std::array<std::uint8_t, N> out{};
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = hex_digit(hex[2 * i]);
    const int lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

// Seeded once per thread with 256 bits from std::random_device (getrandom
// on Linux), so ids stay unpredictable and unique across processes without a
// system call per id.
std::mt19937_64& generator() {
  thread_local std::mt19937_64 engine = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(),
                       device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  return engine;
}

template <std::size_t N>
std::array<std::uint8_t, N> random_id() {
  std::array<std::uint8_t, N> id{};
  do {
    for (std::size_t i = 0; i < N; i += 8) {
      std::uint64_t word = generator()();
      for (std::size_t j = 0; j < 8 && i + j < N; ++j) {
        id[i + j] = static_cast<std::uint8_t>(word & 0xff);
        word >>= 8;
      }
    }
  } while (is_zero(id));
  return id;
}

}  // namespace

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const std::uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0x0f];
  }
  return out;
}

std::optional<TraceId> trace_id_from_hex(std::string_view hex) {
  return from_hex<16>(hex);
}

std::optional<SpanId> span_id_from_hex(std::string_view hex) {
  return from_hex<8>(hex);
}

std::optional<std::uint8_t> byte_from_hex(std::string_view hex) {
  const auto one = from_hex<1>(hex);
  if (!one) return std::nullopt;
  return (*one)[0];
}

TraceId random_trace_id() {
  return random_id<16>();
}

SpanId random_span_id() {
  return random_id<8>();
}

}  // namespace mlxs::telemetry
