#include "schema/uri.h"

#include <cctype>

namespace mlxs::schema {
namespace {

// RFC 3986 §5.2.4.
std::string remove_dot_segments(std::string_view input) {
  std::string out;
  while (!input.empty()) {
    if (input.substr(0, 3) == "../") {
      input.remove_prefix(3);
    } else if (input.substr(0, 2) == "./") {
      input.remove_prefix(2);
    } else if (input.substr(0, 3) == "/./") {
      input.remove_prefix(2);
    } else if (input == "/.") {
      input = "/";
    } else if (input.substr(0, 4) == "/../" || input == "/..") {
      input = input.size() == 3 ? std::string_view("/") : input.substr(3);
      const auto slash = out.rfind('/');
      out.erase(slash == std::string::npos ? 0 : slash);
    } else if (input == "." || input == "..") {
      input = {};
    } else {
      const std::size_t start = input[0] == '/' ? 1 : 0;
      const std::size_t end = input.find('/', start);
      const std::size_t len = end == std::string_view::npos ? input.size() : end;
      out.append(input.substr(0, len));
      input.remove_prefix(len);
    }
  }
  return out;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

UriParts split_uri(std::string_view text) {
  UriParts parts;
  if (const auto hash = text.find('#'); hash != std::string_view::npos) {
    parts.fragment = std::string(text.substr(hash + 1));
    text = text.substr(0, hash);
  }
  if (const auto q = text.find('?'); q != std::string_view::npos) {
    parts.query = std::string(text.substr(q + 1));
    text = text.substr(0, q);
  }
  // A scheme is ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) before the first ':'.
  if (const auto colon = text.find(':'); colon != std::string_view::npos && colon > 0) {
    bool scheme = std::isalpha(static_cast<unsigned char>(text[0])) != 0;
    for (std::size_t i = 1; i < colon && scheme; ++i) {
      const char c = text[i];
      scheme = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '-' || c == '.';
    }
    if (scheme) {
      parts.scheme = std::string(text.substr(0, colon));
      text.remove_prefix(colon + 1);
    }
  }
  if (text.substr(0, 2) == "//") {
    text.remove_prefix(2);
    const auto slash = text.find('/');
    parts.authority = std::string(text.substr(0, slash));
    text = slash == std::string_view::npos ? std::string_view() : text.substr(slash);
  }
  parts.path = std::string(text);
  return parts;
}

std::string join_uri(const UriParts& parts) {
  std::string out;
  if (!parts.scheme.empty()) out += parts.scheme + ":";
  if (parts.authority) out += "//" + *parts.authority;
  out += parts.path;
  if (parts.query) out += "?" + *parts.query;
  if (parts.fragment) out += "#" + *parts.fragment;
  return out;
}

bool is_absolute_uri(std::string_view text) {
  return !split_uri(text).scheme.empty();
}

std::string resolve_uri(std::string_view base_text, std::string_view reference) {
  const UriParts ref = split_uri(reference);
  if (!ref.scheme.empty()) {
    UriParts target = ref;
    target.path = remove_dot_segments(ref.path);
    return join_uri(target);
  }
  const UriParts base = split_uri(base_text);
  UriParts target;
  target.scheme = base.scheme;
  target.fragment = ref.fragment;
  if (ref.authority) {
    target.authority = ref.authority;
    target.path = remove_dot_segments(ref.path);
    target.query = ref.query;
    return join_uri(target);
  }
  target.authority = base.authority;
  if (ref.path.empty()) {
    target.path = base.path;
    target.query = ref.query ? ref.query : base.query;
    return join_uri(target);
  }
  target.query = ref.query;
  if (ref.path[0] == '/') {
    target.path = remove_dot_segments(ref.path);
  } else {
    // §5.2.3 merge.
    std::string merged;
    if (base.authority && base.path.empty()) {
      merged = "/" + ref.path;
    } else {
      const auto slash = base.path.rfind('/');
      merged =
          (slash == std::string::npos ? std::string() : base.path.substr(0, slash + 1)) + ref.path;
    }
    target.path = remove_dot_segments(merged);
  }
  return join_uri(target);
}

std::pair<std::string, std::string> split_fragment(std::string_view uri) {
  const auto hash = uri.find('#');
  if (hash == std::string_view::npos) return {std::string(uri), std::string()};
  return {std::string(uri.substr(0, hash)), std::string(uri.substr(hash + 1))};
}

std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::optional<std::vector<std::string>> parse_json_pointer(std::string_view pointer) {
  std::vector<std::string> tokens;
  if (pointer.empty()) return tokens;
  if (pointer[0] != '/') return std::nullopt;
  std::string token;
  for (std::size_t i = 1; i <= pointer.size(); ++i) {
    if (i == pointer.size() || pointer[i] == '/') {
      tokens.push_back(std::move(token));
      token.clear();
    } else if (pointer[i] == '~') {
      if (i + 1 >= pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1')) {
        return std::nullopt;
      }
      token.push_back(pointer[i + 1] == '0' ? '~' : '/');
      ++i;
    } else {
      token.push_back(pointer[i]);
    }
  }
  return tokens;
}

std::string escape_pointer_token(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void append_pointer_token(std::string& pointer, std::string_view token) {
  pointer.push_back('/');
  pointer += escape_pointer_token(token);
}

}  // namespace mlxs::schema
