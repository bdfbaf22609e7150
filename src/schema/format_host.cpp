// IP addresses (RFC 791 dotted quad, RFC 4291 text form) and host names
// (RFC 1123 labels; A-labels and U-labels checked with idna.h).

#include <string>
#include <string_view>
#include <vector>

#include "schema/format_checks.h"
#include "schema/idna.h"
#include "schema/utf8.h"

namespace mlxs::schema::formats {
namespace {

bool digit(char c) {
  return c >= '0' && c <= '9';
}
bool hexdig(char c) {
  return digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool ldh_label(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
    return false;
  for (char c : label) {
    if (!digit(c) && !((c | 0x20) >= 'a' && (c | 0x20) <= 'z') && c != '-') return false;
  }
  return true;
}

bool starts_with_ace_prefix(std::string_view label) {
  return label.size() >= 4 && (label[0] | 0x20) == 'x' && (label[1] | 0x20) == 'n' &&
         label[2] == '-' && label[3] == '-';
}

}  // namespace

bool ipv4(std::string_view s) {
  int parts = 0;
  std::size_t pos = 0;
  while (true) {
    const std::size_t start = pos;
    int value = 0;
    while (pos < s.size() && digit(s[pos]) && pos - start < 4)
      value = value * 10 + (s[pos++] - '0');
    const std::size_t len = pos - start;
    if (len == 0 || len > 3 || value > 255 || (len > 1 && s[start] == '0')) return false;
    if (++parts == 4) return pos == s.size();
    if (pos >= s.size() || s[pos] != '.') return false;
    ++pos;
  }
}

bool ipv6(std::string_view s) {
  // Up to 8 groups of 1-4 hex digits, at most one "::", an optional
  // trailing dotted quad counting as two groups.
  int groups = 0;
  bool compressed = false;
  std::size_t pos = 0;
  if (s.substr(0, 2) == "::") {
    compressed = true;
    pos = 2;
    if (pos == s.size()) return true;
  } else if (!s.empty() && s[0] == ':') {
    return false;
  }
  while (pos < s.size()) {
    std::size_t end = pos;
    while (end < s.size() && hexdig(s[end])) ++end;
    if (end < s.size() && s[end] == '.') {
      // The IPv4 tail must end the address.
      if (!ipv4(s.substr(pos))) return false;
      groups += 2;
      pos = s.size();
      break;
    }
    if (end == pos || end - pos > 4) return false;
    ++groups;
    pos = end;
    if (pos == s.size()) break;
    if (s[pos] != ':') return false;
    if (pos + 1 < s.size() && s[pos + 1] == ':') {
      if (compressed) return false;
      compressed = true;
      pos += 2;
      if (pos == s.size()) break;
      if (s[pos] == ':') return false;
    } else {
      ++pos;
      if (pos == s.size()) return false;  // trailing single colon
    }
  }
  return compressed ? groups <= 7 : groups == 8;
}

bool hostname(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    const auto dot = s.find('.', start);
    const std::string_view label =
        s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (!ldh_label(label)) return false;
    if (label.size() >= 4 && label[2] == '-' && label[3] == '-') {
      // "??--" is reserved for A-labels ("xn--"), which must decode to a
      // valid U-label.
      if (!starts_with_ace_prefix(label) || !idna::valid_a_label(label)) return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool idn_hostname(std::string_view s) {
  if (s.empty() || !utf8::is_valid(s)) return false;
  // Label separators of IDNA: full stop and its ideographic/full-width forms.
  std::vector<std::u32string> labels(1);
  for (std::size_t pos = 0; pos < s.size();) {
    const char32_t cp = utf8::decode(s, pos);
    if (cp == '.' || cp == 0x3002 || cp == 0xFF0E || cp == 0xFF61) {
      labels.emplace_back();
    } else {
      labels.back().push_back(cp);
    }
  }
  std::size_t total = labels.size() - 1;  // the dots
  bool rtl_domain = false;
  for (const auto& label : labels) rtl_domain = rtl_domain || idna::has_rtl(label);
  for (const auto& label : labels) {
    if (label.empty()) return false;
    std::string ascii;
    if (!idna::to_ascii_label(label, rtl_domain, ascii)) return false;
    total += ascii.size();
  }
  return total <= 253;
}

}  // namespace mlxs::schema::formats
