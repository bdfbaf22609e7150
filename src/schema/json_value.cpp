#include "schema/json_value.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

namespace mlxs::schema {
namespace {

__extension__ using Int128 = __int128;
__extension__ using Uint128 = unsigned __int128;

enum class Rank { kNull, kBool, kNumber, kString, kArray, kObject, kOther };

Rank rank(const core::Json& v) {
  if (v.is_null()) return Rank::kNull;
  if (v.is_boolean()) return Rank::kBool;
  if (v.is_number()) return Rank::kNumber;
  if (v.is_string()) return Rank::kString;
  if (v.is_array()) return Rank::kArray;
  if (v.is_object()) return Rank::kObject;
  return Rank::kOther;  // binary / discarded: never produced by parsing
}

template <typename T>
int sign_of(T a, T b) {
  return a < b ? -1 : (a > b ? 1 : 0);
}

Int128 integer_of(const core::Json& v) {
  return v.is_number_unsigned() ? static_cast<Int128>(v.get<std::uint64_t>())
                                : static_cast<Int128>(v.get<std::int64_t>());
}

// An integer against a finite double, exactly.
int compare_integer_double(Int128 i, double d) {
  if (std::isnan(d)) return 0;
  if (d >= 18446744073709551616.0) return -1;  // 2^64: above every int64/uint64
  if (d < -9223372036854775808.0) return 1;    // below -2^63
  const double fl = std::floor(d);
  const Int128 t = static_cast<Int128>(fl);
  if (i != t) return i < t ? -1 : 1;
  return d > fl ? -1 : 0;
}

// A number as sign * mantissa * 10^exponent with no trailing zeros in the
// mantissa; doubles use their shortest round-trip decimal form.
struct Decimal {
  bool negative = false;
  std::uint64_t mantissa = 0;
  int exponent = 0;
};

bool to_decimal(const core::Json& v, Decimal& out) {
  out = Decimal{};
  if (v.is_number_unsigned()) {
    out.mantissa = v.get<std::uint64_t>();
  } else if (v.is_number_integer()) {
    const std::int64_t i = v.get<std::int64_t>();
    out.negative = i < 0;
    out.mantissa = i < 0 ? ~static_cast<std::uint64_t>(i) + 1 : static_cast<std::uint64_t>(i);
  } else {
    const double d = v.get<double>();
    if (!std::isfinite(d)) return false;
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    // "-d.dddde±xx"
    const char* p = buf;
    if (*p == '-') out.negative = true, ++p;
    int fraction_digits = 0;
    bool in_fraction = false;
    for (; p < res.ptr && *p != 'e'; ++p) {
      if (*p == '.') {
        in_fraction = true;
        continue;
      }
      out.mantissa = out.mantissa * 10 + static_cast<std::uint64_t>(*p - '0');
      if (in_fraction) ++fraction_digits;
    }
    int exp10 = 0;
    if (p < res.ptr) std::from_chars(*(p + 1) == '+' ? p + 2 : p + 1, res.ptr, exp10);
    out.exponent = exp10 - fraction_digits;
  }
  if (out.mantissa == 0) {
    out.exponent = 0;
    return true;
  }
  while (out.mantissa % 10 == 0) out.mantissa /= 10, ++out.exponent;
  return true;
}

std::uint64_t pow10_mod(int exponent, std::uint64_t m) {
  Uint128 result = 1 % m;
  Uint128 base = 10 % m;
  for (unsigned e = static_cast<unsigned>(exponent); e > 0; e >>= 1) {
    if ((e & 1U) != 0) result = result * base % m;
    base = base * base % m;
  }
  return static_cast<std::uint64_t>(result);
}

}  // namespace

int compare_numbers(const core::Json& a, const core::Json& b) {
  const bool af = a.is_number_float();
  const bool bf = b.is_number_float();
  if (af && bf) return sign_of(a.get<double>(), b.get<double>());
  if (!af && !bf) return sign_of(integer_of(a), integer_of(b));
  if (af) return -compare_integer_double(integer_of(b), a.get<double>());
  return compare_integer_double(integer_of(a), b.get<double>());
}

// Values nested deeper than this compare as unequal instead of exhausting
// the stack (parsed documents are far shallower: core::parse_json caps them).
namespace {

constexpr int kMaxCompareDepth = 2000;

bool equal_at(const core::Json& a, const core::Json& b, int depth) {
  if (depth > kMaxCompareDepth) return false;
  const Rank ra = rank(a);
  if (ra != rank(b)) return false;
  switch (ra) {
    case Rank::kNull:
      return true;
    case Rank::kBool:
      return a.get<bool>() == b.get<bool>();
    case Rank::kNumber:
      return compare_numbers(a, b) == 0;
    case Rank::kString:
      return a.get_ref<const std::string&>() == b.get_ref<const std::string&>();
    case Rank::kArray: {
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (!equal_at(a[i], b[i], depth + 1)) return false;
      }
      return true;
    }
    case Rank::kObject: {
      if (a.size() != b.size()) return false;
      for (auto it = a.begin(); it != a.end(); ++it) {
        const auto other = b.find(it.key());
        if (other == b.end() || !equal_at(it.value(), *other, depth + 1)) return false;
      }
      return true;
    }
    case Rank::kOther:
      return a == b;
  }
  return false;
}

int compare_at(const core::Json& a, const core::Json& b, int depth) {
  if (depth > kMaxCompareDepth) return &a < &b ? -1 : (&a > &b ? 1 : 0);
  const Rank ra = rank(a);
  const Rank rb = rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case Rank::kNull:
    case Rank::kOther:
      return 0;
    case Rank::kBool:
      return sign_of(a.get<bool>(), b.get<bool>());
    case Rank::kNumber:
      return compare_numbers(a, b);
    case Rank::kString: {
      const int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    case Rank::kArray: {
      const std::size_t n = std::min(a.size(), b.size());
      for (std::size_t i = 0; i < n; ++i) {
        if (const int c = compare_at(a[i], b[i], depth + 1); c != 0) return c;
      }
      return sign_of(a.size(), b.size());
    }
    case Rank::kObject: {
      // nlohmann objects iterate in key order, so equal objects walk alike.
      if (a.size() != b.size()) return sign_of(a.size(), b.size());
      for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
        const int k = ia.key().compare(ib.key());
        if (k != 0) return k < 0 ? -1 : 1;
        if (const int c = compare_at(ia.value(), ib.value(), depth + 1); c != 0) return c;
      }
      return 0;
    }
  }
  return 0;
}

}  // namespace

