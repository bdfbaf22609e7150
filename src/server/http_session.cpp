#include "server/http_session.h"

#include <chrono>
#include <sstream>

#include <fmt/format.h>

#include "core/log.h"
#include "server/openai_response.h"
#include "server/routes.h"

namespace mlxs::server {

namespace {

std::chrono::milliseconds ms(int v) {
  return std::chrono::milliseconds(v);
}

// A client's X-Request-Id is echoed when it is short and plain; otherwise ours.
bool plain_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

HttpSession::HttpSession(tcp::socket socket, ServerContext& ctx)
    : ctx_(ctx), stream_(std::move(socket)) {
  ctx_.connections.fetch_add(1);
  ctx_.metrics.connections(1);
}

HttpSession::~HttpSession() {
  ctx_.connections.fetch_sub(1);
  ctx_.metrics.connections(-1);
}

void HttpSession::run() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
}

void HttpSession::do_read() {
  if (gone_) return;
  exchange_ = Exchange{};
  answered_ = false;
  sse_ = false;
  watch_.reset();
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(ctx_.options.max_header_bytes));
  parser_->body_limit(ctx_.options.max_body_bytes);
  stream_.expires_after(ms(ctx_.options.header_timeout_ms));
  http::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
}

void HttpSession::on_header(beast::error_code ec) {
  if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
      ec == net::error::operation_aborted || ec == net::error::connection_reset) {
    close();  // gone, idle past the deadline, or too slow to send a header
    return;
  }
  exchange_.received_ns = ctx_.clock.now_ns();
  if (ec == http::error::body_limit) {  // a declared Content-Length over the limit
    refuse(413, kPayloadTooLarge,
           fmt::format("request body larger than {} bytes", ctx_.options.max_body_bytes));
    return;
  }
  if (ec == http::error::header_limit) {
    refuse(431, "InvalidRequest", "request header too large");
    return;
  }
  if (ec) {
    refuse(400, "InvalidRequest", "malformed HTTP request");
    return;
  }
  const auto& header = parser_->get();
  exchange_.version = header.version();
  const std::string_view id = to_std(header["X-Request-Id"]);
  exchange_.request_id = plain_id(id) ? std::string(id) : ctx_.new_id("req-");
  if (const auto length = parser_->content_length();
      length && *length > ctx_.options.max_body_bytes) {
    refuse(413, kPayloadTooLarge,
           fmt::format("request body larger than {} bytes", ctx_.options.max_body_bytes));
    return;
  }
  if (beast::iequals(header[http::field::expect], "100-continue")) {
    auto text = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
    net::async_write(stream_, net::buffer(*text),
                     [self = shared_from_this(), text](beast::error_code wec, std::size_t) {
                       if (wec) return self->close();
                       self->read_body();
                     });
    return;
  }
  read_body();
}

void HttpSession::read_body() {
  stream_.expires_after(ms(ctx_.options.body_timeout_ms));
  http::async_read(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_body(ec); });
}

void HttpSession::on_body(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    refuse(413, kPayloadTooLarge,
           fmt::format("request body larger than {} bytes", ctx_.options.max_body_bytes));
    return;
  }
  if (ec == beast::error::timeout) {
    refuse(408, kRequestTimeout, "the request body did not arrive in time");
    return;
  }
  if (ec == http::error::partial_message || ec == http::error::end_of_stream) {
    refuse(400, "InvalidRequest", "truncated request: the connection ended inside the body");
    return;
  }
  if (ec) {
    refuse(400, "InvalidRequest", "malformed HTTP request");
    return;
  }
  stream_.expires_never();
  Request request = parser_->release();
  exchange_.keep_alive = request.keep_alive();
  route_request(shared_from_this(), ctx_, std::move(request));
}

void HttpSession::refuse(int status, std::string_view code, std::string message) {
  if (exchange_.request_id.empty()) exchange_.request_id = ctx_.new_id("req-");
  if (exchange_.received_ns == 0) exchange_.received_ns = ctx_.clock.now_ns();
  exchange_.keep_alive = false;
  reply_error(ApiError::http(status, code, std::move(message)));
}

void HttpSession::add_header(std::string name, std::string value) {
  exchange_.headers.emplace_back(std::move(name), std::move(value));
}

template <class Header>
void HttpSession::stamp(Header& h, int status) {
  h.result(static_cast<unsigned>(status));
  h.version(exchange_.version);
  h.set(http::field::server, "mlx-serving");
  h.set("X-Request-Id", exchange_.request_id);
  for (const auto& [name, value] : exchange_.headers) h.set(name, value);
  exchange_.status = status;
}

