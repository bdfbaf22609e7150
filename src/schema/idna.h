#pragma once
// Internationalized host-name labels (IDNA2008: RFC 5890-5893) for the
// "hostname" and "idn-hostname" formats: Punycode, the PVALID / contextual
// code-point rules and the Bidi rule.

#include <string>
#include <string_view>

namespace mlxs::schema::idna {

// RFC 3492. Decoding fails on malformed input or overflow.
bool punycode_decode(std::string_view in, std::u32string& out);
bool punycode_encode(const std::u32string& in, std::string& out);

// A label with a scheme-insensitive "xn--" prefix: its Punycode decodes to a
// valid, non-ASCII U-label that encodes back to the same text.
bool valid_a_label(std::string_view label);

// One label of an internationalized host name, given as code points: an
// LDH label, an A-label, or a valid U-label; `ascii` receives its A-label
// form (for the length limits). `bidi_domain`: some label of the name has
// right-to-left characters, so every label must satisfy the Bidi rule.
bool to_ascii_label(const std::u32string& label, bool bidi_domain, std::string& ascii);

// Has an R, AL or AN character (RFC 5893's definition of an RTL label).
bool has_rtl(const std::u32string& label);

}  // namespace mlxs::schema::idna
