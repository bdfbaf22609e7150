#pragma once
// Where POST /v1/models/load may read from: only directories inside the
// configured model roots. A path is resolved (relative paths against each
// root in order), made canonical (symlinks and ".." followed), and accepted
// only when it still lies inside a root. Errors never name the path.

#include <string>
#include <vector>

#include "core/status.h"

namespace mlxs::server {

// The canonical directory `requested` names inside one of `roots`, or
// NotFound (no such directory under any root) / InvalidParams (outside the
// roots, or no roots configured).
core::Result<std::string> resolve_model_dir(const std::string& requested,
                                            const std::vector<std::string>& roots);

}  // namespace mlxs::server
