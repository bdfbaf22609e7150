#include "telemetry/trace_context.h"

namespace mlxs::telemetry {
namespace {

constexpr std::size_t kVersion00Length = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<TraceContext> parse_traceparent(std::string_view header) {
  header = trim(header);
  if (header.size() < kVersion00Length) return std::nullopt;
  const auto version = byte_from_hex(header.substr(0, 2));
  if (!version || *version == 0xff) return std::nullopt;
  if (*version == 0x00 && header.size() != kVersion00Length) return std::nullopt;
  // A later version may append fields, always after a '-'.
  if (header.size() > kVersion00Length && header[kVersion00Length] != '-') return std::nullopt;
  if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
  const auto trace = trace_id_from_hex(header.substr(3, 32));
  const auto span = span_id_from_hex(header.substr(36, 16));
  const auto flags = byte_from_hex(header.substr(53, 2));
  if (!trace || !span || !flags || is_zero(*trace) || is_zero(*span)) return std::nullopt;
  TraceContext out;
  out.trace_id = *trace;
  out.span_id = *span;
  // Only the sampled bit is defined; unknown bits are not propagated.
  out.flags = static_cast<std::uint8_t>(*flags & 0x01);
  return out;
}

std::string format_traceparent(const TraceContext& context) {
  return "00-" + to_hex(context.trace_id) + "-" + to_hex(context.span_id) +
         (context.sampled() ? "-01" : "-00");
}

}  // namespace mlxs::telemetry
