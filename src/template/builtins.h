#pragma once
// The global functions a chat template can call: jinja2's range (with the
// sandbox's 100000-item cap), namespace, dict, and transformers'
// raise_exception and strftime_now.

#include <memory>

#include "template/runtime.h"

namespace mlxs::template_ {

// A shared, read-only frame holding the builtins (parent of every render).
std::shared_ptr<Frame> builtins_frame();

}  // namespace mlxs::template_
