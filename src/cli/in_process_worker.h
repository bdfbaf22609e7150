#pragma once
// `serve --in-process`: the runtime worker (runtime::Server) on one end of a
// socket pair in a thread of this process, behind control's WorkerLauncher,
// so the control plane drives it exactly as it drives a child process.

#include "control/launcher.h"
#include "runtime/options.h"

namespace mlxs::cli {

control::WorkerLauncher in_process_launcher(runtime::RuntimeOptions options);

}  // namespace mlxs::cli
