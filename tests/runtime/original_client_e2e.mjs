// A client of the original mlx-serving runtime protocol, written from
// ../shared/compat/ (jsonrpc.md, errors.md, client.md) only, driving
// `mlx-serving runtime` the way the original TypeScript Engine does:
// spawn, readiness marker + probe, load_model, generate (batch_generate and
// plain generate) with streaming, tokenize (+ batch_tokenize), unload_model,
// load_vision_model + generate_with_image (a base64 PNG), shutdown. Every rule the original client enforces is checked here, so a
// runtime that would get killed or hang under it fails this test.
//
// Usage: MLXS_BINARY=/path/to/mlx-serving node original_client_e2e.mjs
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";

const BINARY = process.env.MLXS_BINARY;
if (!BINARY) {
  console.error("MLXS_BINARY is not set");
  process.exit(2);
}

// compat/jsonrpc.md §1: the client's read-buffer cap on pending stdout text.
const MAX_PENDING_BYTES = 65536;
const READY_MARKER = "MLX Runtime ready";
const STARTUP_TIMEOUT_MS = 15000;
const PROBE_FALLBACK_MS = 3000;
const SHUTDOWN_TIMEOUT_MS = 5000;
const REQUEST_TIMEOUT_MS = 60000;

// ---------------------------------------------------------------- checks
// The shapes the original client's schemas accept (compat/client.md).

function isInt(v) {
  return Number.isInteger(v);
}

function checkChunkToken(t) {
  assert.equal(typeof t.stream_id, "string", "chunk token stream_id");
  assert.equal(typeof t.token, "string", "chunk token text");
  assert.ok(isInt(t.token_id) && t.token_id >= 0, `token_id must be an integer >= 0: ${t.token_id}`);
  assert.equal(typeof t.is_final, "boolean", "is_final must be a boolean");
  if ("logprob" in t) assert.equal(typeof t.logprob, "number");
}

function checkChunk(p) {
  if ("tokens" in p) {
    assert.ok(Array.isArray(p.tokens) && p.tokens.length > 0, "batched chunk has tokens");
    for (const t of p.tokens) checkChunkToken(t);
    return p.tokens;
  }
  checkChunkToken(p);
  return [p];
}

function checkStats(p) {
  for (const key of ["tokens_generated", "tokens_per_second", "time_to_first_token", "total_time"]) {
    assert.equal(typeof p[key], "number", `stats.${key}`);
    assert.ok(p[key] >= 0, `stats.${key} >= 0`);
  }
}

function checkEvent(p) {
  assert.ok(p.event === "completed" || p.event === "error", `event: ${p.event}`);
  assert.equal(typeof p.is_final, "boolean", "event is_final");
  if (p.event === "error") assert.equal(typeof p.error, "string");
}

// ---------------------------------------------------------------- transport

class RpcError extends Error {
  constructor(error) {
    super(error.message);
    this.code = error.code;
    this.data = error.data;
  }
}

