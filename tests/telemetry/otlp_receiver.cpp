#include "otlp_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>

namespace mlxs::testing {
namespace {

int listen_loopback(int* port, int backlog) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd, backlog) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Reads until `want` bytes are in `buf` or the peer stops (5 s per read).
bool read_more(int fd, std::string& buf) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 5000) <= 0) return false;
  char chunk[4096];
  const ssize_t n = ::read(fd, chunk, sizeof(chunk));
  if (n <= 0) return false;
  buf.append(chunk, static_cast<std::size_t>(n));
  return true;
}

}  // namespace

core::Json ReceivedSpan::attribute(const std::string& key) const {
  for (const auto& a : span.value("attributes", core::Json::array())) {
    if (a.value("key", "") != key) continue;
    const core::Json& v = a["value"];
    for (const char* k : {"stringValue", "intValue", "doubleValue", "boolValue"}) {
      if (v.contains(k)) return v[k];
    }
  }
  return nullptr;
}

OtlpReceiver::OtlpReceiver() {
  listen_fd_ = listen_loopback(&port_, 64);
  if (listen_fd_ >= 0) thread_ = std::thread([this] { serve(); });
}

OtlpReceiver::~OtlpReceiver() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void OtlpReceiver::serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    handle(fd);
    ::close(fd);
  }
}

void OtlpReceiver::handle(int fd) {
  std::string buf;
  std::size_t end = std::string::npos;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    if (!read_more(fd, buf)) return;
  }
  ReceivedRequest r;
  const std::string head = buf.substr(0, end);
  const std::size_t sp1 = head.find(' ');
  const std::size_t sp2 = head.find(' ', sp1 + 1);
  r.method = head.substr(0, sp1);
  r.path = head.substr(sp1 + 1, sp2 - sp1 - 1);
  std::size_t length = 0;
  std::size_t pos = head.find("\r\n");
  while (pos != std::string::npos && pos < head.size()) {
    const std::size_t next = head.find("\r\n", pos + 2);
    const std::string line =
        head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    const std::size_t colon = line.find(':');
    if (colon != std::string::npos) {
      const std::string name = lower(line.substr(0, colon));
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      if (name == "content-length") length = std::stoul(value);
      if (name == "content-type") r.content_type = value;
    }
    pos = next;
  }
  while (buf.size() < end + 4 + length) {
    if (!read_more(fd, buf)) return;
  }
  r.body = core::Json::parse(buf.substr(end + 4, length), nullptr, false);
  if (r.body.is_discarded()) r.body = nullptr;
  static constexpr std::string_view kAnswer =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
      "Connection: close\r\n\r\n{}";
  {
    // Recorded before answering: once the exporter has its answer, a test
    // reading the receiver must find the spans.
    std::lock_guard lock(mutex_);
    requests_.push_back(std::move(r));
  }
  (void)!::write(fd, kAnswer.data(), kAnswer.size());
}

std::vector<ReceivedRequest> OtlpReceiver::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::vector<ReceivedSpan> OtlpReceiver::spans() const {
  std::vector<ReceivedSpan> out;
  for (const auto& r : requests()) {
    if (!r.body.is_object()) continue;
    for (const auto& rs : r.body.value("resourceSpans", core::Json::array())) {
      std::string service;
      for (const auto& a : rs["resource"].value("attributes", core::Json::array())) {
        if (a.value("key", "") == "service.name") service = a["value"].value("stringValue", "");
      }
      for (const auto& ss : rs.value("scopeSpans", core::Json::array())) {
        for (const auto& s : ss.value("spans", core::Json::array())) out.push_back({service, s});
      }
    }
  }
  return out;
}

std::vector<ReceivedSpan> OtlpReceiver::wait_for(
    const std::function<bool(const std::vector<ReceivedSpan>&)>& done, int timeout_ms) const {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto s = spans();
    if (done(s) || std::chrono::steady_clock::now() > until) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

SilentListener::SilentListener() {
  fd_ = listen_loopback(&port_, 1024);
}

SilentListener::~SilentListener() {
  if (fd_ >= 0) ::close(fd_);
}

int refused_port() {
  int port = 0;
  const int fd = listen_loopback(&port, 1);
  if (fd >= 0) ::close(fd);  // nothing listens there any more
  return port;
}

}  // namespace mlxs::testing
