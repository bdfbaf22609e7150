#pragma once
// An HTTP(S) server on 127.0.0.1 for the image-URL tests, answering fixed
// routes the way real and hostile servers do: an image, redirects (same
// origin, absolute, to another host, in a loop, to http from https), 404,
// an oversized answer declared or chunked, a truncated body, oversized
// headers and one that never answers. The TLS variant presents a
// certificate for "localhost" made at start by its own throwaway CA file.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace mlxs::testing {

class ImageHttpServer {
 public:
  // `image` is what /image.png answers; `large` the size /large declares and
  // /chunked sends.
  ImageHttpServer(bool tls, std::vector<std::uint8_t> image, std::size_t large);
  ~ImageHttpServer();
  ImageHttpServer(const ImageHttpServer&) = delete;
  ImageHttpServer& operator=(const ImageHttpServer&) = delete;

  int port() const { return port_; }
  // "http(s)://<host>:<port><path>".
  std::string url(const std::string& path, const std::string& host = "localhost") const;
  // PEM file of the certificate (TLS only): the client's extra trust.
  const std::string& ca_file() const { return ca_file_; }
  int requests() const { return requests_.load(); }

 private:
  void accept_loop();
  void serve(boost::asio::ip::tcp::socket socket);
  std::string answer(const std::string& target) const;

  bool tls_;
  std::vector<std::uint8_t> image_;
  std::size_t large_;
  std::string cert_pem_, key_pem_, ca_file_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread acceptor_thread_;
  std::vector<std::thread> connections_;
};

}  // namespace mlxs::testing
