// Format checks for dates and times (RFC 3339), durations (RFC 3339 app. A),
// UUIDs, JSON pointers, regexes and e-mail addresses (RFC 5321 mailbox), and
// the name -> check table.

#include "schema/format.h"

#include <array>
#include <string>
#include <utility>

#include "core/json_util.h"
#include "schema/format_checks.h"
#include "schema/regex.h"
#include "schema/utf8.h"

namespace mlxs::schema {
namespace formats {
namespace {

bool digit(char c) {
  return c >= '0' && c <= '9';
}

// `n` ASCII digits at `pos` as a number; false if any is not a digit.
bool digits(std::string_view s, std::size_t pos, std::size_t n, int& value) {
  if (pos + n > s.size()) return false;
  value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!digit(s[pos + i])) return false;
    value = value * 10 + (s[pos + i] - '0');
  }
  return true;
}

bool leap_year(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int y, int m) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap_year(y) ? 29 : kDays[static_cast<std::size_t>(m - 1)];
}

}  // namespace

// full-date = date-fullyear "-" date-month "-" date-mday
bool date(std::string_view s) {
  int y = 0;
  int m = 0;
  int d = 0;
  return s.size() == 10 && digits(s, 0, 4, y) && s[4] == '-' && digits(s, 5, 2, m) && s[7] == '-' &&
         digits(s, 8, 2, d) && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

// full-time = partial-time time-offset; a leap second must fall on 23:59:60 UTC.
bool time(std::string_view s) {
  int h = 0;
  int m = 0;
  int sec = 0;
  if (!digits(s, 0, 2, h) || s.size() < 9 || s[2] != ':' || !digits(s, 3, 2, m) || s[5] != ':' ||
      !digits(s, 6, 2, sec)) {
    return false;
  }
  if (h > 23 || m > 59 || sec > 60) return false;
  std::size_t pos = 8;
  if (pos < s.size() && s[pos] == '.') {
    const std::size_t start = ++pos;
    while (pos < s.size() && digit(s[pos])) ++pos;
    if (pos == start) return false;
  }
  if (pos >= s.size()) return false;
  int offset = 0;  // minutes east of UTC
  if (s[pos] == 'Z' || s[pos] == 'z') {
    if (pos + 1 != s.size()) return false;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh = 0;
    int om = 0;
    if (s.size() != pos + 6 || !digits(s, pos + 1, 2, oh) || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return false;
    }
    offset = (s[pos] == '+' ? 1 : -1) * (oh * 60 + om);
  } else {
    return false;
  }
  if (sec == 60) {
    const int utc = ((h * 60 + m - offset) % 1440 + 1440) % 1440;
    if (utc != 23 * 60 + 59) return false;
  }
  return true;
}

bool date_time(std::string_view s) {
  return s.size() > 11 && (s[10] == 'T' || s[10] == 't') && date(s.substr(0, 10)) &&
         time(s.substr(11));
}

// P[nY][nM][nD][T[nH][nM][nS]] with each part contiguous in that order, or PnW.
bool duration(std::string_view s) {
  if (s.size() < 3 || s[0] != 'P') return false;
  std::size_t pos = 1;
  const auto component = [&](char& unit) {
    const std::size_t start = pos;
    while (pos < s.size() && digit(s[pos])) ++pos;
    if (pos == start || pos >= s.size()) return false;
    unit = s[pos++];
    return true;
  };
  // Units seen, as positions in "YMD" or "HMS"; each part must be a run.
  const auto part = [&](std::string_view order, bool& any) {
    int last = -1;
    while (pos < s.size() && s[pos] != 'T') {
      char unit = 0;
      if (!component(unit)) return false;
      const auto k = order.find(unit);
      if (k == std::string_view::npos) return false;
      if (last >= 0 && static_cast<int>(k) != last + 1) return false;
      last = static_cast<int>(k);
      any = true;
    }
    return true;
  };
  if (s.back() == 'W') {
    char unit = 0;
    return component(unit) && unit == 'W' && pos == s.size();
  }
  bool any_date = false;
  if (!part("YMD", any_date)) return false;
  if (pos == s.size()) return any_date;
  ++pos;  // 'T'
  bool any_time = false;
  return part("HMS", any_time) && any_time && pos == s.size();
}

bool uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!digit(c) && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F')) {
      return false;
    }
  }
  return true;
}

