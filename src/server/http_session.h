#pragma once
// One HTTP/1.1 connection: reads requests with a header deadline (slow-header
// clients are dropped) and a body deadline and size limit, hands each to the
// router, and writes answers: whole responses, or a server-sent-event stream
// in chunked encoding. Keep-alive; pipelined bytes are kept for the next
// request. While a generation runs the socket is watched, so a client that
// goes away cancels its streams at once. Every handler runs on the
// connection's strand; a connection costs no thread.

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "core/clock.h"
#include "core/json_util.h"
#include "server/api_error.h"
#include "server/server_context.h"

namespace mlxs::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// Boost 1.74's Beast hands out boost::string_view.
inline std::string_view to_std(beast::string_view s) {
  return {s.data(), s.size()};
}

// What a running generation needs from its connection.
class ClientWatch {
 public:
  virtual ~ClientWatch() = default;
  // The client closed the connection or stopped reading: cancel everything.
  virtual void client_gone() = 0;
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  using Request = http::request<http::string_body>;

  HttpSession(tcp::socket socket, ServerContext& ctx);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  void run();

  // The rest runs on the connection's strand (post to executor() from elsewhere).
  net::any_io_executor executor() { return stream_.get_executor(); }
  const std::string& request_id() const { return exchange_.request_id; }
  core::Nanos received_ns() const { return exchange_.received_ns; }
  // Extra header on this exchange's answer (e.g. Warning).
  void add_header(std::string name, std::string value);
  // The model label of this exchange's metrics (set once a worker took it).
  void set_model_label(std::string model) { exchange_.model = std::move(model); }
  void set_route_label(std::string route) { exchange_.route = std::move(route); }

  void reply_json(int status, const core::Json& body);
  void reply_text(int status, std::string body, std::string content_type);
  void reply_error(const ApiError& error);

  // Watches the socket while `watch` generates; client_gone() on disconnect.
  void watch_client(std::shared_ptr<ClientWatch> watch);
  void sse_begin();
  void sse_event(std::string_view data);  // one "data: ..." event
  // A failure after the stream began: an error event (the caller then ends).
  void sse_error(const ApiError& error);
  void sse_end();
  bool client_is_gone() const { return gone_; }

 private:
  struct Exchange {
    std::string request_id;
    unsigned version = 11;
    bool keep_alive = true;
    core::Nanos received_ns = 0;
    std::string route = "other";
    std::string model;
    int status = 0;
    std::string code;
    std::vector<std::pair<std::string, std::string>> headers;
    bool recorded = false;  // counted in the metrics and the access log
  };

  void do_read();
  void on_header(beast::error_code ec);
  void read_body();
  void on_body(beast::error_code ec);
  // A request we cannot read to the end: answer and close.
  void refuse(int status, std::string_view code, std::string message);
  void enqueue(std::string bytes);
  void start_write();
  void on_write(beast::error_code ec);
  void finish_exchange();
  // Metrics and the access-log line of the current exchange, once.
  void record_exchange();
  void start_watch();
  void on_watch(beast::error_code ec, std::size_t n);
  void lose_client();
  void close();
  template <class Header>
  void stamp(Header& h, int status);

  ServerContext& ctx_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Exchange exchange_;
  bool answered_ = false;  // the last byte of this exchange's answer is queued
  bool closing_ = false;   // close after the queued bytes
  bool gone_ = false;
  bool sse_ = false;
  std::string pending_;  // queued, not yet handed to the socket
  std::string writing_;  // being written
  bool writing_now_ = false;
  bool watching_ = false;
  bool read_after_watch_ = false;
  std::array<char, 2048> scratch_{};
  std::shared_ptr<ClientWatch> watch_;
};

}  // namespace mlxs::server