void HttpSession::reply_text(int status, std::string body, std::string content_type) {
  if (answered_ || gone_) return;
  http::response<http::string_body> res;
  stamp(res, status);
  res.set(http::field::content_type, content_type);
  res.keep_alive(exchange_.keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  if (!exchange_.keep_alive) closing_ = true;
  std::ostringstream os;
  os << res;
  answered_ = true;
  enqueue(std::move(os).str());
}

void HttpSession::reply_json(int status, const core::Json& body) {
  reply_text(status, dump_json(body), "application/json");
}

void HttpSession::reply_error(const ApiError& error) {
  exchange_.code = error.code;
  if (error.retryable()) add_header("Retry-After", std::to_string(ctx_.options.retry_after_s));
  if (error.status == 401) add_header("WWW-Authenticate", "Bearer");
  reply_json(error.status, error.to_json());
}

void HttpSession::watch_client(std::shared_ptr<ClientWatch> watch) {
  watch_ = std::move(watch);
  if (!watching_ && !gone_) start_watch();
}

void HttpSession::start_watch() {
  watching_ = true;
  stream_.async_read_some(
      net::buffer(scratch_),
      [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_watch(ec, n); });
}

void HttpSession::on_watch(beast::error_code ec, std::size_t n) {
  watching_ = false;
  if (!ec) {
    // A pipelined next request: keep it for the next read.
    if (buffer_.size() + n > ctx_.options.max_header_bytes + ctx_.options.max_body_bytes) {
      lose_client();
      return;
    }
    buffer_.commit(net::buffer_copy(buffer_.prepare(n), net::buffer(scratch_.data(), n)));
  } else if (!(ec == net::error::operation_aborted && read_after_watch_)) {
    lose_client();
    return;
  }
  if (read_after_watch_) {
    read_after_watch_ = false;
    do_read();
  } else if (!answered_ || writing_now_) {
    start_watch();
  }
}

void HttpSession::sse_begin() {
  if (answered_ || gone_) return;
  http::response<http::empty_body> res;
  stamp(res, 200);
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache");
  res.keep_alive(exchange_.keep_alive);
  res.chunked(true);
  std::ostringstream os;
  os << res.base();
  sse_ = true;
  enqueue(std::move(os).str());
}

void HttpSession::sse_event(std::string_view data) {
  if (!sse_ || answered_ || gone_) return;
  const std::size_t size = data.size() + 8;  // "data: " + "\n\n"
  std::string chunk = fmt::format("{:x}\r\ndata: ", size);
  chunk.append(data);
  chunk += "\n\n\r\n";
  enqueue(std::move(chunk));
  if (pending_.size() > ctx_.options.max_pending_bytes) {
    core::log_warn("http_client_too_slow", {{"request_id", exchange_.request_id}});
    lose_client();
  }
}

void HttpSession::sse_error(const ApiError& error) {
  exchange_.code = error.code;
  sse_event(dump_json(error.to_json()));
}

void HttpSession::sse_end() {
  if (!sse_ || answered_ || gone_) return;
  if (!exchange_.keep_alive) closing_ = true;
  answered_ = true;
  enqueue("0\r\n\r\n");
}

void HttpSession::enqueue(std::string bytes) {
  if (gone_) return;
  pending_ += bytes;
  if (!writing_now_) start_write();
}

void HttpSession::start_write() {
  writing_.clear();
  writing_.swap(pending_);
  writing_now_ = true;
  stream_.expires_after(ms(ctx_.options.write_timeout_ms));
  net::async_write(
      stream_, net::buffer(writing_),
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
}

void HttpSession::on_write(beast::error_code ec) {
  writing_now_ = false;
  if (ec) {
    lose_client();
    return;
  }
  if (!pending_.empty() && !gone_) {
    start_write();
    return;
  }
  stream_.expires_never();
  if (answered_) finish_exchange();
}

void HttpSession::finish_exchange() {
  record_exchange();
  if (closing_) {
    close();
    return;
  }
  if (watching_) {
    // The watcher's read must end before the next request's read starts.
    read_after_watch_ = true;
    beast::error_code ignored;
    stream_.socket().cancel(ignored);
    return;
  }
  do_read();
}

void HttpSession::record_exchange() {
  if (exchange_.recorded || exchange_.received_ns == 0) return;
  exchange_.recorded = true;
  const std::string code = exchange_.code.empty() ? std::string("ok") : exchange_.code;
  ctx_.metrics.request_done(exchange_.route, exchange_.status, code, exchange_.model);
  const double seconds = exchange_.received_ns == 0
                             ? 0.0
                             : core::seconds_between(exchange_.received_ns, ctx_.clock.now_ns());
  if (exchange_.received_ns != 0 && exchange_.status == 200 && !exchange_.model.empty()) {
    ctx_.metrics.observe(Latency::kEndToEnd, exchange_.model, seconds);
  }
  // The access log: one line per answered request, with its id.
  if (core::log_enabled(core::LogLevel::kInfo, "http_request")) {
    core::log_info("http_request", {{"request_id", exchange_.request_id},
                                    {"route", exchange_.route},
                                    {"status", exchange_.status},
                                    {"code", code},
                                    {"model", exchange_.model},
                                    {"seconds", seconds}});
  }
}

void HttpSession::lose_client() {
  if (gone_) return;
  gone_ = true;
  if (!answered_ || !pending_.empty()) {
    // The client left before its answer was complete: counted and logged
    // as cancelled (499, nginx's "client closed request"), never lost.
    if (exchange_.status == 0) exchange_.status = 499;
    exchange_.code = std::string(core::error_code_name(core::ErrorCode::kCancelled));
  }
  record_exchange();
  if (watch_) {
    auto watch = std::move(watch_);
    watch->client_gone();
  }
  close();
}

void HttpSession::close() {
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.socket().close(ignored);
}

}  // namespace mlxs::server
