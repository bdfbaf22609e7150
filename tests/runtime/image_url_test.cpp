// Images from http(s) URLs: off until hosts are allowed, only those hosts
// (redirects included), bounded in size and time, TLS verified against the
// system's store or a configured CA file; every refusal an InvalidParams
// that names what the client sent.
#include "runtime/image_url.h"

#include <gtest/gtest.h>

#include "runtime/image_http_server.h"

namespace mlxs::runtime {
namespace {

using core::ErrorCode;
using testing::ImageHttpServer;

const std::vector<std::uint8_t> kImage = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 1, 2, 3};
constexpr std::size_t kLimit = 64 * 1024;

ImageUrlPolicy policy(std::vector<std::string> hosts) {
  ImageUrlPolicy p;
  p.allow_hosts = std::move(hosts);
  p.max_bytes = kLimit;
  p.timeout_ms = 3000;
  return p;
}

// The refusal's message, after checking that it is one.
std::string refusal(const core::Result<std::vector<std::uint8_t>>& r) {
  EXPECT_FALSE(r.is_ok());
  if (r.is_ok()) return {};
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidParams) << r.status().to_string();
  return r.status().message();
}

TEST(ImageUrl, ParsesWhatBrowsersSendAndRefusesTheRest) {
  auto u = parse_image_url("HTTPS://Images.Example.COM:8443/a/b.png?x=1#frag");
  ASSERT_TRUE(u.is_ok()) << u.status().to_string();
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "images.example.com");
  EXPECT_EQ(u->port, "8443");
  EXPECT_EQ(u->target, "/a/b.png?x=1");
  u = parse_image_url("http://cdn.example.com?q");
  ASSERT_TRUE(u.is_ok());
  EXPECT_EQ(u->port, "80");
  EXPECT_EQ(u->target, "/?q");
  for (const char* bad :
       {"ftp://example.com/x.png", "http://user:pw@example.com/x.png", "http://[::1]/x.png",
        "http://example.com:0/x", "http://example.com:99999/x", "http://exa mple.com/x",
        "http://example.com/a b.png", "http://example.com/\x01", "http://ex..ample.com/",
        "http://.example.com/", "http://example.com:/x", "http:///x.png",
        "http://ex\xc3\xa9.com/"}) {
    const auto r = parse_image_url(bad);
    EXPECT_FALSE(r.is_ok()) << bad;
    if (!r.is_ok()) {
      EXPECT_EQ(r.status().code(), ErrorCode::kInvalidParams);
    }
  }
  EXPECT_FALSE(parse_image_url("http://example.com/" + std::string(9000, 'a')).is_ok());
}

TEST(ImageUrl, AllowListMatchesHostsAndSubdomainPatterns) {
  const std::vector<std::string> allow = {"cdn.example.com", "*.images.example.org"};
  EXPECT_TRUE(host_allowed("cdn.example.com", allow));
  EXPECT_TRUE(host_allowed("CDN.Example.com", allow));
  EXPECT_TRUE(host_allowed("a.images.example.org", allow));
  EXPECT_TRUE(host_allowed("a.b.images.example.org", allow));
  EXPECT_FALSE(host_allowed("images.example.org", allow)) << "the pattern names subdomains";
  EXPECT_FALSE(host_allowed("evilimages.example.org", allow));
  EXPECT_FALSE(host_allowed("cdn.example.com.evil.net", allow));
  EXPECT_FALSE(host_allowed("example.com", allow));
  EXPECT_FALSE(host_allowed("anything", {}));
  EXPECT_TRUE(valid_allow_entry("cdn.example.com"));
  EXPECT_TRUE(valid_allow_entry("*.example.com"));
  for (const char* bad : {"*", "*.", "http://a.com", "a.com:80", "a.com/x", "", "*.*.a.com"}) {
    EXPECT_FALSE(valid_allow_entry(bad)) << bad;
  }
}

TEST(ImageUrl, OffUntilHostsAreAllowedAndOnlyThoseHosts) {
  ImageHttpServer server(false, kImage, kLimit + 1);
  EXPECT_NE(refusal(fetch_image_url(server.url("/image.png"), policy({}))).find("not enabled"),
            std::string::npos);
  EXPECT_NE(refusal(fetch_image_url(server.url("/image.png"), policy({"cdn.example.com"})))
                .find("host localhost is not in"),
            std::string::npos);
  EXPECT_EQ(server.requests(), 0) << "refused before any connection";
  const auto r = fetch_image_url(server.url("/image.png"), policy({"localhost"}));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(*r, kImage);
  // The IPv4 literal is a host of its own.
  EXPECT_FALSE(
      fetch_image_url(server.url("/image.png", "127.0.0.1"), policy({"localhost"})).is_ok());
  EXPECT_TRUE(
      fetch_image_url(server.url("/image.png", "127.0.0.1"), policy({"127.0.0.1"})).is_ok());
}

