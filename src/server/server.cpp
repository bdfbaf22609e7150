#include "server/server.h"

#include <condition_variable>
#include <mutex>
#include <random>

#include <fmt/format.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "core/log.h"
#include "server/http_session.h"

namespace mlxs::server {

std::string ServerContext::new_id(std::string_view prefix) {
  // A per-process random base plus a counter: unique and unguessable enough
  // for ids that only correlate logs.
  static const std::uint64_t base = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }();
  const std::uint64_t n = counter_.fetch_add(1);
  return fmt::format("{}{:016x}{:08x}", prefix, base, static_cast<std::uint32_t>(n));
}

struct HttpServer::Impl {
  Impl(ServerOptions options, control::Gateway& gateway, const HttpSchemas& schemas)
      : ctx(std::move(options), gateway, schemas), acceptor(net::make_strand(ioc)) {}

  void accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) {
        if (ctx.connections.load() >= ctx.options.max_connections) {
          beast::error_code ignored;
          socket.close(ignored);
        } else {
          beast::error_code ignored;
          socket.set_option(tcp::no_delay(true), ignored);
          std::make_shared<HttpSession>(std::move(socket), ctx)->run();
        }
      }
      accept();
    });
  }

  // Sessions still queued in the io_context use ctx when they are destroyed
  // with it: ctx outlives ioc.
  ServerContext ctx;
  net::io_context ioc;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  std::mutex mutex;
  std::condition_variable cv;
  bool stopped = false;
  std::uint16_t port = 0;
};

HttpServer::HttpServer(ServerOptions options, control::Gateway& gateway) {
  auto schemas = HttpSchemas::embedded();
  // A shipped document that does not compile is a build defect: fail loudly.
  if (!schemas.is_ok()) throw std::runtime_error(schemas.status().to_string());
  impl_ = std::make_unique<Impl>(std::move(options), gateway, **schemas);
}

HttpServer::~HttpServer() {
  stop();
}

core::Status HttpServer::start() {
  const ServerOptions& o = impl_->ctx.options;
  beast::error_code ec;
  const auto address = net::ip::make_address(o.host, ec);
  if (ec) return core::make_error(core::ErrorCode::kConfigError, "bad host address '{}'", o.host);
  const tcp::endpoint endpoint(address, o.port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return core::make_error(core::ErrorCode::kIoError, "cannot listen on {}:{}: {}", o.host, o.port,
                            ec.message());
  }
  impl_->port = acceptor.local_endpoint().port();
  impl_->accept();
  const int threads = std::max(1, o.threads);
  for (int i = 0; i < threads; ++i) {
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
  }
  core::log_info("http_listening", {{"host", o.host}, {"port", impl_->port}});
  return {};
}

std::uint16_t HttpServer::port() const {
  return impl_->port;
}

void HttpServer::stop() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopped) return;
    impl_->stopped = true;
  }
  net::post(impl_->acceptor.get_executor(), [this] {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
  });
  impl_->ioc.stop();
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
  impl_->cv.notify_all();
}

void HttpServer::wait() {
  std::unique_lock lock(impl_->mutex);
  impl_->cv.wait(lock, [this] { return impl_->stopped; });
}

}  // namespace mlxs::server
