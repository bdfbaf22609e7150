// Raw bytes through everything of the protocol a worker or its client reads:
// the runtime's bounded line framer, the request envelope (with id recovery
// from unreadable lines), every method's params as the worker's dispatch
// reads them (schema first, then the struct), the client-side message
// classifier, every result and notification parser, version negotiation and
// the error table. No input may crash; every refusal must be a coded error
// whose number is in the wire table; everything accepted must survive a
// write/read round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/protocol.h"
#include "runtime/line_framer.h"

namespace {

using namespace mlxs::protocol;
using mlxs::core::ErrorCode;
using mlxs::core::Status;

[[noreturn]] void fail() {
  std::abort();
}

bool known_number(int number) {
  for (const WireCode& w : wire_table()) {
    if (w.code != ErrorCode::kOk && w.number == number) return true;
  }
  return false;
}

void check_object(const ErrorObject& e) {
  if (!known_number(e.code) || e.message.empty()) fail();
  if (!e.data.is_null() && !e.data.is_object()) fail();
  (void)dump(e.to_json());
}

void check_refusal(const Status& s) {
  if (s.is_ok()) fail();
  check_object(make_error_object(s));
  check_object(make_error_object(s, std::string_view("model")));
}

// Accepted messages write back to JSON that reads as the same message.
template <Described T>
void round_trip(const T& message) {
  const Json first = to_json(message);
  auto again = from_json<T>(first);
  if (!again.is_ok() || to_json(*again) != first) fail();
  (void)dump(first);
}

template <Described T>
void params_as(Method method, const Json& params) {
  auto parsed = parse_params<T>(method, params);
  if (!parsed.is_ok()) {
    check_refusal(parsed.status());
    (void)params_failures(method, params);
    return;
  }
  round_trip(*parsed);
  // Batch entries are validated one by one, as the worker does.
  if constexpr (std::is_same_v<T, BatchParams>) {
    for (const Json& entry : parsed->requests) {
      const Method each = method == Method::kBatchTokenize     ? Method::kTokenize
                          : method == Method::kBatchCheckDraft ? Method::kCheckDraft
                                                               : Method::kGenerate;
      if (each == Method::kTokenize) params_as<TokenizeParams>(each, entry);
      if (each == Method::kCheckDraft) params_as<CheckDraftParams>(each, entry);
      if (each == Method::kGenerate) params_as<GenerateParams>(each, entry);
    }
  }
  if constexpr (std::is_same_v<T, RuntimeInfoParams>) {
    if (parsed->protocol_version) {
      const Status s = check_protocol_version(*parsed->protocol_version);
      if (!s.is_ok()) check_refusal(s);
    }
    if (parsed->extensions) (void)negotiate_extensions(*parsed->extensions);
  }
}

// The worker's dispatch: every method's reader (exhaustive: a new method
// must be added here).
void params_of(Method method, const Json& params) {
  switch (method) {
    case Method::kRuntimeInfo:
      return params_as<RuntimeInfoParams>(method, params);
    case Method::kRuntimeState:
    case Method::kRuntimeTelemetry:
    case Method::kShutdown:
      return params_as<NoParams>(method, params);
    case Method::kLoadModel:
      return params_as<LoadModelParams>(method, params);
    case Method::kUnloadModel:
      return params_as<UnloadModelParams>(method, params);
    case Method::kGenerate:
      return params_as<GenerateParams>(method, params);
    case Method::kBatchGenerate:
    case Method::kBatchTokenize:
    case Method::kBatchCheckDraft:
      return params_as<BatchParams>(method, params);
    case Method::kBatchGenerateParallel:
      return params_as<BatchGenerateParallelParams>(method, params);
    case Method::kContinuousGenerate:
      return params_as<ContinuousGenerateParams>(method, params);
    case Method::kGetBatcherMetrics:
    case Method::kGetBatcherHealth:
    case Method::kGetWeek4Metrics:
      return params_as<BatcherQueryParams>(method, params);
    case Method::kTokenize:
      return params_as<TokenizeParams>(method, params);
    case Method::kDetokenize:
      return params_as<DetokenizeParams>(method, params);
    case Method::kCheckDraft:
      return params_as<CheckDraftParams>(method, params);
    case Method::kLoadVisionModel:
      return params_as<LoadVisionModelParams>(method, params);
    case Method::kGenerateWithImage:
      return params_as<GenerateWithImageParams>(method, params);
    case Method::kStreamCancel:
      return params_as<StreamCancelParams>(method, params);
  }
}

template <Described T>
void read_as(const Json& j) {
  auto r = from_json<T>(j);
  if (r.is_ok()) {
    round_trip(*r);
  } else {
    check_refusal(r.status());
  }
}

// What a client reads from a worker: one result reader per input (`pick`
// chooses it), so each run stays cheap and every reader is reached.
void results(const Json& j, std::size_t pick) {
  switch (pick % 14) {
    case 0:
      return read_as<RuntimeInfoResult>(j);
    case 1:
      return read_as<RuntimeStateResult>(j);
    case 2:
      return read_as<RuntimeTelemetryResult>(j);
    case 3:
      return read_as<LoadModelResult>(j);
    case 4:
      return read_as<GenerateResult>(j);
    case 5:
      return read_as<BatchGenerateResult>(j);
    case 6:
      return read_as<TokenizeResult>(j);
    case 7:
      return read_as<DetokenizeResult>(j);
    case 8:
      return read_as<CheckDraftResult>(j);
    case 9:
      return read_as<LoadVisionModelResult>(j);
    case 10:
      return read_as<BatcherMetricsResult>(j);
    case 11:
      return read_as<BatcherHealthResult>(j);
    case 12:
      return read_as<Week4MetricsResult>(j);
    default:
      return read_as<StreamCancelResult>(j);
  }
}

void notification(const Notification& n) {
  if (n.method == kStreamChunk) {
    auto chunk = stream_chunk_from_json(n.params);
    if (!chunk.is_ok()) return check_refusal(chunk.status());
    // The writer's line reads back as the same chunk.
    ChunkLineBuilder builder(chunk->stream_id);
    for (const ChunkToken& t : chunk->tokens) builder.add(t);
    if (builder.empty()) return;
    auto line = parse_message(builder.take_line());
    if (!line.is_ok()) fail();
    const auto* back = std::get_if<Notification>(&*line);
    if (back == nullptr) fail();
    auto again = stream_chunk_from_json(back->params);
    if (!again.is_ok() || again->tokens.size() != chunk->tokens.size()) fail();
    return;
  }
  read_as<StreamStats>(n.params);
  read_as<StreamEvent>(n.params);
  read_as<StreamStep>(n.params);
  read_as<LoadProgressNotice>(n.params);
}

void client_side(std::string_view line) {
  auto message = parse_message(line);
  if (!message.is_ok()) return check_refusal(message.status());
  if (const auto* r = std::get_if<Response>(&*message)) {
    if (r->error) (void)error_code_of(*r->error);
    if (r->result) results(*r->result, line.size());
    return;
  }
  notification(std::get<Notification>(*message));
}

void worker_side(std::string_view line) {
  auto parsed = parse_request(line);
  if (const auto* bad = std::get_if<FrameError>(&parsed)) {
    check_object(bad->error);
    const Json& id = bad->id;
    if (!id.is_null() && !id.is_string() && !id.is_number()) fail();
    return;
  }
  const Request& req = std::get<Request>(parsed);
  if (const auto m = method_from_name(req.method)) {
    params_of(*m, req.params);
  } else {
    check_refusal(Status(ErrorCode::kMethodNotFound, "Unknown method"));
  }
  // One more reader, whatever method the line names (the line's length
  // picks it), so every reader meets inputs its own method never gets.
  const auto table = method_table();
  params_of(table[line.size() % table.size()].method, req.params);
  results(req.params, line.size() / table.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // Lines as the worker frames them: a small bound so oversized lines (and
  // id recovery from their tails) are reached; two reads split at a point
  // the input picks.
  mlxs::runtime::LineFramer framer(4096);
  std::vector<mlxs::runtime::FramedLine> lines;
  const std::size_t cut = size == 0 ? 0 : data[0] % (size + 1);
  framer.feed(bytes.substr(0, cut), lines);
  framer.feed(bytes.substr(cut), lines);
  if (auto last = framer.finish()) lines.push_back(std::move(*last));
  for (const auto& line : lines) {
    if (line.oversized) {
      if (line.bytes <= 4096 || line.text.size() > mlxs::runtime::LineFramer::kTailBytes) fail();
      const Json id = recover_id(line.text);
      if (!id.is_null() && !id.is_string() && !id.is_number()) fail();
      continue;
    }
    if (line.text.size() > 4096 || line.text.find('\n') != std::string::npos) fail();
    worker_side(line.text);
    client_side(line.text);
  }
  return 0;
}
