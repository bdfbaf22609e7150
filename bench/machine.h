#pragma once
// A description of the machine a benchmark ran on, for its report.

#include <nlohmann/json.hpp>

namespace mlxs::bench {

nlohmann::json describe_machine();

}  // namespace mlxs::bench
