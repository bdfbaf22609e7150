// Any bytes as a traceparent header: parsing never crashes, and whatever it
// accepts formats back into a version-00 header that parses to the same
// ids, keeps only the sampled flag, and has no zero id.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "telemetry/trace_context.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mlxs::telemetry;
  const std::string_view header(reinterpret_cast<const char*>(data), size);
  const auto parsed = parse_traceparent(header);
  if (!parsed) return 0;
  if (is_zero(parsed->trace_id) || is_zero(parsed->span_id)) std::abort();
  if ((parsed->flags & ~0x01) != 0) std::abort();
  const std::string again = format_traceparent(*parsed);
  if (again.size() != 55 || !again.starts_with("00-")) std::abort();
  const auto round = parse_traceparent(again);
  if (!round || round->trace_id != parsed->trace_id || round->span_id != parsed->span_id ||
      round->flags != parsed->flags) {
    std::abort();
  }
  return 0;
}