TEST(ImageUrl, RedirectsStayOnAllowedHostsAndEnd) {
  ImageHttpServer server(false, kImage, kLimit + 1);
  const ImageUrlPolicy p = policy({"localhost"});
  for (const char* path : {"/redirect", "/redirect-absolute"}) {
    const auto r = fetch_image_url(server.url(path), p);
    ASSERT_TRUE(r.is_ok()) << path << ": " << r.status().to_string();
    EXPECT_EQ(*r, kImage);
  }
  EXPECT_NE(refusal(fetch_image_url(server.url("/redirect-other-host"), p))
                .find("redirected to host elsewhere.test"),
            std::string::npos);
  EXPECT_NE(refusal(fetch_image_url(server.url("/redirect-loop"), p)).find("more than 3 redirects"),
            std::string::npos);
  EXPECT_NE(refusal(fetch_image_url(server.url("/redirect-no-location"), p)).find("Location"),
            std::string::npos);
}

TEST(ImageUrl, StatusSizeTruncationHeadersAndTimeAreBounded) {
  ImageHttpServer server(false, kImage, kLimit + 1);
  ImageUrlPolicy p = policy({"localhost"});
  EXPECT_NE(refusal(fetch_image_url(server.url("/missing"), p)).find("HTTP 404"),
            std::string::npos);
  EXPECT_NE(refusal(fetch_image_url(server.url("/large"), p)).find("larger than 65536 bytes"),
            std::string::npos);
  EXPECT_NE(refusal(fetch_image_url(server.url("/chunked"), p)).find("larger than 65536 bytes"),
            std::string::npos);
  EXPECT_NE(refusal(fetch_image_url(server.url("/truncated"), p)).find("reading from localhost"),
            std::string::npos);
  EXPECT_NE(refusal(fetch_image_url(server.url("/huge-headers"), p)).find("oversized headers"),
            std::string::npos);
  p.timeout_ms = 300;
  EXPECT_NE(refusal(fetch_image_url(server.url("/hang"), p)).find("within 300 ms"),
            std::string::npos);
  // Nobody listening: a connection error, not a hang.
  ImageUrlPolicy closed = policy({"localhost"});
  EXPECT_NE(refusal(fetch_image_url("http://localhost:1/x.png", closed)).find("connect"),
            std::string::npos);
}

TEST(ImageUrl, HttpsVerifiesTheCertificateAndNeverFallsBackToHttp) {
  ImageHttpServer server(true, kImage, kLimit + 1);
  ImageUrlPolicy p = policy({"localhost", "127.0.0.1"});
  // Not in the system's store.
  EXPECT_NE(refusal(fetch_image_url(server.url("/image.png"), p)).find("TLS with localhost"),
            std::string::npos);
  p.ca_file = server.ca_file();
  const auto r = fetch_image_url(server.url("/image.png"), p);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(*r, kImage);
  const auto redirected = fetch_image_url(server.url("/redirect"), p);
  ASSERT_TRUE(redirected.is_ok()) << redirected.status().to_string();
  // The certificate names localhost, not the address.
  EXPECT_NE(refusal(fetch_image_url(server.url("/image.png", "127.0.0.1"), p)).find("TLS"),
            std::string::npos);
  EXPECT_NE(refusal(fetch_image_url(server.url("/redirect-to-http"), p))
                .find("https URL redirected to http"),
            std::string::npos);
  p.ca_file = "/nonexistent/ca.pem";
  EXPECT_NE(refusal(fetch_image_url(server.url("/image.png"), p)).find("CA file"),
            std::string::npos);
}

TEST(ImageUrl, SourcesGoToTheFetcherOnlyWhenTheyAreUrls) {
  ImageSources s;
  EXPECT_NE(refusal(load_image_source("https://example.com/x.png", s)).find("not enabled"),
            std::string::npos);
  EXPECT_EQ(refusal(load_image_source("file:///etc/passwd", s)).find("/etc"), std::string::npos);
  EXPECT_TRUE(is_image_url("HTTP://x"));
  EXPECT_FALSE(is_image_url("data:image/png;base64,AAAA"));
}

}  // namespace
}  // namespace mlxs::runtime
