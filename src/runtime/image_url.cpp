#include "runtime/image_url.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "core/net_names.h"

namespace mlxs::runtime {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using core::ErrorCode;
using core::Status;

constexpr std::size_t kMaxUrlBytes = 8192;
constexpr std::size_t kMaxHeaderBytes = 16 * 1024;

Status bad(const std::string& what) {
  return Status(ErrorCode::kInvalidParams, "image URL: " + what);
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowered(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && lowered(s.substr(0, prefix.size())) == prefix;
}

// DNS names and IPv4 literals: labels of [a-z0-9-] joined by single dots.
bool valid_host_name(std::string_view h) {
  if (h.empty() || h.size() > 253 || h.front() == '.' || h.back() == '.') return false;
  if (h.find("..") != std::string_view::npos) return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
  });
}

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// How one request/answer exchange ended: an image, a redirect, or an error.
struct Outcome {
  Status status = Status::ok();
  std::vector<std::uint8_t> body;
  std::string location;
};

// One GET over `stream` (plain TCP or TLS over TCP), all of it before
// `deadline`. Handlers run inside io_context::run_for on this thread, so the
// locals they capture outlive them.
template <class Stream>
Outcome exchange_on(net::io_context& ioc, Stream& stream, const ImageUrl& url,
                    const ImageUrlPolicy& policy, Clock::time_point deadline) {
  constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  auto& layer = beast::get_lowest_layer(stream);
  tcp::resolver resolver(ioc);
  const bool default_port = url.port == (url.tls ? "443" : "80");
  http::request<http::empty_body> request{http::verb::get, url.target, 11};
  request.set(http::field::host, default_port ? url.host : url.host + ":" + url.port);
  request.set(http::field::user_agent, "mlx-serving");
  request.set(http::field::accept, "image/*");
  request.set(http::field::connection, "close");
  beast::flat_buffer buffer;
  http::response_parser<http::vector_body<std::uint8_t>> parser;
  parser.header_limit(kMaxHeaderBytes);
  parser.body_limit(policy.max_bytes);
  const auto remaining = [&deadline] {
    return std::max<Clock::duration>(std::chrono::milliseconds(1), deadline - Clock::now());
  };
  const std::string timed_out =
      fmt::format("no answer from {} within {} ms", url.host, policy.timeout_ms);
  Outcome out{bad(timed_out), {}, {}};
  const auto fail = [&](beast::error_code ec, std::string_view stage) {
    out.status = ec == beast::error::timeout
                     ? bad(timed_out)
                     : bad(fmt::format("{} {}: {}", stage, url.host, ec.message()));
  };
  const std::string too_large = fmt::format("the image is larger than {} bytes", policy.max_bytes);

  const auto on_body = [&](beast::error_code ec, std::size_t) {
    if (ec == http::error::body_limit) {
      out.status = bad(too_large);
    } else if (ec) {
      fail(ec, "reading from");
    } else {
      out = Outcome{Status::ok(), std::move(parser.get().body()), {}};
    }
  };
  const auto on_header = [&](beast::error_code ec, std::size_t) {
    if (ec == http::error::body_limit) {  // a Content-Length over the limit
      out.status = bad(too_large);
      return;
    }
    if (ec) {
      fail(ec, ec == http::error::header_limit ? "oversized headers from" : "reading from");
      return;
    }
    const unsigned status = parser.get().result_int();
    if (is_redirect(status)) {
      const auto location = parser.get()[http::field::location];
      out = location.empty()
                ? Outcome{bad(fmt::format("{} redirected without a Location", url.host)), {}, {}}
                : Outcome{Status::ok(), {}, std::string(location)};
      return;
    }
    if (status != 200) {
      out.status = bad(fmt::format("{} answered HTTP {}", url.host, status));
      return;
    }
    layer.expires_after(remaining());
    http::async_read(stream, buffer, parser, on_body);
  };
  const auto on_written = [&](beast::error_code ec, std::size_t) {
    if (ec) {
      fail(ec, "writing to");
      return;
    }
    layer.expires_after(remaining());
    http::async_read_header(stream, buffer, parser, on_header);
  };
  const auto send = [&] {
    layer.expires_after(remaining());
    http::async_write(stream, request, on_written);
  };
  const auto on_connect = [&](beast::error_code ec, const tcp::endpoint&) {
    if (ec) {
      fail(ec, "could not connect to");
      return;
    }
    if constexpr (kTls) {
      layer.expires_after(remaining());
      stream.async_handshake(ssl::stream_base::client, [&](beast::error_code hs) {
        if (hs) {
          fail(hs, "TLS with");
        } else {
          send();
        }
      });
    } else {
      send();
    }
  };
  resolver.async_resolve(url.host, url.port,
                         [&](beast::error_code ec, const tcp::resolver::results_type& found) {
                           if (ec) {
                             fail(ec, "could not resolve");
                             return;
                           }
                           layer.expires_after(remaining());
                           layer.async_connect(found, on_connect);
                         });
  // Bounds name resolution too, which the stream's own timer does not cover.
  ioc.run_for(remaining());
  return out;
}

