#pragma once
// Facts about this process for runtime/info.

#include <cstdint>
#include <string>

namespace mlxs::runtime {

struct ProcessMemory {
  std::int64_t rss = 0;  // bytes resident
  std::int64_t vms = 0;  // bytes of address space
};

// From /proc/self/statm; zeros when it cannot be read.
ProcessMemory process_memory();

// Seconds since the Unix epoch.
double epoch_seconds();

// A random (version 4) UUID, as the original uses for stream ids.
std::string uuid4();

}  // namespace mlxs::runtime
