#include "runtime/server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>

#include "core/log.h"

namespace mlxs::runtime {

using core::ErrorCode;
using core::Status;
using protocol::Method;

namespace {

constexpr int kTaskThreads = 2;
constexpr std::size_t kReadChunk = 64 * 1024;

void configure_output(int fd, const OutputOptions& options) {
  // Blocking writes: a slow client slows the writer, never loses output.
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0 && (flags & O_NONBLOCK) != 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && options.socket_send_buffer > 0) {
    // The original client's end is a socket: a small send buffer keeps its
    // pending input under the 64 KiB it tolerates.
    const int size = options.socket_send_buffer;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  }
}

std::string excerpt_name(const std::string& name) {
  std::string out;
  for (char c : name.substr(0, 64)) out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
  if (name.size() > 64) out += "...";
  return out;
}

}  // namespace

Server::Server(int in_fd, int out_fd, RuntimeOptions options)
    : in_fd_(in_fd),
      out_fd_(out_fd),
      options_(std::move(options)),
      cpu_(std::make_shared<backend::cpu::ThreadPool>(options_.threads)),
      output_(out_fd, options_.output, clock_) {
  if (options_.streams_gauge) streams_.set_gauge(options_.streams_gauge);
  LoadContext ctx;
  ctx.options = &options_;
  ctx.pool = cpu_;
  ctx.arbiter = &arbiter_;
  ctx.output = &output_;
  ctx.streams = &streams_;
  ctx.clock = &clock_;
  // Only a client that negotiated the extension hears of load progress: the
  // original client knows no such notification (compat/client.md).
  ctx.on_load_progress = [this](const protocol::LoadProgressNotice& n) {
    if (!load_progress_on_.load()) return;
    output_.send_line(
        protocol::write_notification(protocol::kModelLoadProgress, protocol::to_json(n)));
  };
  // A model's tensor-parallel group that failed takes the worker down (its
  // streams have ended with WorkerCrashed): the supervisor restarts it and
  // reloads its models, the group as one.
  ctx.on_group_failed = [this](const std::string& model_id) {
    core::log_error("runtime_tp_group_failed", {{"model_id", model_id}});
    group_failed_.store(true);
    request_stop();
  };
  registry_ = std::make_unique<ModelRegistry>(ctx);
  tasks_ = std::make_unique<TaskPool>(kTaskThreads);
}

Server::~Server() {
  request_stop();
  if (registry_) registry_->close();
  if (tasks_) tasks_->stop();
  std::vector<std::thread> loaders;
  {
    std::lock_guard lock(loaders_mutex_);
    loaders.swap(loaders_);
  }
  for (auto& t : loaders) {
    if (t.joinable()) t.join();
  }
  registry_.reset();
  output_.stop();
}

void Server::request_stop() {
  stop_.store(true);
}

int Server::run() {
  auto schemas = protocol::SchemaSet::rpc();
  if (!schemas.is_ok()) {
    core::log_error("runtime_schemas_invalid", {{"error", schemas.status().to_string()}});
    return 1;
  }
  // A client that goes away must not kill the worker: writes then fail and
  // the worker stops cleanly.
  std::signal(SIGPIPE, SIG_IGN);
  configure_output(out_fd_, options_.output);
  output_.set_on_broken([this] { request_stop(); });
  output_.start();
  if (options_.announce_ready) {
    // One write: the original client checks each stderr read on its own.
    [[maybe_unused]] const auto n =
        ::write(STDERR_FILENO, kReadyMarker.data(), kReadyMarker.size());
  }
  core::log_info("runtime_ready", {{"protocol_version", protocol::protocol_version_string()}});

  LineFramer framer(options_.max_request_bytes);
  std::vector<char> buffer(kReadChunk);
  std::vector<FramedLine> lines;
  bool eof = false;
  while (!stop_.load() && !eof) {
    pollfd pfd{in_fd_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, 200);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    const ssize_t n = ::read(in_fd_, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      break;
    }
    lines.clear();
    if (n == 0) {
      eof = true;
      if (auto last = framer.finish()) lines.push_back(std::move(*last));
    } else {
      framer.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n)), lines);
    }
    for (FramedLine& line : lines) {
      if (stop_.load()) break;  // nothing after shutdown is run
      handle_line(std::move(line));
    }
  }
  core::log_info("runtime_stopping", {{"reason", eof ? "end of input" : "shutdown"}});
  stop_.store(true);
  if (options_.exit_deadline_ms > 0) {
    // A load or a write that does not end must not keep the process alive.
    std::thread([ms = options_.exit_deadline_ms] {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      std::_Exit(0);
    }).detach();
  }
  registry_->close();
  tasks_->stop();
  std::vector<std::thread> loaders;
  {
    std::lock_guard lock(loaders_mutex_);
    loaders.swap(loaders_);
  }
  for (auto& t : loaders) {
    if (t.joinable()) t.join();
  }
  output_.stop();
  return group_failed_.load() ? kGroupFailedExit : 0;
}

void Server::handle_line(FramedLine line) {
  requests_.fetch_add(1);
  if (line.oversized) {
    // The original's answer to a request that would overflow its buffer.
    const Status s =
        core::make_error(ErrorCode::kInvalidRequest, "Buffer overflow: would exceed {} bytes",
                         options_.max_request_bytes);
    count_error(s);
    send_error(protocol::recover_id(line.text), protocol::make_error_object(s));
    return;
  }
  auto parsed = protocol::parse_request(line.text);
  if (auto* bad = std::get_if<protocol::FrameError>(&parsed)) {
    errors_.fetch_add(1);
    if (bad->is_notification) {
      core::log_warn("runtime_bad_notification", {{"error", bad->error.message}});
      return;
    }
    send_error(bad->id, bad->error);
    return;
  }
  dispatch(std::move(std::get<protocol::Request>(parsed)));
}