class Runtime {
  constructor(child) {
    this.child = child;
    this.nextId = 1;
    this.pending = new Map();
    this.streams = new Map();
    this.ready = false;
    this.buffer = "";
    this.stderr = "";
    this.failure = null;
    this.exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (text) => this.onStdout(text));
    child.stderr.setEncoding("utf8");
  }

  fail(message) {
    if (!this.failure) this.failure = new Error(message);
    for (const { reject } of this.pending.values()) reject(this.failure);
    this.pending.clear();
    for (const s of this.streams.values()) s.reject(this.failure);
  }

  onStdout(text) {
    this.buffer += text;
    // The original checks the whole pending text, not one line.
    if (this.buffer.length > MAX_PENDING_BYTES) {
      this.fail(`stdout buffer passed ${MAX_PENDING_BYTES} bytes: the original client would kill the runtime`);
      return;
    }
    let nl;
    while ((nl = this.buffer.indexOf("\n")) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      if (line.trim() === "") continue;
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        // Before readiness non-JSON is ignored; after it the client kills the runtime.
        if (this.ready) this.fail(`non-JSON line on stdout: ${line.slice(0, 200)}`);
        continue;
      }
      this.onMessage(msg);
    }
  }

  onMessage(msg) {
    assert.equal(msg.jsonrpc, "2.0", "every message is JSON-RPC 2.0");
    if ("result" in msg || "error" in msg) {
      const entry = this.pending.get(msg.id);
      if (!entry) return;  // unknown or late ids are dropped, as the original does
      this.pending.delete(msg.id);
      if ("error" in msg) entry.reject(new RpcError(msg.error));
      else entry.resolve(msg.result);
      return;
    }
    if (typeof msg.method === "string" && !("id" in msg)) this.onNotification(msg.method, msg.params);
  }

  onNotification(method, params) {
    // compat/jsonrpc.md §5: the original client knows these three; ours
    // (stream.step, model.load_progress) must never reach it unasked.
    if (!["stream.chunk", "stream.stats", "stream.event"].includes(method)) {
      this.fail(`a notification the original client does not know: ${method}`);
      return;
    }
    const stream = this.streams.get(params?.stream_id);
    if (!stream) return;  // unknown or finished streams are ignored
    try {
      if (method === "stream.chunk") {
        assert.ok(!stream.stats, "no chunk after stats");
        for (const t of checkChunk(params)) stream.tokens.push(t);
      } else if (method === "stream.stats") {
        checkStats(params);
        assert.ok(!stream.stats, "stats once");
        stream.stats = params;
      } else if (method === "stream.event") {
        checkEvent(params);
        if (params.event === "completed") assert.ok(stream.stats, "stats come before completed");
        this.streams.delete(params.stream_id);
        stream.resolve({ tokens: stream.tokens, stats: stream.stats, event: params });
      } else {
        throw new Error(`unexpected notification ${method}`);
      }
    } catch (e) {
      this.streams.delete(params.stream_id);
      stream.reject(e);
    }
  }

  write(obj) {
    this.child.stdin.write(JSON.stringify(obj) + "\n");
  }

  request(method, params, id = this.nextId++) {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`Request timed out after ${REQUEST_TIMEOUT_MS}ms: ${method} (id: ${id})`));
      }, REQUEST_TIMEOUT_MS);
      const done = (fn) => (v) => {
        clearTimeout(timer);
        fn(v);
      };
      this.pending.set(id, { resolve: done(resolve), reject: done(reject) });
      const msg = { jsonrpc: "2.0", method, id };
      if (params !== undefined) msg.params = params;
      this.write(msg);
    });
  }

  // Registers the stream before the start request, as the original does.
  expectStream(streamId) {
    let resolve, reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.streams.set(streamId, { tokens: [], stats: null, resolve, reject });
    return promise;
  }
}

// compat/jsonrpc.md §3: marker on stderr (one read), then one probe.
async function start(args) {
  const child = spawn(BINARY, args, { stdio: ["pipe", "pipe", "pipe"] });
  const rt = new Runtime(child);
  const probe = await new Promise((resolve, reject) => {
    let sent = false;
    const send = () => {
      if (sent) return;
      sent = true;
      rt.request("runtime/info", undefined, "readiness-probe").then(resolve, reject);
    };
    const fallback = setTimeout(send, PROBE_FALLBACK_MS);
    const timeout = setTimeout(() => reject(new Error("runtime failed to start within 15000 ms")), STARTUP_TIMEOUT_MS);
    child.stderr.on("data", (chunk) => {
      rt.stderr += chunk;
      if (chunk.includes(READY_MARKER)) {
        clearTimeout(fallback);
        rt.markerSeen = true;
        send();
      }
    });
    child.on("exit", (code) => reject(new Error(`runtime exited during startup with code ${code}`)));
    rt.exited.then(() => clearTimeout(timeout));
    const clear = () => {
      clearTimeout(timeout);
      clearTimeout(fallback);
    };
    rt.startupDone = clear;
  });
  rt.startupDone();
  rt.ready = true;
  return { rt, probe };
}

// ---------------------------------------------------------------- the test