bool json_pointer(std::string_view s) {
  if (s.empty()) return true;
  if (s[0] != '/') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '~' && (i + 1 >= s.size() || (s[i + 1] != '0' && s[i + 1] != '1'))) return false;
  }
  return true;
}

// non-negative-integer ( "#" / json-pointer )
bool relative_json_pointer(std::string_view s) {
  std::size_t pos = 0;
  while (pos < s.size() && digit(s[pos])) ++pos;
  if (pos == 0 || (pos > 1 && s[0] == '0')) return false;
  const std::string_view rest = s.substr(pos);
  return rest == "#" || json_pointer(rest);
}

bool regex(std::string_view s) {
  return Regex::check_syntax(s).is_ok();
}

namespace {

bool atext(char c) {
  if (digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

// Dot-string or Quoted-string of RFC 5321 §4.1.2 (`intl`: UTF-8 allowed, RFC 6531).
bool local_part(std::string_view s, bool intl) {
  if (s.empty()) return false;
  if (s.front() == '"') {
    if (s.size() < 2 || s.back() != '"') return false;
    for (std::size_t i = 1; i + 1 < s.size(); ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c == '\\') {
        if (++i + 1 >= s.size() || s[i] < 32 || s[i] > 126) return false;
      } else if (c == '"' || (c < 32) || c == 127 || (c >= 128 && !intl)) {
        return false;
      }
    }
    return true;
  }
  bool prev_dot = true;  // no leading dot
  for (char c : s) {
    if (c == '.') {
      if (prev_dot) return false;
      prev_dot = true;
      continue;
    }
    if (!atext(c) && !(intl && static_cast<unsigned char>(c) >= 0x80)) return false;
    prev_dot = false;
  }
  return !prev_dot;
}

bool mailbox(std::string_view s, bool intl) {
  const auto at = s.rfind('@');
  if (at == std::string_view::npos || (intl && !utf8::is_valid(s))) return false;
  const std::string_view local = s.substr(0, at);
  const std::string_view domain = s.substr(at + 1);
  if (!local_part(local, intl) || domain.empty()) return false;
  if (domain.front() == '[') {
    if (domain.back() != ']') return false;
    const std::string_view literal = domain.substr(1, domain.size() - 2);
    if (literal.substr(0, 5) == "IPv6:") return ipv6(literal.substr(5));
    return ipv4(literal);
  }
  return intl ? idn_hostname(domain) : hostname(domain);
}

}  // namespace

bool email(std::string_view s) {
  return mailbox(s, false);
}
bool idn_email(std::string_view s) {
  return mailbox(s, true);
}

}  // namespace formats

FormatChecker find_format_checker(std::string_view name) {
  static constexpr std::pair<std::string_view, FormatChecker> kFormats[] = {
      {"date", formats::date},
      {"time", formats::time},
      {"date-time", formats::date_time},
      {"duration", formats::duration},
      {"uuid", formats::uuid},
      {"json-pointer", formats::json_pointer},
      {"relative-json-pointer", formats::relative_json_pointer},
      {"regex", formats::regex},
      {"email", formats::email},
      {"idn-email", formats::idn_email},
      {"ipv4", formats::ipv4},
      {"ipv6", formats::ipv6},
      {"hostname", formats::hostname},
      {"idn-hostname", formats::idn_hostname},
      {"uri", formats::uri},
      {"uri-reference", formats::uri_reference},
      {"iri", formats::iri},
      {"iri-reference", formats::iri_reference},
      {"uri-template", formats::uri_template},
  };
  for (const auto& [known, check] : kFormats) {
    if (known == name) return check;
  }
  return nullptr;
}

namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// RFC 4648 base64 with padding; false when malformed.
bool base64_decode(std::string_view s, std::string& out) {
  if (s.size() % 4 != 0) return false;
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '=') {
      // Padding only in the last two places, and nothing after it.
      if (i + 2 < s.size()) return false;
      for (std::size_t j = i; j < s.size(); ++j) {
        if (s[j] != '=') return false;
      }
      break;
    }
    const int v = base64_value(s[i]);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFFU));
    }
  }
  return true;
}

}  // namespace

bool check_content(std::string_view text, std::string_view encoding, std::string_view media_type) {
  std::string decoded;
  std::string_view content = text;
  if (encoding == "base64") {
    if (!base64_decode(text, decoded)) return false;
    content = decoded;
  }
  if (media_type == "application/json") return core::Json::accept(content);
  return true;
}

}  // namespace mlxs::schema
