#pragma once
// The HTTP server: an acceptor and a few I/O threads over one io_context.
// Each connection is an HttpSession on its own strand, so thousands of open
// streams cost memory, not threads. Written against control::Gateway only.

#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "control/gateway.h"
#include "core/status.h"
#include "server/options.h"

namespace mlxs::server {

class HttpServer {
 public:
  HttpServer(ServerOptions options, control::Gateway& gateway);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts the I/O threads; IoError when the address is taken.
  core::Status start();
  // The bound port (the chosen one when options.port was 0).
  std::uint16_t port() const;
  // Stops accepting, closes connections, joins the threads. Idempotent.
  void stop();
  // Blocks until stop() (from another thread or a signal handler's thread).
  void wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlxs::server
