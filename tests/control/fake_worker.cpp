// A worker that misbehaves on purpose, for the control plane's
// failure-injection tests. It speaks just enough JSON-RPC to pass the
// control plane's start (runtime/info, runtime/state), then does what its
// mode says:
//   exit      exits with status 3 before reading anything
//   garbage   writes a line that is not JSON
//   huge      writes one line of 100 MB
//   silent    reads requests and never answers again
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

namespace {

void write_line(const std::string& s) {
  std::string line = s + "\n";
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDOUT_FILENO, p, left);
    if (n <= 0) std::_Exit(0);
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

void answer(const nlohmann::json& req, const nlohmann::json& result) {
  write_line(nlohmann::json{{"jsonrpc", "2.0"}, {"id", req["id"]}, {"result", result}}.dump());
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "exit") return 3;
  std::string line;
  bool started = false;
  while (std::getline(std::cin, line)) {
    const auto req = nlohmann::json::parse(line, nullptr, false);
    if (req.is_discarded()) continue;
    const std::string method = req.value("method", "");
    if (!started && method == "runtime/info") {
      answer(req, {{"version", "0"},
                   {"protocol_version", "1.1"},
                   {"capabilities", nlohmann::json::array()}});
      continue;
    }
    if (!started && method == "runtime/state") {
      answer(req, {{"loaded_models", nlohmann::json::array()},
                   {"active_streams", 0},
                   {"restart_count", 0}});
      started = true;
      if (mode == "garbage") write_line("Traceback (most recent call last): this is not JSON");
      if (mode == "huge") {
        const std::string block(1 << 20, 'x');
        for (int i = 0; i < 100; ++i) {
          if (::write(STDOUT_FILENO, block.data(), block.size()) < 0) return 0;
        }
        write_line("");
      }
      continue;
    }
    // silent (and the others once misbehaved): never answer again.
  }
  return 0;
}
