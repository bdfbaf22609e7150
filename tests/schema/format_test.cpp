// Format checks called directly (the suite covers them through schemas too).

#include "schema/format.h"

#include <gtest/gtest.h>

#include "schema/idna.h"

namespace mlxs::schema {
namespace {

bool check(const char* format, const std::string& value) {
  const FormatChecker f = find_format_checker(format);
  EXPECT_NE(f, nullptr) << format;
  return f != nullptr && f(value);
}

TEST(Format, KnownNames) {
  EXPECT_EQ(find_format_checker("no-such-format"), nullptr);
  for (const char* name :
       {"date", "time", "date-time", "duration", "email", "idn-email", "hostname", "idn-hostname",
        "ipv4", "ipv6", "uri", "uri-reference", "iri", "iri-reference", "uri-template", "uuid",
        "json-pointer", "relative-json-pointer", "regex"}) {
    EXPECT_NE(find_format_checker(name), nullptr) << name;
  }
}

TEST(Format, DatesAndTimes) {
  EXPECT_TRUE(check("date", "2024-02-29"));
  EXPECT_FALSE(check("date", "2023-02-29"));
  EXPECT_FALSE(check("date", "2024-2-01"));
  EXPECT_TRUE(check("time", "23:59:60Z"));
  EXPECT_TRUE(check("time", "15:59:60-08:00"));
  EXPECT_FALSE(check("time", "12:59:60Z"));
  EXPECT_FALSE(check("time", "12:00:00"));
  EXPECT_TRUE(check("date-time", "2024-05-01T10:20:30.5+02:00"));
  EXPECT_FALSE(check("date-time", "2024-05-01 10:20:30Z"));
  EXPECT_TRUE(check("duration", "P1Y2M3DT4H5M6S"));
  EXPECT_TRUE(check("duration", "P2W"));
  EXPECT_FALSE(check("duration", "P1Y2D"));
  EXPECT_FALSE(check("duration", "PT"));
}

TEST(Format, NetworkNames) {
  EXPECT_TRUE(check("ipv4", "192.168.0.1"));
  EXPECT_FALSE(check("ipv4", "192.168.0.01"));
  EXPECT_TRUE(check("ipv6", "::ffff:10.0.0.1"));
  EXPECT_TRUE(check("ipv6", "fe80::1"));
  EXPECT_FALSE(check("ipv6", "1::2::3"));
  EXPECT_TRUE(check("hostname", "api.example.com"));
  EXPECT_FALSE(check("hostname", "-bad.example.com"));
  EXPECT_TRUE(check("hostname", "xn--9n2bp8q.xn--9t4b11yi5a"));
  EXPECT_FALSE(check("hostname", "xn--X"));
  EXPECT_TRUE(
      check("idn-hostname", "\xEC\x8B\xA4\xEB\xA1\x80.\xED\x85\x8C\xEC\x8A\xA4\xED\x8A\xB8"));
  EXPECT_TRUE(check("email", "joe.bloggs@example.com"));
  EXPECT_TRUE(check("email", "\"a b\"@[IPv6:::1]"));
  EXPECT_FALSE(check("email", "a..b@example.com"));
}

TEST(Format, UrisAndPointers) {
  EXPECT_TRUE(check("uri", "https://example.com/a?b=c#d"));
  EXPECT_FALSE(check("uri", "/relative"));
  EXPECT_TRUE(check("uri-reference", "/relative"));
  EXPECT_FALSE(check("uri-reference", "/a b"));
  EXPECT_TRUE(check("iri", "http://\xC3\xA9x.com/\xCF\x80"));
  EXPECT_TRUE(check("uri-template", "/users/{id}{?q,page}"));
  EXPECT_FALSE(check("uri-template", "/users/{id"));
  EXPECT_TRUE(check("json-pointer", "/a/~0b/~1c"));
  EXPECT_FALSE(check("json-pointer", "a/b"));
  EXPECT_TRUE(check("relative-json-pointer", "1/a"));
  EXPECT_TRUE(check("uuid", "123e4567-e89b-12d3-a456-426614174000"));
  EXPECT_FALSE(check("uuid", "123e4567e89b12d3a456426614174000"));
  EXPECT_TRUE(check("regex", "^(?=a)b$"));  // valid ECMAScript even though the engine refuses it
  EXPECT_FALSE(check("regex", "(?P<x>a)"));
}

TEST(Format, Content) {
  EXPECT_TRUE(check_content("eyJhIjogMX0=", "base64", "application/json"));
  EXPECT_FALSE(check_content("eyJhIjogMX0", "base64", ""));  // missing padding
  EXPECT_FALSE(check_content("{", "", "application/json"));
  EXPECT_TRUE(check_content("anything", "", "text/plain"));
}

TEST(Idna, PunycodeRoundTrips) {
  std::u32string decoded;
  ASSERT_TRUE(idna::punycode_decode("mnchen-3ya", decoded));
  EXPECT_EQ(decoded, U"m\u00FCnchen");
  std::string encoded;
  ASSERT_TRUE(idna::punycode_encode(decoded, encoded));
  EXPECT_EQ(encoded, "mnchen-3ya");
  EXPECT_FALSE(idna::punycode_decode("99999999999999999999", decoded));  // overflow
  EXPECT_TRUE(idna::valid_a_label("xn--mnchen-3ya"));
  EXPECT_TRUE(idna::valid_a_label("XN--MNCHEN-3YA"));
  EXPECT_FALSE(idna::valid_a_label("xn--ls8h"));  // U+1F4A9 is not PVALID
}

}  // namespace
}  // namespace mlxs::schema
