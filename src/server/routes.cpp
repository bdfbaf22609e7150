#include "server/routes.h"

#include <set>

#include <boost/asio/post.hpp>

#include "protocol/codec.h"
#include "server/generation_job.h"
#include "server/model_paths.h"
#include "server/openai_request.h"
#include "server/web_assets.h"

namespace mlxs::server {

using core::ErrorCode;
using core::Json;

namespace {

using SessionPtr = std::shared_ptr<HttpSession>;

// Time depends on the lengths only, not on where the first difference is.
bool equal_constant_time(std::string_view a, std::string_view b) {
  if (b.empty()) return false;
  std::size_t diff = a.size() ^ b.size();
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i % b.size()]);
  }
  return diff == 0;
}

// The body as JSON, or the 400 already sent.
std::optional<Json> json_body(const SessionPtr& s, const HttpSession::Request& req) {
  auto parsed = core::parse_json(req.body(), "request body", ErrorCode::kParseError, 64);
  if (!parsed.is_ok()) {
    s->reply_error(ApiError::http(400, error_code_name(ErrorCode::kParseError),
                                  "request body is not valid JSON: " + parsed.status().message()));
    return std::nullopt;
  }
  return std::move(parsed).value();
}

// Gateway answers come back on a control thread: post them to the strand.
control::Gateway::Reply on_strand(const SessionPtr& s, std::function<void(Json)> ok) {
  return [s, ok = std::move(ok)](core::Result<Json> r) {
    net::post(s->executor(), [s, ok, r = std::move(r)]() mutable {
      if (!r.is_ok()) {
        s->reply_error(ApiError::from_status(r.status()));
        return;
      }
      ok(std::move(r).value());
    });
  };
}

// A body checked against document `name`; nullopt when the 400 was sent.
std::optional<Json> checked_body(const SessionPtr& s, ServerContext& ctx,
                                 const HttpSession::Request& req, std::string_view name) {
  auto body = json_body(s, req);
  if (!body) return std::nullopt;
  const BodyCheck check = ctx.schemas.check(name, *body);
  if (!check.valid) {
    s->reply_error(ApiError::invalid_body(check));
    return std::nullopt;
  }
  return body;
}

std::vector<std::string> loaded_models(const control::Readiness& r) {
  std::set<std::string> ids;
  for (const auto& w : r.workers) ids.insert(w.models.begin(), w.models.end());
  return {ids.begin(), ids.end()};
}

Json model_card(const std::string& id) {
  return Json{{"id", id}, {"object", "model"}, {"created", 0}, {"owned_by", "mlx-serving"}};
}

void completion(const SessionPtr& s, ServerContext& ctx, const HttpSession::Request& req,
                Endpoint endpoint) {
  auto body = json_body(s, req);
  if (!body) return;
  CompletionPlan plan;
  if (auto error = plan_completion(endpoint, ctx.schemas, *body, ctx.options.limits, &plan)) {
    s->reply_error(*error);
    return;
  }
  // Two are as bad as ten: the trace then starts afresh.
  std::vector<std::string> traceparents;
  const auto [first, last] = req.equal_range("traceparent");
  for (auto it = first; it != last && traceparents.size() < 2; ++it) {
    traceparents.emplace_back(to_std(it->value()));
  }
  auto job = std::make_shared<GenerationJob>(s, ctx, std::move(plan), traceparents);
  job->start();
}

// Ready means a model can serve. A worker lists a model only once its load
// answered, and a load answers only after one real token went through the
// model's engine (load_model's warm-up): nothing runs per probe.
control::Readiness serving_readiness(const ServerContext& ctx) {
  control::Readiness r = ctx.gateway.readiness();
  if (r.ready && loaded_models(r).empty()) {
    r.ready = false;
    r.reason = "no model is loaded";
  }
  return r;
}

Json readiness_json(const control::Readiness& r) {
  Json workers = Json::array();
  for (const auto& w : r.workers) {
    workers.push_back({{"name", w.name},
                       {"state", w.breaker_state},
                       {"models", w.models},
                       {"restarts", w.restarts},
                       {"last_error", w.last_error}});
  }
  return {{"ready", r.ready}, {"reason", r.reason}, {"workers", std::move(workers)}};
}

