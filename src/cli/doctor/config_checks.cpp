// The configuration file as `serve --config` will read it, the port it names,
// and the folders it lets models load from.
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "cli/doctor/checks.h"
#include "control/config.h"

namespace mlxs::cli::doctor {
namespace {

namespace fs = std::filesystem;

// Binds host:port the way the HTTP server will (address reuse on, so a port
// in TIME_WAIT counts as free); 0 on success, else errno or a resolver error.
std::string try_bind(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return fmt::format("cannot resolve host '{}': {}", host, gai_strerror(rc));
  }
  std::string error;
  const int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  if (fd < 0) {
    error = std::strerror(errno);
  } else {
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, 1) != 0) {
      error = errno == EADDRINUSE ? "in use by another process" : std::strerror(errno);
    }
    close(fd);
  }
  freeaddrinfo(found);
  return error;
}

void check_dir(Report& r, const std::string& key, const std::string& dir) {
  std::error_code ec;
  const std::string id = "config.model_roots";
  const std::string subject = key + ": " + dir;
  if (!fs::exists(dir, ec)) {
    r.fail(id, subject, "does not exist", "create it or remove it from " + key);
  } else if (!fs::is_directory(dir, ec)) {
    r.fail(id, subject, "is not a directory", "name a folder in " + key);
  } else if (access(dir.c_str(), R_OK | X_OK) != 0) {
    r.fail(id, subject, "is not readable by this user",
           "grant read and search permission (chmod a+rx) to the user that serves");
  } else {
    r.pass(id, subject, "exists and is readable");
  }
}

}  // namespace

std::optional<core::Json> check_config(Report& r, const std::string& file) {
  control::ConfigInputs inputs;
  inputs.file = file;
  inputs.environment = control::process_environment();
  const control::ConfigReport report = control::load_config(inputs);
  const std::string hint = "run `mlx-serving config validate " + file + "` for every problem";
  if (!report.ok()) {
    std::string detail = report.errors.front().to_string();
    if (report.errors.size() > 1) detail += fmt::format(" (and {} more)", report.errors.size() - 1);
    r.fail("config.file", file, detail, hint);
    return std::nullopt;
  }
  if (!report.warnings.empty()) {
    std::string detail = "valid, with warnings: " + report.warnings.front().to_string();
    if (report.warnings.size() > 1)
      detail += fmt::format(" (and {} more)", report.warnings.size() - 1);
    r.warn("config.file", file, detail,
           "remove the ignored keys, or convert an original file with `mlx-serving config "
           "migrate`");
  } else {
    r.pass("config.file", file, "valid");
  }
  return report.effective;
}

void check_port(Report& r, const core::Json& config) {
  const std::string host = config["server"]["host"].get<std::string>();
  const int port = config["server"]["port"].get<int>();
  const std::string subject = fmt::format("{}:{}", host, port);
  if (port == 0) {
    r.pass("config.port", subject, "port 0: the server takes any free port");
    return;
  }
  const std::string error = try_bind(host, port);
  if (error.empty()) {
    r.pass("config.port", subject, "free");
  } else {
    r.fail("config.port", subject, error,
           "stop the process that holds it (ss -ltnp 'sport = :" + std::to_string(port) +
               "') or set server.port to a free port");
  }
}

void check_model_roots(Report& r, const core::Json& config) {
  bool any = false;
  for (const auto& d : config["server"]["model_roots"]) {
    check_dir(r, "server.model_roots", d.get<std::string>());
    any = true;
  }
  for (const auto& d : config["workers"]["model_dirs"]) {
    check_dir(r, "workers.model_dirs", d.get<std::string>());
    any = true;
  }
  if (const auto& trusted = config["model"]["trusted_model_directories"]; trusted.is_array()) {
    for (const auto& d : trusted) {
      check_dir(r, "model.trusted_model_directories", d.get<std::string>());
      any = true;
    }
  }
  if (!any) r.info("config.model_roots", "", "no model roots configured");
}

}  // namespace mlxs::cli::doctor
