#pragma once
// Checks on the parts of a URL's authority that every client of ours parses
// the same way (image URLs, the OTLP endpoint).

#include <string_view>

namespace mlxs::core {

// A decimal port 1-65535, digits only (no sign, no spaces).
inline bool valid_port(std::string_view p) {
  if (p.empty() || p.size() > 5) return false;
  int value = 0;
  for (const char c : p) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  return value >= 1 && value <= 65535;
}

}  // namespace mlxs::core