void Server::dispatch(protocol::Request req) {
  const auto method = protocol::method_from_name(req.method);
  const std::optional<Json> id = req.id;
  if (!method) {
    // The original answers unknown methods with -32602, never -32601.
    Status s(ErrorCode::kMethodNotFound, "Unknown method: " + excerpt_name(req.method));
    count_error(s);
    if (id) send_error(*id, protocol::make_error_object(s));
    return;
  }
  const Method m = *method;
  const Json& params = req.params;
  auto later = [this, id, m, params](auto handler) {
    tasks_->post([this, id, m, params, handler] { respond(id, m, params, handler(params)); });
  };
  switch (m) {
    case Method::kRuntimeInfo:
      respond(id, m, params, runtime_info(params));
      return;
    case Method::kRuntimeState:
      respond(id, m, params, runtime_state());
      return;
    case Method::kRuntimeTelemetry:
      respond(id, m, params, runtime_telemetry());
      return;
    case Method::kShutdown:
      respond(id, m, params, protocol::to_json(protocol::SuccessResult{}));
      request_stop();
      return;
    case Method::kStreamCancel:
      respond(id, m, params, stream_cancel(params));
      return;
    case Method::kLoadVisionModel: {
      std::lock_guard lock(loaders_mutex_);
      loaders_.emplace_back(
          [this, id, m, params] { respond(id, m, params, load_vision_model(params)); });
      return;
    }
    case Method::kGenerateWithImage:
      start_generate_with_image(id, params);
      return;
    case Method::kLoadModel: {
      std::lock_guard lock(loaders_mutex_);
      loaders_.emplace_back([this, id, m, params] { respond(id, m, params, load_model(params)); });
      return;
    }
    case Method::kGenerate:
      start_generate(id, params);
      return;
    case Method::kBatchGenerate:
      start_batch_generate(id, params);
      return;
    case Method::kBatchGenerateParallel:
      start_parallel(id, params);
      return;
    case Method::kContinuousGenerate:
      start_continuous(id, params);
      return;
    case Method::kUnloadModel:
      later([this](const Json& p) { return unload_model(p); });
      return;
    case Method::kTokenize:
      later([this](const Json& p) { return tokenize(p); });
      return;
    case Method::kBatchTokenize:
      later([this](const Json& p) { return batch_tokenize(p); });
      return;
    case Method::kDetokenize:
      later([this](const Json& p) { return detokenize(p); });
      return;
    case Method::kCheckDraft:
      later([this](const Json& p) { return check_draft(p); });
      return;
    case Method::kBatchCheckDraft:
      later([this](const Json& p) { return batch_check_draft(p); });
      return;
    case Method::kGetBatcherMetrics:
    case Method::kGetBatcherHealth:
    case Method::kGetWeek4Metrics:
      respond(id, m, params, batcher_query(m, params));
      return;
  }
}

void Server::count_error(const Status& status) {
  errors_.fetch_add(1);
  if (status.code() == ErrorCode::kTimeout) timeouts_.fetch_add(1);
}

void Server::respond(const std::optional<Json>& id, Method method, const Json& params,
                     Reply reply) {
  if (reply.is_ok()) {
    if (!id) return;
    std::string line = protocol::write_result(*id, *reply);
    if (line.size() <= output_.options().max_line_bytes) {
      output_.send_line(std::move(line));
      return;
    }
    reply = core::make_error(
        ErrorCode::kInvalidParams,
        "the result of {} ({} bytes) does not fit one {}-byte line; ask for less at once",
        protocol::method_info(method).name, line.size(), output_.options().max_line_bytes);
  }
  const Status& status = reply.status();
  count_error(status);
  std::optional<std::string> model_id;
  if (params.is_object()) {
    for (const char* key : {"model_id", "primary_id"}) {
      const auto it = params.find(key);
      if (it != params.end() && it->is_string()) {
        model_id = it->get<std::string>().substr(0, 512);
        break;
      }
    }
  }
  const bool with_model =
      protocol::wire_code(status.code()).carries_model_id && model_id.has_value();
  protocol::ErrorObject error = protocol::make_error_object(
      status, with_model ? std::optional<std::string_view>(*model_id) : std::nullopt);
  if (status.code() == ErrorCode::kInvalidParams &&
      status.message().rfind("Invalid params for", 0) == 0) {
    error.data["errors"] = protocol::params_failures(method, params);
  }
  if (!id) {
    core::log_warn("runtime_notification_failed",
                   {{"method", protocol::method_info(method).name}, {"error", status.to_string()}});
    return;
  }
  send_error(*id, error);
}

void Server::send_error(const std::optional<Json>& id, const protocol::ErrorObject& error) {
  const Json target = id.value_or(Json(nullptr));
  std::string line = protocol::write_error(target, error);
  if (line.size() > output_.options().max_line_bytes) {
    protocol::ErrorObject shorter = error;
    shorter.message = shorter.message.substr(0, 1024);
    if (shorter.data.is_object()) shorter.data.erase("errors");
    line = protocol::write_error(target, shorter);
  }
  output_.send_line(std::move(line));
}

}  // namespace mlxs::runtime
