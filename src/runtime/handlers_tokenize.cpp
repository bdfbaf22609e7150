// tokenize, batch_tokenize and our detokenize. An answer must fit one stdout
// line, so token strings are left out of answers that would not fit with
// them, and texts too long even then are refused (compat/client.md: split or
// bound them).
#include <algorithm>

#include <fmt/format.h>

#include "protocol/envelope.h"
#include "runtime/loaded_model.h"
#include "runtime/server.h"

namespace mlxs::runtime {

using core::ErrorCode;
using core::Status;
using protocol::Method;

std::size_t Server::result_budget() const {
  // Room for the envelope and an id around the result.
  return output_.options().max_line_bytes - 512;
}

core::Result<protocol::TokenizeResult> Server::tokenize_one(const protocol::TokenizeParams& p) {
  const auto model = registry_->find(p.model_id);
  if (!model) return Status(ErrorCode::kModelNotLoaded, "Model not loaded: " + p.model_id);
  if (!model->tokenizer) {
    return Status(ErrorCode::kTokenizerError,
                  "Tokenizer error for " + p.model_id + ": the model has no tokenizer.json");
  }
  auto ids = model->tokenizer->encode(p.text, p.add_special_tokens);
  if (!ids.is_ok()) {
    return Status(ErrorCode::kTokenizerError,
                  "Tokenizer error for " + p.model_id + ": " + ids.status().message());
  }
  protocol::TokenizeResult r;
  r.tokens = std::move(ids).value();
  std::vector<std::string> strings;
  strings.reserve(r.tokens.size());
  for (auto id : r.tokens) {
    const auto token = model->tokenizer->id_to_token(id);
    strings.push_back(token ? std::string(*token) : fmt::format("<token_{}>", id));
  }
  r.token_strings = std::move(strings);
  tokenize_calls_.fetch_add(1);
  tokenize_tokens_.fetch_add(static_cast<std::int64_t>(r.tokens.size()));
  return r;
}

Server::Reply Server::tokenize(const Json& params) {
  MLXS_ASSIGN_OR_RETURN(
      auto p, protocol::parse_params<protocol::TokenizeParams>(Method::kTokenize, params));
  MLXS_ASSIGN_OR_RETURN(auto r, tokenize_one(p));
  Json out = protocol::to_json(r);
  if (protocol::dump(out).size() <= result_budget()) return out;
  r.token_strings.reset();
  out = protocol::to_json(r);
  if (protocol::dump(out).size() <= result_budget()) return out;
  return core::make_error(
      ErrorCode::kInvalidParams,
      "Tokenizer error for {}: {} tokens do not fit one {}-byte response line; tokenize the text "
      "in parts",
      p.model_id, r.tokens.size(), output_.options().max_line_bytes);
}

Server::Reply Server::batch_tokenize(const Json& params) {
  MLXS_ASSIGN_OR_RETURN(
      auto batch, protocol::parse_params<protocol::BatchParams>(Method::kBatchTokenize, params));
  protocol::BatchResult<protocol::TokenizeResult> out;
  for (const Json& entry : batch.requests) {
    protocol::BatchEntry<protocol::TokenizeResult> e;
    auto p = protocol::parse_params<protocol::TokenizeParams>(Method::kTokenize, entry);
    auto r = p.is_ok() ? tokenize_one(*p) : core::Result<protocol::TokenizeResult>(p.status());
    if (r.is_ok()) {
      e.success = true;
      e.result = std::move(r).value();
    } else {
      e.error = r.status().message();
    }
    out.results.push_back(std::move(e));
  }
  // Make the answer fit one line: drop token strings from the biggest
  // entries first, then refuse the biggest entries outright.
  auto size_of = [](const protocol::BatchEntry<protocol::TokenizeResult>& e) {
    return protocol::dump(protocol::to_json(e)).size() + 1;
  };
  std::vector<std::size_t> sizes;
  std::size_t total = 32;
  for (const auto& e : out.results) {
    sizes.push_back(size_of(e));
    total += sizes.back();
  }
  for (int pass = 0; pass < 2 && total > result_budget(); ++pass) {
    std::vector<std::size_t> order(out.results.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return sizes[a] > sizes[b]; });
    for (std::size_t i : order) {
      if (total <= result_budget()) break;
      auto& e = out.results[i];
      if (!e.success) continue;
      if (pass == 0) {
        if (!e.result.value || !e.result.value->token_strings) continue;
        e.result.value->token_strings.reset();
      } else {
        e.success = false;
        e.result = std::nullopt;
        e.error =
            std::string("the result does not fit one response line; tokenize this text on its own");
      }
      total -= sizes[i];
      sizes[i] = size_of(e);
      total += sizes[i];
    }
  }
  return protocol::to_json(out);
}

Server::Reply Server::detokenize(const Json& params) {
  MLXS_ASSIGN_OR_RETURN(
      auto p, protocol::parse_params<protocol::DetokenizeParams>(Method::kDetokenize, params));
  const auto model = registry_->find(p.model_id);
  if (!model) return Status(ErrorCode::kModelNotLoaded, "Model not loaded: " + p.model_id);
  if (!model->tokenizer) {
    return Status(ErrorCode::kTokenizerError,
                  "Tokenizer error for " + p.model_id + ": the model has no tokenizer.json");
  }
  // The tokenizer's decode drops ids it does not know; a client asking for
  // one made a mistake it should hear about, not get shorter text.
  for (std::size_t i = 0; i < p.tokens.size(); ++i) {
    const std::int32_t id = p.tokens[i];
    if (id < 0 || !model->tokenizer->id_to_token(id)) {
      return core::make_error(ErrorCode::kInvalidParams,
                              "token id {} at /tokens/{} is not in "
                              "the vocabulary of {} ({} tokens)",
                              id, i, p.model_id, model->tokenizer->id_limit());
    }
  }
  auto text = model->tokenizer->decode(p.tokens, p.skip_special_tokens);
  if (!text.is_ok()) {
    return Status(ErrorCode::kTokenizerError,
                  "Tokenizer error for " + p.model_id + ": " + text.status().message());
  }
  protocol::DetokenizeResult r;
  r.text = std::move(text).value();
  return protocol::to_json(r);
}

}  // namespace mlxs::runtime
