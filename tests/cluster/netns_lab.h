#pragma once
// Hosts on one machine for the cluster's end-to-end tests: one network
// namespace per host (`ip netns`), each joined by a veth pair to a bridge of
// the test's own, with an address in 10.213.0.0/24. The bridge has no
// address and nothing routes to it, so the range is private to each run and
// parallel runs (names carry the pid) cannot clash. Everything made is
// deleted when the lab is dropped; leftovers of runs that died are swept at
// start. Needs CAP_NET_ADMIN and iproute2; create() says why not otherwise.
#include <memory>
#include <string>
#include <vector>

namespace mlxs::cluster::testing {

class NetnsLab {
 public:
  // A lab, or null with the reason in *why (no `ip`, no permission).
  static std::unique_ptr<NetnsLab> create(std::string* why);
  ~NetnsLab();
  NetnsLab(const NetnsLab&) = delete;
  NetnsLab& operator=(const NetnsLab&) = delete;

  // A new host on the bridge; its address, or empty (the reason in *why).
  std::string add_host(const std::string& host, std::string* why);
  // argv run inside the host's namespace (`ip netns exec`).
  std::vector<std::string> in(const std::string& host, const std::vector<std::string>& argv) const;
  // Takes the host's link to the bridge down or up (its namespace stays).
  bool set_link(const std::string& host, bool up);
  // A TCP socket (CLOEXEC) that lives in the host's namespace; -1 on error.
  int tcp_socket_in(const std::string& host) const;

  // Deletes namespaces and links of this test's runs whose process is gone.
  static void sweep();

 private:
  NetnsLab() = default;
  std::string ns_of(const std::string& host) const;
  std::string ip_;
  int pid_ = 0;
  std::string bridge_;
  std::vector<std::string> hosts_;
};

}  // namespace mlxs::cluster::testing
