#include <cstdio>

#include "cli/commands.h"

namespace mlxs::cli {

int report_error(const std::string& code_name, const std::string& message) {
  std::fprintf(stderr, "error: %s: %s\n", code_name.c_str(), message.c_str());
  return 1;
}

}  // namespace mlxs::cli