void readiness(const SessionPtr& s, ServerContext& ctx) {
  const control::Readiness r = serving_readiness(ctx);
  s->reply_json(r.ready ? 200 : 503, readiness_json(r));
}

// Each model the control plane knows of, on any worker: its state, what it
// holds (load_model's memory report) and the progress of its running or last
// load (the worker's model.load_progress reports).
Json model_details(const control::Readiness& r) {
  Json out = Json::array();
  for (const auto& w : r.workers) {
    for (const auto& m : w.model_status) {
      Json j = {{"id", m.id}, {"worker", w.name}, {"state", m.state}};
      if (m.memory) j.update(protocol::to_json(*m.memory));
      Json load;  // null: no report (yet)
      if (m.load) {
        load = protocol::to_json(*m.load);
        load.erase("model_id");
      }
      j["load"] = std::move(load);
      out.push_back(std::move(j));
    }
  }
  return out;
}

// What the built-in dashboard polls: /ready's view, the loaded models, each
// model's memory and load progress, and the worker's memory, always 200 (a
// page polling /ready with no model loaded would log a failed request every
// scrape); memory is null while no worker answers.
void status(const SessionPtr& s, ServerContext& ctx) {
  ctx.gateway.call("runtime/info", Json::object(), [s, &ctx](core::Result<Json> r) {
    net::post(s->executor(), [s, &ctx, r = std::move(r)] {
      const control::Readiness ready = serving_readiness(ctx);
      Json out = readiness_json(ready);
      out["models"] = loaded_models(ready);
      out["model_details"] = model_details(ready);
      out["memory"] = r.is_ok() ? r->value("memory", Json()) : Json();
      s->reply_json(200, out);
    });
  });
}

void models_get(const SessionPtr& s, ServerContext& ctx, const std::string& id) {
  const auto ids = loaded_models(ctx.gateway.readiness());
  if (id.empty()) {
    Json data = Json::array();
    for (const auto& m : ids) data.push_back(model_card(m));
    s->reply_json(200, {{"object", "list"}, {"data", std::move(data)}});
    return;
  }
  for (const auto& m : ids) {
    if (m == id) return s->reply_json(200, model_card(m));
  }
  ApiError e = ApiError::from_status(
      core::make_error(ErrorCode::kModelNotLoaded, "no model with id '{}' is loaded", id));
  e.param = "model";
  s->reply_error(e);
}

void models_load(const SessionPtr& s, ServerContext& ctx, const HttpSession::Request& req) {
  auto body = checked_body(s, ctx, req, "models.load");
  if (!body) return;
  auto dir = resolve_model_dir((*body)["path"].get<std::string>(), ctx.options.model_roots);
  if (!dir.is_ok()) {
    ApiError e = ApiError::from_status(dir.status());
    e.param = "path";
    return s->reply_error(e);
  }
  const std::string id = (*body)["model"].get<std::string>();
  Json params = {{"model_id", id}, {"local_path", *dir}};
  if (body->contains("context_length")) params["context_length"] = (*body)["context_length"];
  if (const auto q = body->find("quantization"); q != body->end() && !q->is_null()) {
    params["quantization"] = *q;
  } else if (!ctx.options.default_quantization.empty()) {
    params["quantization"] = ctx.options.default_quantization;
  }
  ctx.gateway.call("load_model", std::move(params), on_strand(s, [s, id](Json result) {
                     result.erase("cached_path");  // an internal path
                     Json out = model_card(id);
                     out["details"] = std::move(result);
                     s->reply_json(200, out);
                   }));
}

void models_unload(const SessionPtr& s, ServerContext& ctx, const HttpSession::Request& req) {
  auto body = checked_body(s, ctx, req, "models.unload");
  if (!body) return;
  const std::string id = (*body)["model"].get<std::string>();
  ctx.gateway.call("unload_model", {{"model_id", id}}, on_strand(s, [s, id](Json) {
                     s->reply_json(200, {{"id", id}, {"object", "model"}, {"unloaded", true}});
                   }));
}

