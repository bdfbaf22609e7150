#pragma once
// The route table: authentication, then each endpoint's handler. OpenAI
// endpoints (/v1/chat/completions, /v1/completions, /v1/models[/{id}]) and
// native ones (/v1/models/load|unload, /v1/tokenize, /v1/detokenize,
// /v1/runtime/info, /v1/status, /v1/schemas[/{name}], /health, /ready,
// /metrics), and the built-in web UI at / and /ui/{asset} (public, like
// /health and /ready).
// Handlers answer through the session, on its strand; Gateway callbacks are
// posted back to it.

#include <memory>

#include "server/http_session.h"

namespace mlxs::server {

void route_request(const std::shared_ptr<HttpSession>& session, ServerContext& ctx,
                   HttpSession::Request request);

// Constant-time check of an Authorization header against the keys.
bool authorized(std::string_view authorization, const std::vector<std::string>& keys);

}  // namespace mlxs::server
