#include "netns_lab.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "child_process.h"

namespace mlxs::cluster::testing {
namespace {

namespace fs = std::filesystem;
constexpr const char* kNsPrefix = "mlxs-nt-";  // mlxs-nt-<pid>-<host>

// `ip args...`; true on exit status 0 (output discarded when quiet).
bool run_ip(const std::string& ip, const std::vector<std::string>& args, bool quiet = true) {
  std::vector<std::string> argv = {ip};
  argv.insert(argv.end(), args.begin(), args.end());
  Child c(argv, quiet);
  if (!c.running()) return false;
  const int status = c.wait_exit(std::chrono::seconds(30));
  return status == 0;
}

bool process_gone(int pid) {
  return pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH;
}

// The pid in "<prefix><digits>..." or 0.
int pid_after(const std::string& name, const std::string& prefix) {
  if (name.rfind(prefix, 0) != 0) return 0;
  std::size_t at = prefix.size();
  int pid = 0;
  while (at < name.size() && std::isdigit(static_cast<unsigned char>(name[at])) != 0 &&
         pid < 100'000'000) {
    pid = pid * 10 + (name[at++] - '0');
  }
  return at > prefix.size() ? pid : 0;
}

}  // namespace

void NetnsLab::sweep() {
  const std::string ip = find_program("ip");
  if (ip.empty()) return;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/var/run/netns", ec)) {
    const std::string name = e.path().filename().string();
    if (process_gone(pid_after(name, kNsPrefix))) run_ip(ip, {"netns", "del", name});
  }
  // Deleting a namespace deletes its veths and their peers; the bridges stay.
  for (const auto& e : fs::directory_iterator("/sys/class/net", ec)) {
    const std::string name = e.path().filename().string();
    if (process_gone(pid_after(name, "mvb"))) run_ip(ip, {"link", "del", name});
  }
}

std::unique_ptr<NetnsLab> NetnsLab::create(std::string* why) {
  std::unique_ptr<NetnsLab> lab(new NetnsLab());
  lab->ip_ = find_program("ip");
  if (lab->ip_.empty()) {
    *why = "`ip` (iproute2) is not installed";
    return nullptr;
  }
  sweep();
  lab->pid_ = static_cast<int>(::getpid());
  lab->bridge_ = "mvb" + std::to_string(lab->pid_);
  if (!run_ip(lab->ip_, {"link", "add", lab->bridge_, "type", "bridge"})) {
    *why = "cannot create a bridge (`ip link add` needs CAP_NET_ADMIN)";
    return nullptr;
  }
  if (!run_ip(lab->ip_, {"link", "set", lab->bridge_, "up"})) {
    *why = "cannot bring the bridge up";
    return nullptr;  // the destructor deletes it
  }
  return lab;
}

NetnsLab::~NetnsLab() {
  for (const auto& h : hosts_) run_ip(ip_, {"netns", "del", ns_of(h)});
  if (!bridge_.empty()) run_ip(ip_, {"link", "del", bridge_});
}

std::string NetnsLab::ns_of(const std::string& host) const {
  return kNsPrefix + std::to_string(pid_) + "-" + host;
}

std::string NetnsLab::add_host(const std::string& host, std::string* why) {
  const std::size_t index = hosts_.size();
  const std::string ns = ns_of(host);
  const std::string outer = "mv" + std::to_string(pid_) + "h" + std::to_string(index);
  const std::string inner = "mv" + std::to_string(pid_) + "n" + std::to_string(index);
  std::string address = "10.213.0." + std::to_string(2 + index);
  if (!run_ip(ip_, {"netns", "add", ns})) {
    *why = "cannot create network namespace " + ns + " (`ip netns add` needs CAP_SYS_ADMIN)";
    return {};
  }
  hosts_.push_back(host);
  const std::vector<std::vector<std::string>> steps = {
      {"link", "add", outer, "type", "veth", "peer", "name", inner},
      {"link", "set", outer, "master", bridge_, "up"},
      {"link", "set", inner, "netns", ns},
      {"-n", ns, "link", "set", inner, "name", "eth0"},
      {"-n", ns, "addr", "add", address + "/24", "dev", "eth0"},
      {"-n", ns, "link", "set", "eth0", "up"},
      {"-n", ns, "link", "set", "lo", "up"},
  };
  for (const auto& s : steps) {
    if (!run_ip(ip_, s, false)) {
      *why = "ip " + s[0] + " " + s[1] + " ... failed for host " + host;
      return {};
    }
  }
  return address;
}

std::vector<std::string> NetnsLab::in(const std::string& host,
                                      const std::vector<std::string>& argv) const {
  std::vector<std::string> out = {ip_, "netns", "exec", ns_of(host)};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

bool NetnsLab::set_link(const std::string& host, bool up) {
  const auto it = std::find(hosts_.begin(), hosts_.end(), host);
  if (it == hosts_.end()) return false;
  const std::string outer = "mv" + std::to_string(pid_) + "h" +
                            std::to_string(static_cast<std::size_t>(it - hosts_.begin()));
  return run_ip(ip_, {"link", "set", outer, up ? "up" : "down"}, false);
}

int NetnsLab::tcp_socket_in(const std::string& host) const {
  // setns() moves only the calling thread, and a socket keeps the namespace
  // it was made in: a short-lived thread makes it there.
  int fd = -1;
  const std::string path = "/var/run/netns/" + ns_of(host);
  std::thread t([&] {
    const int ns = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0) return;
    if (::setns(ns, CLONE_NEWNET) == 0) fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ::close(ns);
  });
  t.join();
  return fd;
}

}  // namespace mlxs::cluster::testing
