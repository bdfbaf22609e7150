// URI and IRI syntax (RFC 3986 / RFC 3987) and URI templates (RFC 6570, level 4).

#include <string_view>

#include "schema/format_checks.h"
#include "schema/utf8.h"

namespace mlxs::schema::formats {
namespace {

bool alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool digit(char c) {
  return c >= '0' && c <= '9';
}
bool hexdig(char c) {
  return digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool unreserved(char c) {
  return alpha(c) || digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
bool sub_delim(char c) {
  return std::string_view("!$&'()*+,;=").find(c) != std::string_view::npos;
}

// RFC 3987 ucschar (and iprivate, which only queries may hold; accepted
// everywhere here for simplicity).
bool ucschar(char32_t c) {
  if (c < 0xA0) return false;
  if (c >= 0xD800 && c <= 0xF8FF) return c >= 0xE000;  // surrogates out, private use in
  if (c >= 0xFDD0 && c <= 0xFDEF) return false;
  return (c & 0xFFFE) != 0xFFFE;
}

// Walks a component: every code point must be unreserved, a sub-delim, one
// of `extra`, a %XX triplet, or (for IRIs) a ucschar.
bool component(std::string_view s, std::string_view extra, bool iri) {
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size() || !hexdig(s[i + 1]) || !hexdig(s[i + 2])) return false;
      i += 3;
    } else if (static_cast<unsigned char>(c) >= 0x80) {
      if (!iri) return false;
      const char32_t cp = utf8::decode(s, i);
      if (cp == utf8::kReplacement || !ucschar(cp)) return false;
    } else if (unreserved(c) || sub_delim(c) || extra.find(c) != std::string_view::npos) {
      ++i;
    } else {
      return false;
    }
  }
  return true;
}

bool ipv_future(std::string_view s) {
  // "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
  if (s.size() < 4 || (s[0] != 'v' && s[0] != 'V')) return false;
  std::size_t i = 1;
  while (i < s.size() && hexdig(s[i])) ++i;
  if (i == 1 || i >= s.size() || s[i] != '.' || i + 1 >= s.size()) return false;
  for (++i; i < s.size(); ++i) {
    if (!unreserved(s[i]) && !sub_delim(s[i]) && s[i] != ':') return false;
  }
  return true;
}

bool authority(std::string_view s, bool iri) {
  if (const auto at = s.find('@'); at != std::string_view::npos) {
    if (!component(s.substr(0, at), ":", iri)) return false;
    s.remove_prefix(at + 1);
  }
  std::string_view host = s;
  std::string_view port;
  if (!s.empty() && s[0] == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) return false;
    host = s.substr(1, close - 1);
    if (!ipv6(host) && !ipv_future(host)) return false;
    const std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return false;
      port = rest.substr(1);
    }
  } else {
    if (const auto colon = s.rfind(':'); colon != std::string_view::npos) {
      host = s.substr(0, colon);
      port = s.substr(colon + 1);
    }
    if (!component(host, "", iri)) return false;  // reg-name (IPv4 is a subset)
  }
  for (char c : port) {
    if (!digit(c)) return false;
  }
  return true;
}

// URI-reference / IRI-reference; `absolute` requires a scheme.
bool reference(std::string_view s, bool absolute, bool iri) {
  if (const auto hash = s.find('#'); hash != std::string_view::npos) {
    if (!component(s.substr(hash + 1), ":@/?", iri)) return false;
    s = s.substr(0, hash);
  }
  if (const auto q = s.find('?'); q != std::string_view::npos) {
    if (!component(s.substr(q + 1), ":@/?", iri)) return false;
    s = s.substr(0, q);
  }
  bool has_scheme = false;
  if (const auto colon = s.find(':'); colon != std::string_view::npos) {
    const auto slash = s.find('/');
    if (slash == std::string_view::npos || colon < slash) {
      // A colon before any '/': a scheme, or (relative refs) an error.
      if (colon == 0 || !alpha(s[0])) return false;
      for (std::size_t i = 1; i < colon; ++i) {
        if (!alpha(s[i]) && !digit(s[i]) && s[i] != '+' && s[i] != '-' && s[i] != '.') return false;
      }
      has_scheme = true;
      s.remove_prefix(colon + 1);
    }
  }
  if (absolute && !has_scheme) return false;
  if (s.substr(0, 2) == "//") {
    s.remove_prefix(2);
    const auto slash = s.find('/');
    if (!authority(s.substr(0, slash), iri)) return false;
    s = slash == std::string_view::npos ? std::string_view() : s.substr(slash);
  }
  return component(s, ":@/", iri);
}

bool varname(std::string_view s) {
  // varchar *( ["."] varchar ), varchar = ALPHA / DIGIT / "_" / pct-encoded
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size() || !hexdig(s[i + 1]) || !hexdig(s[i + 2])) return false;
      i += 3;
    } else if (c == '.') {
      if (s[i + 1] == '.') return false;
      ++i;
    } else if (alpha(c) || digit(c) || c == '_') {
      ++i;
    } else {
      return false;
    }
  }
  return true;
}

bool varspec(std::string_view s) {
  if (!s.empty() && s.back() == '*') return varname(s.substr(0, s.size() - 1));
  if (const auto colon = s.find(':'); colon != std::string_view::npos) {
    const std::string_view len = s.substr(colon + 1);
    if (len.empty() || len.size() > 4 || len[0] == '0') return false;
    for (char c : len) {
      if (!digit(c)) return false;
    }
    return varname(s.substr(0, colon));
  }
  return varname(s);
}

bool expression(std::string_view s) {
  if (!s.empty() && std::string_view("+#./;?&=,!@|").find(s[0]) != std::string_view::npos) {
    s.remove_prefix(1);
  }
  if (s.empty()) return false;
  while (true) {
    const auto comma = s.find(',');
    if (!varspec(s.substr(0, comma))) return false;
    if (comma == std::string_view::npos) return true;
    s.remove_prefix(comma + 1);
  }
}

}  // namespace

bool uri(std::string_view s) {
  return reference(s, true, false);
}
bool uri_reference(std::string_view s) {
  return reference(s, false, false);
}
bool iri(std::string_view s) {
  return reference(s, true, true);
}
bool iri_reference(std::string_view s) {
  return reference(s, false, true);
}

bool uri_template(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '{') {
      const auto close = s.find('}', i);
      if (close == std::string_view::npos || !expression(s.substr(i + 1, close - i - 1)))
        return false;
      i = close + 1;
    } else if (c == '%') {
      if (i + 2 >= s.size() || !hexdig(s[i + 1]) || !hexdig(s[i + 2])) return false;
      i += 3;
    } else if (c >= 0x80) {
      const char32_t cp = utf8::decode(s, i);
      if (cp == utf8::kReplacement || !ucschar(cp)) return false;
    } else if (c <= 0x20 || c == 0x7F ||
               std::string_view("\"<>\\^`{|}").find(static_cast<char>(c)) !=
                   std::string_view::npos) {
      return false;
    } else {
      ++i;
    }
  }
  return true;
}

}  // namespace mlxs::schema::formats
