#include "protocol/notifications.h"

#include "protocol/envelope.h"

namespace mlxs::protocol {

Json to_json(const StreamChunk& chunk) {
  if (chunk.tokens.size() == 1) return to_json(chunk.tokens.front());
  Json tokens = Json::array();
  for (const auto& t : chunk.tokens) tokens.push_back(to_json(t));
  return Json{{"stream_id", chunk.stream_id},
              {"tokens", std::move(tokens)},
              {"batch_size", chunk.tokens.size()},
              {"is_batch", true}};
}

core::Result<StreamChunk> stream_chunk_from_json(const Json& params) {
  if (!params.is_object())
    return core::Status(core::ErrorCode::kInvalidParams, "stream.chunk: not an object");
  StreamChunk out;
  if (const auto it = params.find("tokens"); it != params.end()) {
    if (!it->is_array())
      return core::Status(core::ErrorCode::kInvalidParams, "stream.chunk: tokens is not an array");
    for (const Json& t : *it) {
      MLXS_ASSIGN_OR_RETURN(auto token, from_json<ChunkToken>(t, "stream.chunk token"));
      out.tokens.push_back(std::move(token));
    }
    if (out.tokens.empty())
      return core::Status(core::ErrorCode::kInvalidParams, "stream.chunk: tokens is empty");
    out.stream_id = params.value("stream_id", out.tokens.front().stream_id);
    return out;
  }
  MLXS_ASSIGN_OR_RETURN(auto token, from_json<ChunkToken>(params, "stream.chunk"));
  out.stream_id = token.stream_id;
  out.tokens.push_back(std::move(token));
  return out;
}

namespace {
constexpr std::string_view kSinglePrefix = R"({"jsonrpc":"2.0","method":"stream.chunk","params":)";
}  // namespace

ChunkLineBuilder::ChunkLineBuilder(std::string stream_id)
    : stream_id_(std::move(stream_id)), stream_id_json_(dump(Json(stream_id_))) {}

std::string ChunkLineBuilder::token_json(const ChunkToken& token) {
  return dump(to_json(token));
}

std::size_t ChunkLineBuilder::size_with(std::size_t token_bytes) const {
  // Batched form: prefix + {"stream_id":S,"tokens":[...],"batch_size":N,"is_batch":true}}
  const std::size_t fixed = kSinglePrefix.size() + 14 + stream_id_json_.size() + 11 + 40;
  return fixed + tokens_.size() + 1 + token_bytes;
}

void ChunkLineBuilder::add(const ChunkToken& token) {
  add_serialised(token_json(token));
}

void ChunkLineBuilder::add_serialised(std::string token_json) {
  if (count_ > 0) tokens_ += ',';
  tokens_ += token_json;
  if (count_ == 0) single_ = std::move(token_json);
  ++count_;
}

std::string ChunkLineBuilder::take_line() {
  std::string line(kSinglePrefix);
  if (count_ == 1) {
    line += single_;
  } else {
    line += R"({"stream_id":)";
    line += stream_id_json_;
    line += R"(,"tokens":[)";
    line += tokens_;
    line += R"(],"batch_size":)";
    line += std::to_string(count_);
    line += R"(,"is_batch":true})";
  }
  line += '}';
  tokens_.clear();
  single_.clear();
  count_ = 0;
  return line;
}

}  // namespace mlxs::protocol
