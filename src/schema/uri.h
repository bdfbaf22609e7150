#pragma once
// URI references (RFC 3986) and JSON pointers (RFC 6901): what $id, $ref and
// error paths are made of.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlxs::schema {

struct UriParts {
  std::string scheme;
  std::optional<std::string> authority;
  std::string path;
  std::optional<std::string> query;
  std::optional<std::string> fragment;
};

// The generic split of RFC 3986 appendix B; every string splits.
UriParts split_uri(std::string_view text);
std::string join_uri(const UriParts& parts);

// RFC 3986 §5.2: `reference` resolved against the absolute URI `base`.
std::string resolve_uri(std::string_view base, std::string_view reference);

// "http://x/a.json#/b" -> {"http://x/a.json", "/b"}; an empty or absent
// fragment gives "".
std::pair<std::string, std::string> split_fragment(std::string_view uri);

bool is_absolute_uri(std::string_view text);  // has a scheme
std::string percent_decode(std::string_view text);

// JSON pointers: "" is the whole document; tokens are unescaped (~1 -> /,
// ~0 -> ~). nullopt for text that is not a pointer ("a", "/~2").
std::optional<std::vector<std::string>> parse_json_pointer(std::string_view pointer);
std::string escape_pointer_token(std::string_view token);
void append_pointer_token(std::string& pointer, std::string_view token);

}  // namespace mlxs::schema
