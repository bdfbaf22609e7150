#include "guidance/json_number.h"

#include <charconv>
#include <cmath>
#include <optional>

#include "guidance/dfa_builder.h"
#include "guidance/dfa_ops.h"
#include "guidance/regex_dfa.h"

namespace mlxs::guidance {
namespace {

// Phases of a number's text.
enum Phase : std::uint64_t { kStart, kMinus, kIntZero, kInt, kDot, kFrac };

constexpr int kMaxIntDigits = 18;
constexpr int kMaxDigitsWithFraction = 15;

bool digit(std::uint8_t b) {
  return b >= '0' && b <= '9';
}

// A key's fields: phase (bits 0-3), sign (4), nonzero (5), relation (6-7),
// position (8-31), residue (32-63).
struct Key {
  std::uint64_t phase = kStart, neg = 0, nz = 0, rel = 0, pos = 0, residue = 0;
  std::uint64_t pack() const {
    return phase | neg << 4 | nz << 5 | rel << 6 | pos << 8 | residue << 32;
  }
  static Key unpack(std::uint64_t k) {
    return {k & 15, (k >> 4) & 1, (k >> 5) & 1, (k >> 6) & 3, (k >> 8) & 0xFFFFFF, k >> 32};
  }
};

// Relations: 0 equal (so far), 1 less, 2 greater.
std::uint64_t cmp_digit(std::uint8_t d, char b) {
  return d == b ? 0 : (d < b ? 1 : 2);
}

Dfa must(core::Result<Dfa> r) {
  return std::move(r).value();
}

}  // namespace

DecimalText decimal_of(const core::Json& number) {
  DecimalText out;
  std::string digits;
  int exponent = 0;  // value = digits * 10^exponent
  if (number.is_number_unsigned()) {
    digits = std::to_string(number.get<std::uint64_t>());
  } else if (number.is_number_integer()) {
    const std::int64_t v = number.get<std::int64_t>();
    out.negative = v < 0;
    const std::uint64_t mag =
        v < 0 ? ~static_cast<std::uint64_t>(v) + 1 : static_cast<std::uint64_t>(v);
    digits = std::to_string(mag);
  } else {
    const double d = number.get<double>();
    char buf[64];
    const auto res =
        std::to_chars(buf, buf + sizeof buf, std::fabs(d), std::chars_format::scientific);
    out.negative = std::signbit(d) && d != 0.0;
    const char* p = buf;
    int frac = 0;
    bool in_frac = false;
    for (; p < res.ptr && *p != 'e'; ++p) {
      if (*p == '.') {
        in_frac = true;
        continue;
      }
      digits.push_back(*p);
      if (in_frac) ++frac;
    }
    int e = 0;
    if (p < res.ptr) std::from_chars(p[1] == '+' ? p + 2 : p + 1, res.ptr, e);
    exponent = e - frac;
  }
  // Strip leading zeros of the mantissa, trailing zeros into the exponent.
  std::size_t lead = 0;
  while (lead < digits.size() && digits[lead] == '0') ++lead;
  digits.erase(0, lead);
  while (!digits.empty() && digits.back() == '0') {
    digits.pop_back();
    ++exponent;
  }
  if (digits.empty()) {
    out.negative = false;
    return out;
  }
  if (exponent >= 0) {
    out.int_digits = digits + std::string(static_cast<std::size_t>(exponent), '0');
  } else {
    const auto frac = static_cast<std::size_t>(-exponent);
    if (frac >= digits.size()) {
      out.frac_digits = std::string(frac - digits.size(), '0') + digits;
    } else {
      out.int_digits = digits.substr(0, digits.size() - frac);
      out.frac_digits = digits.substr(digits.size() - frac);
    }
  }
  return out;
}

const Dfa& number_full_syntax() {
  static const Dfa dfa =
      must(regex_to_dfa("-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?", RegexMode::kFullMatch));
  return dfa;
}

const Dfa& number_value_syntax() {
  static const Dfa dfa = must(build_dfa(
      Key{}.pack(),
      [](std::uint64_t k, std::uint8_t b) -> std::optional<std::uint64_t> {
        Key s = Key::unpack(k);
        switch (s.phase) {
          case kStart:
          case kMinus:
            if (b == '-' && s.phase == kStart) return Key{kMinus}.pack();
            if (b == '0') return Key{kIntZero}.pack();
            if (b >= '1' && b <= '9') return Key{kInt, 0, 0, 0, 1}.pack();
            return std::nullopt;
          case kIntZero:
            if (b == '.') return Key{kDot}.pack();
            return std::nullopt;
          case kInt:
            if (digit(b) && s.pos < kMaxIntDigits) return Key{kInt, 0, 0, 0, s.pos + 1}.pack();
            if (b == '.' && s.pos < kMaxDigitsWithFraction) return Key{kDot, 0, 0, 0, s.pos}.pack();
            return std::nullopt;
          case kDot:
          case kFrac:
            if (digit(b) && s.pos < kMaxDigitsWithFraction)
              return Key{kFrac, 0, 0, 0, s.pos + 1}.pack();
            return std::nullopt;
          default:
            return std::nullopt;
        }
      },
      [](std::uint64_t k) {
        const auto p = Key::unpack(k).phase;
        return p == kIntZero || p == kInt || p == kFrac;
      }));
  return dfa;
}

const Dfa& integer_values() {
  static const Dfa dfa = [] {
    Dfa zeros = must(regex_to_dfa("-?(0|[1-9][0-9]*)(\\.0+)?", RegexMode::kFullMatch));
    return must(intersect(zeros, number_value_syntax()));
  }();
  return dfa;
}

const Dfa& integer_plain() {
  static const Dfa dfa = must(regex_to_dfa("-?(0|[1-9][0-9]{0,17})", RegexMode::kFullMatch));
  return dfa;
}

core::Result<Dfa> number_bound(const core::Json& bound, Compare cmp) {
  if (!bound.is_number() || (bound.is_number_float() && !std::isfinite(bound.get<double>()))) {
    return core::Status(core::ErrorCode::kGuidanceError, "a numeric bound must be a finite number");
  }
  const DecimalText b = decimal_of(bound);
  const std::uint64_t bi = b.int_digits.size();
  const std::uint64_t bf = b.frac_digits.size();
  const int b_sign = b.is_zero() ? 0 : (b.negative ? -1 : 1);
  const auto step = [&](std::uint64_t k, std::uint8_t c) -> std::optional<std::uint64_t> {
    Key s = Key::unpack(k);
    switch (s.phase) {
      case kStart:
      case kMinus:
        if (c == '-' && s.phase == kStart) return Key{kMinus, 1}.pack();
        if (c == '0') return Key{kIntZero, s.neg}.pack();
        if (c >= '1' && c <= '9') {
          const std::uint64_t rel = bi >= 1 ? cmp_digit(c, b.int_digits[0]) : 2;
          return Key{kInt, s.neg, 1, rel, std::min<std::uint64_t>(1, bi + 1)}.pack();
        }
        return std::nullopt;
      case kIntZero:
        if (c == '.') return Key{kDot, s.neg, 0, bi > 0 ? 1u : 0u, 0}.pack();
        return std::nullopt;
      case kInt:
        if (digit(c)) {
          const std::uint64_t n = s.pos + 1;
          if (n > bi) return Key{kInt, s.neg, 1, 2, bi + 1}.pack();
          const std::uint64_t rel = s.rel != 0 ? s.rel : cmp_digit(c, b.int_digits[n - 1]);
          return Key{kInt, s.neg, 1, rel, n}.pack();
        }
        if (c == '.') {
          // The integer parts compared: a shorter one is smaller.
          const std::uint64_t rel = s.pos < bi ? 1 : (s.pos > bi ? 2 : s.rel);
          return Key{kDot, s.neg, s.nz, rel, 0}.pack();
        }
        return std::nullopt;
      case kDot:
      case kFrac:
        if (digit(c)) {
          const std::uint64_t j = s.pos;
          const std::uint64_t rel =
              s.rel != 0 ? s.rel : cmp_digit(c, j < bf ? b.frac_digits[j] : '0');
          return Key{kFrac, s.neg, s.nz | (c != '0' ? 1u : 0u), rel, std::min(j + 1, bf)}.pack();
        }
        return std::nullopt;
      default:
        return std::nullopt;
    }
  };
  const auto accept = [&](std::uint64_t k) {
    const Key s = Key::unpack(k);
    std::uint64_t mag = 0;  // |x| against |bound|
    switch (s.phase) {
      case kIntZero:
        mag = b.is_zero() ? 0 : 1;
        break;
      case kInt:
        mag = s.pos < bi ? 1 : (s.pos > bi ? 2 : (s.rel != 0 ? s.rel : (bf > 0 ? 1 : 0)));
        break;
      case kFrac:
        mag = s.rel != 0 ? s.rel : (s.pos < bf ? 1 : 0);
        break;
      default:
        return false;
    }
    const int x_sign = s.nz == 0 ? 0 : (s.neg != 0 ? -1 : 1);
    int value;  // x against bound: -1, 0, 1
    if (x_sign == 0) {
      value = b_sign > 0 ? -1 : (b_sign < 0 ? 1 : 0);
    } else if (x_sign > 0) {
      value = b_sign <= 0 ? 1 : (mag == 0 ? 0 : (mag == 1 ? -1 : 1));
    } else {
      value = b_sign >= 0 ? -1 : (mag == 0 ? 0 : (mag == 1 ? 1 : -1));
    }
    switch (cmp) {
      case Compare::kGreaterEqual:
        return value >= 0;
      case Compare::kGreater:
        return value > 0;
      case Compare::kLessEqual:
        return value <= 0;
      case Compare::kLess:
        return value < 0;
    }
    return false;
  };
  MLXS_ASSIGN_OR_RETURN(Dfa raw, build_dfa(Key{}.pack(), step, accept));
  return intersect(raw, number_value_syntax());
}

core::Result<Dfa> number_multiple_of(const core::Json& divisor) {
  const DecimalText d = decimal_of(divisor);
  if (d.is_zero() || d.negative) {
    return core::Status(core::ErrorCode::kGuidanceError, "multipleOf must be greater than 0");
  }
  std::string mantissa = d.int_digits + d.frac_digits;
  const std::uint64_t k = d.frac_digits.size();
  const std::size_t lead = mantissa.find_first_not_of('0');
  mantissa.erase(0, lead);
  if (mantissa.size() > 5 || std::stoull(mantissa) > 10000 || k > 30) {
    return core::make_error(
        core::ErrorCode::kGuidanceError,
        "multipleOf {} is not supported (its decimal digits must form a number of "
        "at most 10000)",
        core::json_excerpt(divisor));
  }
  const std::uint64_t m = std::stoull(mantissa);
  const auto step = [&](std::uint64_t key, std::uint8_t c) -> std::optional<std::uint64_t> {
    Key s = Key::unpack(key);
    switch (s.phase) {
      case kStart:
      case kMinus:
        if (c == '-' && s.phase == kStart) return Key{kMinus}.pack();
        if (c == '0') return Key{kIntZero}.pack();
        if (c >= '1' && c <= '9')
          return Key{kInt, 0, 0, 0, 0, static_cast<std::uint64_t>(c - '0') % m}.pack();
        return std::nullopt;
      case kIntZero:
        if (c == '.') return Key{kDot}.pack();
        return std::nullopt;
      case kInt:
        if (digit(c))
          return Key{kInt, 0, 0, 0, 0, (s.residue * 10 + static_cast<std::uint64_t>(c - '0')) % m}
              .pack();
        if (c == '.') return Key{kDot, 0, 0, 0, 0, s.residue}.pack();
        return std::nullopt;
      case kDot:
      case kFrac:
        if (!digit(c)) return std::nullopt;
        if (s.pos < k) {
          return Key{kFrac, 0,         0,
                     0,     s.pos + 1, (s.residue * 10 + static_cast<std::uint64_t>(c - '0')) % m}
              .pack();
        }
        if (c != '0') return std::nullopt;  // digits past the divisor's must be zero
        return Key{kFrac, 0, 0, 0, s.pos, s.residue}.pack();
      default:
        return std::nullopt;
    }
  };
  const auto accept = [&](std::uint64_t key) {
    const Key s = Key::unpack(key);
    if (s.phase != kIntZero && s.phase != kInt && s.phase != kFrac) return false;
    std::uint64_t r = s.residue;
    for (std::uint64_t j = s.pos; j < k; ++j) r = r * 10 % m;
    return r == 0;
  };
  MLXS_ASSIGN_OR_RETURN(Dfa raw, build_dfa(Key{}.pack(), step, accept));
  return intersect(raw, number_value_syntax());
}

core::Result<Dfa> number_value(const core::Json& value) {
  MLXS_ASSIGN_OR_RETURN(Dfa ge, number_bound(value, Compare::kGreaterEqual));
  MLXS_ASSIGN_OR_RETURN(Dfa le, number_bound(value, Compare::kLessEqual));
  return intersect(ge, le);
}

}  // namespace mlxs::guidance
