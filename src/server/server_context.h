#pragma once
// What every connection of one server shares: options, the control plane,
// the compiled request documents, metrics and the global stream count.

#include <atomic>
#include <cstdint>
#include <string>

#include "control/gateway.h"
#include "core/clock.h"
#include "server/http_schemas.h"
#include "server/metrics.h"
#include "server/options.h"

namespace mlxs::server {

struct ServerContext {
  ServerContext(ServerOptions o, control::Gateway& g, const HttpSchemas& s)
      : options(std::move(o)), gateway(g), schemas(s) {}
  const ServerOptions options;
  control::Gateway& gateway;
  const HttpSchemas& schemas;
  Metrics metrics;
  std::atomic<int> streams{0};      // generate calls in flight
  std::atomic<int> connections{0};  // open sockets
  const core::SteadyClock& clock = core::SteadyClock::instance();

  // A fresh id: "<prefix><24 hex digits>", unique per process run.
  std::string new_id(std::string_view prefix);

 private:
  std::atomic<std::uint64_t> counter_{0};
};

}  // namespace mlxs::server