bool json_equal(const core::Json& a, const core::Json& b) {
  return equal_at(a, b, 0);
}
int json_compare(const core::Json& a, const core::Json& b) {
  return compare_at(a, b, 0);
}

bool is_integer_value(const core::Json& value) {
  if (value.is_number_integer()) return true;  // includes unsigned
  if (!value.is_number_float()) return false;
  const double d = value.get<double>();
  return std::isfinite(d) && std::floor(d) == d;
}

bool is_multiple_of(const core::Json& value, const core::Json& divisor) {
  Decimal x;
  Decimal m;
  if (!to_decimal(value, x) || !to_decimal(divisor, m) || m.mantissa == 0) return false;
  if (x.mantissa == 0) return true;
  // x = a·10^p, m = b·10^q: x/m is an integer iff b divides a·10^(p-q).
  const std::uint64_t a = x.mantissa;
  const std::uint64_t b = m.mantissa;
  const int p = x.exponent;
  const int q = m.exponent;
  if (p >= q) {
    return static_cast<Uint128>(a % b) * pow10_mod(p - q, b) % b == 0;
  }
  const int d = q - p;
  if (d > 19) return false;  // b·10^d > a
  Uint128 scaled = b;
  for (int i = 0; i < d; ++i) scaled *= 10;
  return static_cast<Uint128>(a) % scaled == 0;
}

std::string_view json_type_name(const core::Json& value) {
  if (value.is_null()) return "null";
  if (value.is_boolean()) return "boolean";
  if (value.is_object()) return "object";
  if (value.is_array()) return "array";
  if (value.is_number_integer()) return "integer";
  if (value.is_number()) return "number";
  if (value.is_string()) return "string";
  return "binary";
}

}  // namespace mlxs::schema
