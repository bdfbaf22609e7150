#pragma once
// Checks for the "format" keyword's known names (RFC 3339 dates and times,
// e-mail, hostnames, IP addresses, URIs, UUIDs, JSON pointers, ECMAScript
// regexes, …). They run only when format assertion is on.

#include <string_view>

#include "schema/node.h"

namespace mlxs::schema {

// The checker of a format name; nullptr for formats we do not know (which
// always pass, as the specification requires).
FormatChecker find_format_checker(std::string_view name);

// contentEncoding / contentMediaType as assertions (draft 7 optional):
// known encodings are "base64"; known media types "application/json".
bool check_content(std::string_view text, std::string_view encoding, std::string_view media_type);

}  // namespace mlxs::schema
