#pragma once
// A deliberately plain HTTP/1.1 client over POSIX sockets for the server's
// end-to-end tests: it can send anything (malformed, truncated, slow), and
// reads answers with Content-Length or chunked bodies.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"

namespace mlxs::testing {

struct RawReply {
  int status = 0;                              // 0: no answer (closed or timed out)
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;                            // chunked bodies decoded
};

class RawConnection {
 public:
  explicit RawConnection(int port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  bool send(std::string_view bytes);
  // One whole answer (or status 0 when the server closed or time ran out).
  RawReply read_reply(int timeout_ms = 120000);
  // True when the server closed the connection within the time.
  bool closed_by_server(int timeout_ms);
  void close();

 private:
  bool fill(int timeout_ms);  // reads more into buffer_; false on EOF/timeout
  int fd_ = -1;
  std::string buffer_;
};

std::string request_text(const std::string& method, const std::string& path,
                         const std::string& body = "",
                         const std::vector<std::string>& headers = {});
// One request on a fresh connection.
RawReply http_call(int port, const std::string& method, const std::string& path,
                   const std::string& body = "", const std::vector<std::string>& headers = {});
core::Json json_of(const RawReply& reply);
// The `data:` payloads of an SSE body, in order ("[DONE]" included as is).
std::vector<std::string> sse_data(const std::string& body);

}  // namespace mlxs::testing
