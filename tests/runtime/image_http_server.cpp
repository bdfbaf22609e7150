#include "runtime/image_http_server.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <fstream>

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "testing/fixtures.h"

namespace mlxs::testing {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

std::string pem_of(int (*write)(BIO*, void*), void* object) {
  BIO* bio = BIO_new(BIO_s_mem());
  write(bio, object);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  return out;
}

// A self-signed certificate for DNS name "localhost" (P-256, one hour).
void make_certificate(std::string& cert_pem, std::string& key_pem) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  for (const auto& [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost"},
                                   std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(cert, key, EVP_sha256());
  cert_pem =
      pem_of([](BIO* b, void* x) { return PEM_write_bio_X509(b, static_cast<X509*>(x)); }, cert);
  key_pem = pem_of(
      [](BIO* b, void* k) {
        return PEM_write_bio_PrivateKey(b, static_cast<EVP_PKEY*>(k), nullptr, nullptr, 0, nullptr,
                                        nullptr);
      },
      key);
  X509_free(cert);
  EVP_PKEY_free(key);
}

std::string head(const std::string& status, const std::string& headers) {
  return "HTTP/1.1 " + status + "\r\n" + headers + "Connection: close\r\n\r\n";
}

}  // namespace

ImageHttpServer::ImageHttpServer(bool tls, std::vector<std::uint8_t> image, std::size_t large)
    : tls_(tls), image_(std::move(image)), large_(large), acceptor_(ioc_) {
  const tcp::endpoint at(net::ip::make_address("127.0.0.1"), 0);
  acceptor_.open(at.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(at);
  acceptor_.listen();
  port_ = acceptor_.local_endpoint().port();
  if (tls_) {
    make_certificate(cert_pem_, key_pem_);
    ca_file_ = temp_dir() + "/image-server-" + std::to_string(port_) + ".pem";
    std::ofstream(ca_file_) << cert_pem_;
  }
  acceptor_thread_ = std::thread([this] { accept_loop(); });
}

ImageHttpServer::~ImageHttpServer() {
  stop_ = true;
  // Wakes the blocking accept.
  try {
    net::io_context wake;
    tcp::socket s(wake);
    s.connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)));
  } catch (const std::exception&) {
  }
  acceptor_thread_.join();
  for (std::thread& t : connections_) t.join();
}

std::string ImageHttpServer::url(const std::string& path, const std::string& host) const {
  return std::string(tls_ ? "https://" : "http://") + host + ":" + std::to_string(port_) + path;
}

void ImageHttpServer::accept_loop() {
  while (!stop_) {
    beast::error_code ec;
    tcp::socket socket(ioc_);
    acceptor_.accept(socket, ec);
    if (ec || stop_) break;
    connections_.emplace_back([this, s = std::move(socket)]() mutable { serve(std::move(s)); });
  }
}

std::string ImageHttpServer::answer(const std::string& target) const {
  const std::string image(image_.begin(), image_.end());
  const std::string length = "Content-Length: " + std::to_string(image.size()) + "\r\n";
  const auto redirect = [](const std::string& to) {
    return head("302 Found", "Location: " + to + "\r\nContent-Length: 0\r\n");
  };
  if (target == "/image.png") return head("200 OK", "Content-Type: image/png\r\n" + length) + image;
  if (target == "/redirect") return redirect("/image.png");
  if (target == "/redirect-absolute") return redirect(url("/image.png"));
  if (target == "/redirect-other-host") return redirect(url("/image.png", "elsewhere.test"));
  if (target == "/redirect-loop") return redirect("/redirect-loop");
  if (target == "/redirect-to-http")
    return redirect("http://localhost:" + std::to_string(port_) + "/image.png");
  if (target == "/redirect-no-location") return head("302 Found", "Content-Length: 0\r\n");
  if (target == "/large")
    return head("200 OK", "Content-Length: " + std::to_string(large_) + "\r\n");
  if (target == "/chunked") {
    std::string out = head("200 OK", "Transfer-Encoding: chunked\r\n");
    const std::string chunk(4096, 'x');
    for (std::size_t sent = 0; sent < large_; sent += chunk.size())
      out += "1000\r\n" + chunk + "\r\n";
    return out + "0\r\n\r\n";
  }
  if (target == "/truncated") return head("200 OK", length) + image.substr(0, image.size() / 2);
  if (target == "/huge-headers") {
    return head("200 OK", "X-Filler: " + std::string(20000, 'a') + "\r\n" + length) + image;
  }
  return head("404 Not Found", "Content-Length: 0\r\n");
}

void ImageHttpServer::serve(tcp::socket socket) {
  const auto exchange = [this](auto& stream) {
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    beast::error_code ec;
    http::read(stream, buffer, request, ec);
    if (ec) return;
    ++requests_;
    const std::string target(request.target());
    if (target == "/hang") {
      while (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return;
    }
    net::write(stream, net::buffer(answer(target)), ec);
  };
  if (!tls_) {
    exchange(socket);
    beast::error_code ec;
    socket.shutdown(tcp::socket::shutdown_both, ec);
    return;
  }
  ssl::context ctx(ssl::context::tls_server);
  ctx.use_certificate_chain(net::buffer(cert_pem_));
  ctx.use_private_key(net::buffer(key_pem_), ssl::context::pem);
  ssl::stream<tcp::socket> stream(std::move(socket), ctx);
  beast::error_code ec;
  stream.handshake(ssl::stream_base::server, ec);
  if (ec) return;  // the client refused our certificate
  exchange(stream);
  stream.shutdown(ec);
}

}  // namespace mlxs::testing