void tokenize(const SessionPtr& s, ServerContext& ctx, const HttpSession::Request& req) {
  auto body = checked_body(s, ctx, req, "tokenize");
  if (!body) return;
  Json params = {{"model_id", (*body)["model"]}, {"text", (*body)["text"]}};
  if (body->contains("add_special_tokens")) {
    params["add_special_tokens"] = (*body)["add_special_tokens"];
  }
  ctx.gateway.call("tokenize", std::move(params), on_strand(s, [s](Json result) {
                     Json out = {{"tokens", result.value("tokens", Json::array())}};
                     out["count"] = out["tokens"].size();
                     if (result.contains("token_strings")) {
                       out["token_strings"] = result["token_strings"];
                     }
                     s->reply_json(200, out);
                   }));
}

void detokenize(const SessionPtr& s, ServerContext& ctx, const HttpSession::Request& req) {
  auto body = checked_body(s, ctx, req, "detokenize");
  if (!body) return;
  Json params = {{"model_id", (*body)["model"]}, {"tokens", (*body)["tokens"]}};
  if (body->contains("skip_special_tokens")) {
    params["skip_special_tokens"] = (*body)["skip_special_tokens"];
  }
  ctx.gateway.call("detokenize", std::move(params), on_strand(s, [s](Json result) {
                     s->reply_json(200, {{"text", result.value("text", std::string())}});
                   }));
}

// Our counters, the control plane's, and the engines' (KV, prefix cache,
// queues) from runtime/telemetry when a worker answers.
void metrics(const SessionPtr& s, ServerContext& ctx) {
  ctx.gateway.call("runtime/telemetry", Json::object(), [s, &ctx](core::Result<Json> r) {
    net::post(s->executor(), [s, &ctx, r = std::move(r)] {
      std::string text = ctx.metrics.render(serving_readiness(ctx), ctx.gateway.metrics());
      if (r.is_ok()) text += render_engine_telemetry(*r);
      text += ctx.metrics.render_load(r.is_ok() ? &*r : nullptr);
      text += render_trace_metrics(ctx.options.tracer.get(), r.is_ok() ? &*r : nullptr);
      s->reply_text(200, std::move(text), "text/plain; version=0.0.4; charset=utf-8");
    });
  });
}

void runtime_info(const SessionPtr& s, ServerContext& ctx) {
  ctx.gateway.call("runtime/info", Json::object(),
                   on_strand(s, [s](Json result) { s->reply_json(200, result); }));
}

void schemas(const SessionPtr& s, ServerContext& ctx, std::string name) {
  if (name.empty()) {
    Json data = Json::array();
    for (const auto& n : ctx.schemas.names()) {
      if (n != "common") data.push_back({{"name", n}, {"url", "/v1/schemas/" + n}});
    }
    return s->reply_json(200, {{"object", "list"}, {"data", std::move(data)}});
  }
  if (name.size() > 5 && name.ends_with(".json")) name.resize(name.size() - 5);
  if (const Json* doc = ctx.schemas.document(name)) {
    return s->reply_text(200, doc->dump(2), "application/schema+json");
  }
  s->reply_error(ApiError::http(404, kRouteNotFound, "no schema document of that name"));
}

// The built-in UI's files: revalidated by ETag, never cached blindly.
void web_asset(const SessionPtr& s, const HttpSession::Request& req, const std::string& path) {
  const AssetAnswer a = web_asset_answer(path, to_std(req[http::field::if_none_match]));
  if (a.status == 404) {
    return s->reply_error(ApiError::http(404, kRouteNotFound, "no such web UI asset"));
  }
  s->add_header("ETag", std::string(a.etag));
  s->add_header("Cache-Control", std::string(kWebCacheControl));
  s->add_header("X-Content-Type-Options", "nosniff");
  s->add_header("Content-Security-Policy", std::string(kWebContentSecurityPolicy));
  s->reply_text(a.status, std::string(a.body), std::string(a.content_type));
}

struct Route {
  http::verb verb;
  std::string_view path;  // exact, or a prefix ending in '/' that takes the rest as {id}
  std::string_view label;
  bool prefix;
};

