#pragma once
// Runs a program to completion, capturing its exit status and output: the
// end-to-end tests drive the real mlx-serving binary this way.

#include <string>
#include <vector>

namespace mlxs::testing {

struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed by a signal
  std::string out;
  std::string err;
};

ProcessResult run_process(const std::vector<std::string>& argv, int timeout_s = 300);

// Path of the mlx-serving binary under test ($MLXS_BINARY, set by CTest).
std::string mlx_serving_binary();

}  // namespace mlxs::testing
