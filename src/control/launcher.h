#pragma once
// How a worker comes to life. The control plane never creates workers
// itself: it calls an injected WorkerLauncher, which returns the two
// descriptors of the JSON-RPC connection and a handle to stop the worker.
// `process_launcher` spawns `mlx-serving runtime` as a child process with
// pipes; src/cli provides an in-process launcher (runtime::Server on a socket
// pair in a thread) for `serve --in-process`. The rest of control/ cannot
// tell the two apart.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace mlxs::control {

class WorkerHandle {
 public:
  virtual ~WorkerHandle() = default;
  // Stops the worker at once (SIGKILL for a process; for an in-process
  // worker, shuts its connection so that both ends see the end of input).
  // Idempotent, thread-safe, never blocks.
  virtual void kill() = 0;
  // Blocks until the worker is gone; its exit status (128 + signal when a
  // signal ended it). Called once, after kill() or after the worker exited.
  virtual int wait() = 0;
  // For logs: "pid 1234", "in-process".
  virtual std::string describe() const = 0;
  // The process id, or -1 for a worker that is not a process.
  virtual int pid() const { return -1; }
  // Streams in flight on the worker, where the handle can tell without
  // asking it (an in-process worker); thread-safe.
  virtual std::optional<std::int64_t> active_streams() const { return std::nullopt; }
};

struct LaunchedWorker {
  int to_worker = -1;    // we write requests here (the worker's stdin)
  int from_worker = -1;  // we read answers here (its stdout); may equal to_worker (a socket)
  std::unique_ptr<WorkerHandle> handle;
};

// Called with the worker's name ("worker-0") each time it must (re)start.
using WorkerLauncher = std::function<core::Result<LaunchedWorker>(const std::string& name)>;

// Spawns argv (argv[0] a path; "/proc/self/exe" by default) with its stdin
// and stdout on pipes and its stderr shared with ours. Ignores SIGPIPE in this
// process, so that writing to a dead worker fails instead of killing us.
WorkerLauncher process_launcher(std::vector<std::string> argv);

// argv of the runtime worker: this executable, "runtime", then `extra_args`.
std::vector<std::string> runtime_worker_argv(const std::vector<std::string>& extra_args = {});

}  // namespace mlxs::control