constexpr Route kRoutes[] = {
    {http::verb::get, "/", "/", false},
    {http::verb::get, "/ui/", "/ui/{asset}", true},
    {http::verb::get, "/health", "/health", false},
    {http::verb::get, "/ready", "/ready", false},
    {http::verb::get, "/metrics", "/metrics", false},
    {http::verb::post, "/v1/chat/completions", "/v1/chat/completions", false},
    {http::verb::post, "/v1/completions", "/v1/completions", false},
    {http::verb::get, "/v1/models", "/v1/models", false},
    {http::verb::post, "/v1/models/load", "/v1/models/load", false},
    {http::verb::post, "/v1/models/unload", "/v1/models/unload", false},
    {http::verb::get, "/v1/models/", "/v1/models/{id}", true},
    {http::verb::post, "/v1/tokenize", "/v1/tokenize", false},
    {http::verb::post, "/v1/detokenize", "/v1/detokenize", false},
    {http::verb::get, "/v1/runtime/info", "/v1/runtime/info", false},
    {http::verb::get, "/v1/status", "/v1/status", false},
    {http::verb::get, "/v1/schemas", "/v1/schemas", false},
    {http::verb::get, "/v1/schemas/", "/v1/schemas/{name}", true},
};

bool matches(const Route& r, std::string_view path) {
  return r.prefix ? path.size() > r.path.size() && path.starts_with(r.path) : path == r.path;
}

std::string percent_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      const auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += in[i];
  }
  return out;
}

}  // namespace

bool authorized(std::string_view authorization, const std::vector<std::string>& keys) {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() || !authorization.starts_with(kBearer)) return false;
  const std::string_view token = authorization.substr(kBearer.size());
  bool ok = false;
  for (const auto& key : keys) ok |= equal_constant_time(token, key);
  return ok;
}

void route_request(const SessionPtr& s, ServerContext& ctx, HttpSession::Request req) {
  const std::string_view target = to_std(req.target());
  const std::string_view path = target.substr(0, target.find('?'));
  const Route* route = nullptr;
  bool path_known = false;
  for (const Route& r : kRoutes) {
    if (!matches(r, path)) continue;
    path_known = true;
    if (r.verb == req.method()) {
      route = &r;
      break;
    }
  }
  if (route == nullptr) {
    if (path_known) {
      return s->reply_error(ApiError::http(405, kMethodNotAllowed, "method not allowed here"));
    }
    return s->reply_error(ApiError::http(404, kRouteNotFound, "no such endpoint"));
  }
  s->set_route_label(std::string(route->label));
  // The UI's files are public: the page asks for the key, the API checks it.
  const bool is_public = route->path == "/health" || route->path == "/ready" ||
                         route->path == "/" || route->path == "/ui/";
  if (!ctx.options.api_keys.empty() && !is_public &&
      !authorized(to_std(req[http::field::authorization]), ctx.options.api_keys)) {
    return s->reply_error(
        ApiError::http(401, kUnauthorized, "missing or invalid API key (Authorization: Bearer)"));
  }
  const std::string rest =
      route->prefix ? percent_decode(path.substr(route->path.size())) : std::string();
  const std::string_view p = route->path;
  if (p == "/") return web_asset(s, req, "/");
  if (p == "/ui/") return web_asset(s, req, "/ui/" + rest);
  if (p == "/health") return s->reply_json(200, {{"status", "ok"}});
  if (p == "/ready") return readiness(s, ctx);
  if (p == "/metrics") return metrics(s, ctx);
  if (p == "/v1/chat/completions") return completion(s, ctx, req, Endpoint::kChat);
  if (p == "/v1/completions") return completion(s, ctx, req, Endpoint::kCompletions);
  if (p == "/v1/models") return models_get(s, ctx, "");
  if (p == "/v1/models/") return models_get(s, ctx, rest);
  if (p == "/v1/models/load") return models_load(s, ctx, req);
  if (p == "/v1/models/unload") return models_unload(s, ctx, req);
  if (p == "/v1/tokenize") return tokenize(s, ctx, req);
  if (p == "/v1/detokenize") return detokenize(s, ctx, req);
  if (p == "/v1/runtime/info") return runtime_info(s, ctx);
  if (p == "/v1/status") return status(s, ctx);
  if (p == "/v1/schemas") return schemas(s, ctx, "");
  return schemas(s, ctx, rest);
}

}  // namespace mlxs::server