// The TLS client context for a CA file ("" : the system's store alone),
// made once: loading the trust store reads hundreds of certificates, which
// no fetch should repeat. OpenSSL contexts may be shared between threads
// once configured. Null when the CA file cannot be read (not kept, so a
// fixed file is read on the next fetch).
std::shared_ptr<ssl::context> client_tls(const std::string& ca_file) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<ssl::context>> made;
  const std::lock_guard lock(mutex);
  if (auto it = made.find(ca_file); it != made.end()) return it->second;
  auto tls = std::make_shared<ssl::context>(ssl::context::tls_client);
  beast::error_code ec;
  tls->set_default_verify_paths(ec);
  if (!ca_file.empty()) {
    tls->load_verify_file(ca_file, ec);
    if (ec) return nullptr;
  }
  tls->set_verify_mode(ssl::verify_peer);
  made.emplace(ca_file, tls);
  return tls;
}

Outcome exchange(const ImageUrl& url, const ImageUrlPolicy& policy, Clock::time_point deadline) {
  // Declared first so it is destroyed last: pending handlers are discarded.
  net::io_context ioc;
  if (!url.tls) {
    beast::tcp_stream stream(ioc);
    return exchange_on(ioc, stream, url, policy, deadline);
  }
  const std::shared_ptr<ssl::context> tls = client_tls(policy.ca_file);
  if (!tls) return Outcome{bad("the configured CA file could not be read"), {}, {}};
  beast::ssl_stream<beast::tcp_stream> stream(ioc, *tls);
  // SNI, so that hosts serving several names present the right certificate.
  // (SSL_set_tlsext_host_name is a macro with a C cast.)
  if (SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(url.host.c_str())) != 1) {
    return Outcome{bad("TLS setup failed"), {}, {}};
  }
  stream.set_verify_callback(ssl::host_name_verification(url.host));
  return exchange_on(ioc, stream, url, policy, deadline);
}

// A Location header: an absolute http(s) URL or an absolute path on the
// same origin.
core::Result<ImageUrl> redirect_target(const ImageUrl& from, std::string_view location) {
  if (location.starts_with("/") && !location.starts_with("//")) {
    ImageUrl next = from;
    next.target = std::string(location);
    MLXS_ASSIGN_OR_RETURN(const ImageUrl checked,
                          parse_image_url((from.tls ? "https://" : "http://") + from.host + ":" +
                                          from.port + next.target));
    return checked;
  }
  if (!is_image_url(location)) {
    return bad(fmt::format("{} redirected to something other than an http(s) URL", from.host));
  }
  return parse_image_url(location);
}

}  // namespace

bool is_image_url(std::string_view source) {
  return istarts_with(source, "http://") || istarts_with(source, "https://");
}