function streamId(n) {
  return `5d3c1f0e-0000-4000-8000-${String(n).padStart(12, "0")}`;
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), "mlxs-client-e2e-"));
  try {
    const modelDir = join(work, "tiny");
    const synth = spawnSync(BINARY, ["dev", "synth-model", "--preset", "tiny", "--dtype", "f32", "--out", modelDir], {
      encoding: "utf8",
    });
    assert.equal(synth.status, 0, `synth-model failed: ${synth.stderr}`);

    const { rt, probe } = await start(["runtime"]);
    assert.ok(rt.markerSeen, "the readiness marker came in one stderr read");

    // runtime/info as the client's schema wants it (§4.1).
    for (const key of ["version", "mlx_version", "mlx_lm_version", "protocol"]) {
      assert.equal(typeof probe[key], "string", `runtime/info.${key}`);
    }
    assert.equal(probe.protocol, "json-rpc-2.0");
    assert.ok(Array.isArray(probe.capabilities));
    for (const cap of ["batch_generate", "batch_tokenize", "batch_check_draft"]) {
      assert.ok(probe.capabilities.includes(cap), `capability ${cap}`);
    }
    assert.ok(isInt(probe.memory.rss) && isInt(probe.memory.vms));

    let state = await rt.request("runtime/state");
    assert.deepEqual(state.loaded_models, []);

    // load_model exactly as the original Engine sends it (§4.5).
    const modelId = "org/tiny-model";
    const loaded = await rt.request("load_model", { model_id: modelId, draft: false, local_path: modelDir });
    assert.equal(loaded.model_id, modelId);
    assert.equal(loaded.state, "ready");
    assert.ok(isInt(loaded.context_length) && loaded.context_length > 0);
    assert.ok(isInt(loaded.parameter_count));
    assert.equal(typeof loaded.dtype, "string");
    assert.equal(loaded.is_vision_model, false);
    assert.ok(loaded.cached_path === null || typeof loaded.cached_path === "string");

    state = await rt.request("runtime/state");
    assert.deepEqual(state.loaded_models, [{ model_id: modelId, state: "ready", type: "text" }]);

    // tokenize and batch_tokenize (§4.12-4.13).
    const tok = await rt.request("tokenize", { model_id: modelId, text: "Hello world", add_special_tokens: false });
    assert.ok(tok.tokens.length > 0 && tok.tokens.every(isInt));
    assert.equal(tok.token_strings.length, tok.tokens.length);
    const batchTok = await rt.request("batch_tokenize", {
      requests: [
        { model_id: modelId, text: "Hello world", add_special_tokens: false },
        { model_id: "absent-model", text: "x" },
      ],
    });
    assert.equal(batchTok.results.length, 2);
    assert.equal(batchTok.results[0].success, true);
    assert.deepEqual(batchTok.results[0].result.tokens, tok.tokens);
    assert.equal(batchTok.results[1].success, false);
    assert.equal(batchTok.results[1].error, "Model not loaded: absent-model");

    // batch_generate, the client's default path, with several streams at once (§4.8).
    const params = (n, maxTokens) => ({
      model_id: modelId,
      prompt: `Tell me a story number ${n}`,
      stream_id: streamId(n),
      streaming: true,
      max_tokens: maxTokens,
      temperature: 0,
      top_p: 1,
    });
    const batch = [params(1, 24), params(2, 40), params(3, 8)];
    const streams = batch.map((p) => rt.expectStream(p.stream_id));
    const started = await rt.request("batch_generate", { requests: batch });
    assert.equal(started.results.length, batch.length);
    for (let i = 0; i < batch.length; i++) {
      const r = started.results[i];
      assert.equal(r.success, true, JSON.stringify(r));
      assert.equal(r.result.stream_id, batch[i].stream_id);
      assert.equal(typeof r.result.started_at, "number");
      assert.equal(r.error, null);
    }
    const outputs = await Promise.all(streams);
    for (let i = 0; i < batch.length; i++) {
      const { tokens, stats, event } = outputs[i];
      assert.equal(event.event, "completed", JSON.stringify(event));
      assert.equal(event.is_final, true);
      assert.ok(tokens.length <= batch[i].max_tokens);
      assert.equal(stats.tokens_generated, tokens.length);
      assert.ok(stats.time_to_first_token <= stats.total_time);
      for (const t of tokens) assert.equal(t.stream_id, batch[i].stream_id);
    }

    // Plain generate (batching off in the client): same greedy output as the batch.
    const single = rt.expectStream(streamId(4));
    const g = await rt.request("generate", { ...params(1, 24), stream_id: streamId(4) });
    assert.equal(g.stream_id, streamId(4));
    const out = await single;
    assert.equal(out.event.event, "completed");
    assert.deepEqual(
      out.tokens.map((t) => t.token_id),
      outputs[0].tokens.map((t) => t.token_id),
      "greedy output does not depend on the batch",
    );
    assert.equal(out.tokens.map((t) => t.token).join(""), outputs[0].tokens.map((t) => t.token).join(""));

    // Errors: codes and data the client maps (errors.md §1, §3.4).
    await assert.rejects(rt.request("generate", { model_id: "absent-model", prompt: "x" }), (e) => {
      assert.equal(e.code, -32005);
      assert.equal(e.message, "Model not loaded: absent-model");
      assert.equal(e.data.model_id, "absent-model");
      return true;
    });
    await assert.rejects(rt.request("generate", { model_id: modelId, prompt: "x", max_tokens: 0 }), (e) => {
      assert.equal(e.code, -32602);
      return true;
    });
    await assert.rejects(rt.request("no_such_method", {}), (e) => {
      assert.equal(e.code, -32602);
      assert.match(e.message, /Unknown method: no_such_method/);
      return true;
    });

    // unload_model (§4.6), then the model is gone.
    assert.deepEqual(await rt.request("unload_model", { model_id: modelId }), { success: true });
    state = await rt.request("runtime/state");
    assert.deepEqual(state.loaded_models, []);
    await assert.rejects(rt.request("tokenize", { model_id: modelId, text: "x" }), (e) => e.code === -32005);

    // Vision (§4.16-4.17): a Gemma 3 VLM with its real tokenizer, loaded and
    // asked about a 1 x 1 PNG exactly as the original client sends it.
    const visionDir = join(work, "vlm");
    const vsynth = spawnSync(
      BINARY,
      ["dev", "synth-model", "--preset", "tiny", "--arch", "gemma3_text", "--vision", "gemma3", "--tokenizer", "gemma3", "--out", visionDir],
      { encoding: "utf8" },
    );
    assert.equal(vsynth.status, 0, `synth-model --vision failed: ${vsynth.stderr}`);
    const visionId = "org/tiny-vlm";
    const vloaded = await rt.request("load_vision_model", {
      model_id: visionId,
      revision: "main",
      quantization: null,
      local_path: visionDir,
    });
    assert.equal(vloaded.model_id, visionId);
    assert.equal(vloaded.state, "ready");
    assert.equal(vloaded.is_vision_model, true);
    assert.equal(typeof vloaded.processor_type, "string");
    assert.ok(vloaded.image_size === null || isInt(vloaded.image_size));
    assert.ok(isInt(vloaded.context_length));
    state = await rt.request("runtime/state");
    assert.deepEqual(state.loaded_models, [{ model_id: visionId, state: "ready", type: "vision" }]);
    const dot = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
    for (const [n, image] of [
      [5, `data:image/png;base64,${dot}`],
      [6, dot],
    ]) {
      const vstream = rt.expectStream(streamId(n));
      const started = await rt.request("generate_with_image", {
        model_id: visionId,
        prompt: "Describe the image.",
        image,
        max_tokens: 5,
        temperature: 0.0,
        top_p: 1.0,
        stream_id: streamId(n),
      });
      assert.equal(started.stream_id, streamId(n));
      assert.equal(typeof started.started_at, "number");
      const vout = await vstream;
      assert.equal(vout.event.event, "completed", JSON.stringify(vout.event));
      assert.ok(vout.tokens.length >= 1 && vout.tokens.length <= 5);
    }
    await assert.rejects(
      rt.request("generate_with_image", { model_id: visionId, prompt: "x", image: "not base64!", max_tokens: 2 }),
      (e) => e.code === -32602,
    );
    assert.deepEqual(await rt.request("unload_model", { model_id: visionId }), { success: true });

    // shutdown (§3.6): raw write with the string id, exit 0 within 5 s.
    const bye = rt.request("shutdown", undefined, "shutdown");
    const exited = await Promise.race([
      rt.exited,
      new Promise((resolve) => setTimeout(() => resolve(null), SHUTDOWN_TIMEOUT_MS)),
    ]);
    assert.ok(exited, "the runtime exits within 5 s of shutdown");
    assert.equal(exited.code, 0);
    assert.deepEqual(await bye, { success: true });
    assert.equal(rt.failure, null, String(rt.failure));

    // End of stdin ends the runtime too.
    const second = await start(["runtime", "--stdio"]);
    second.rt.child.stdin.end();
    const eof = await Promise.race([
      second.rt.exited,
      new Promise((resolve) => setTimeout(() => resolve(null), SHUTDOWN_TIMEOUT_MS)),
    ]);
    assert.ok(eof && eof.code === 0, "the runtime exits 0 at the end of stdin");
    console.log("original client e2e: ok");
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
