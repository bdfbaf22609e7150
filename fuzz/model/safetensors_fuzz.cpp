// Any byte string is either a valid safetensors image or a ModelLoadError.
#include <cstddef>
#include <cstdint>

#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = mlxs::model::SafetensorsFile::parse(data, size, "fuzz.safetensors");
  if (r.is_ok()) {
    for (const auto& t : *r) {
      // Every accepted tensor lies inside the input.
      if (t.data < data || t.data + t.nbytes > data + size) __builtin_trap();
    }
  }
  return 0;
}