core::Result<ImageUrl> parse_image_url(std::string_view url) {
  if (url.size() > kMaxUrlBytes) return bad(fmt::format("longer than {} bytes", kMaxUrlBytes));
  ImageUrl out;
  if (istarts_with(url, "https://")) {
    out.tls = true;
    url.remove_prefix(8);
  } else if (istarts_with(url, "http://")) {
    url.remove_prefix(7);
  } else {
    return bad("only http:// and https:// URLs are fetched");
  }
  if (std::any_of(url.begin(), url.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u >= 0x7f;
      })) {
    return bad("spaces, control characters and raw non-ASCII bytes must be percent-encoded");
  }
  url = url.substr(0, url.find('#'));  // fragments are never sent
  const std::size_t end = url.find_first_of("/?");
  std::string_view authority = url.substr(0, end);
  const std::string_view rest = end == std::string_view::npos ? "" : url.substr(end);
  if (authority.find('@') != std::string_view::npos) return bad("user info is not accepted");
  if (authority.find('[') != std::string_view::npos) {
    return bad("IPv6 literals are not accepted; name the host");
  }
  out.port = out.tls ? "443" : "80";
  if (const std::size_t colon = authority.find(':'); colon != std::string_view::npos) {
    out.port = std::string(authority.substr(colon + 1));
    authority = authority.substr(0, colon);
    if (!core::valid_port(out.port)) return bad("the port must be 1-65535");
  }
  if (!valid_host_name(authority)) return bad("the host is not a valid host name");
  out.host = lowered(authority);
  out.target = rest.empty() || rest.front() == '?' ? "/" + std::string(rest) : std::string(rest);
  return out;
}

bool host_allowed(std::string_view host, const std::vector<std::string>& allow_hosts) {
  const std::string h = lowered(host);
  return std::any_of(allow_hosts.begin(), allow_hosts.end(), [&h](const std::string& entry) {
    const std::string e = lowered(entry);
    if (e.starts_with("*.")) {
      const std::string_view suffix = std::string_view(e).substr(1);
      return h.size() > suffix.size() && h.ends_with(suffix);
    }
    return h == e;
  });
}

bool valid_allow_entry(std::string_view entry) {
  if (entry.starts_with("*.")) entry.remove_prefix(2);
  return valid_host_name(entry);
}

core::Result<std::vector<std::uint8_t>> fetch_image_url(std::string_view url,
                                                        const ImageUrlPolicy& policy) {
  if (policy.allow_hosts.empty()) {
    return bad("http(s) URLs are not enabled on this server; send the image as a data URI");
  }
  MLXS_ASSIGN_OR_RETURN(ImageUrl current, parse_image_url(url));
  if (!host_allowed(current.host, policy.allow_hosts)) {
    return bad(fmt::format("host {} is not in the server's allow-list", current.host));
  }
  const Clock::time_point deadline =
      Clock::now() + std::chrono::milliseconds(std::max(1, policy.timeout_ms));
  for (int hop = 0;; ++hop) {
    Outcome out = exchange(current, policy, deadline);
    if (!out.status.is_ok()) return out.status;
    if (out.location.empty()) return std::move(out.body);
    if (hop >= policy.max_redirects) {
      return bad(fmt::format("more than {} redirects", policy.max_redirects));
    }
    MLXS_ASSIGN_OR_RETURN(ImageUrl next, redirect_target(current, out.location));
    if (current.tls && !next.tls) return bad("an https URL redirected to http");
    if (!host_allowed(next.host, policy.allow_hosts)) {
      return bad(fmt::format("redirected to host {}, which is not in the allow-list", next.host));
    }
    current = std::move(next);
  }
}

core::Result<std::vector<std::uint8_t>> load_image_source(std::string_view source,
                                                          const ImageSources& sources) {
  return is_image_url(source) ? fetch_image_url(source, sources.urls)
                              : image::load_image_bytes(source, sources.files);
}

}  // namespace mlxs::runtime
