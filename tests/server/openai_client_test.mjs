// `mlx-serving serve` driven by the official `openai` npm package (the client
// users have): chat, streaming chat with usage, completions, models, n > 1,
// stop, logprobs and error cases, and a base64 PNG in a chat message answered
// by a vision model. Starts its own server on synthetic models.
// Usage: MLXS_BINARY=build/dev/mlx-serving node tests/server/openai_client_test.mjs
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';

const binary = process.env.MLXS_BINARY ?? 'mlx-serving';
const work = mkdtempSync(join(tmpdir(), 'mlxs-openai-'));
const modelDir = join(work, 'model');
const visionDir = join(work, 'vision');
// A 1 x 1 PNG, as a client would attach one.
const dotPng =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';

function synthModel() {
  const r = spawnSync(binary, ['dev', 'synth-model', '--preset', 'tiny', '--arch', 'qwen3',
    '--tokenizer', 'qwen3', '--dtype', 'f32', '--out', modelDir], { encoding: 'utf8' });
  assert.equal(r.status, 0, `synth-model failed: ${r.stderr}`);
  assert.ok(existsSync(join(modelDir, 'config.json')));
  // A Gemma 3 vision-language model with its real tokenizer and chat template.
  const v = spawnSync(binary, ['dev', 'synth-model', '--preset', 'tiny', '--arch', 'gemma3_text',
    '--vision', 'gemma3', '--tokenizer', 'gemma3', '--out', visionDir], { encoding: 'utf8' });
  assert.equal(v.status, 0, `synth-model --vision failed: ${v.stderr}`);
}

function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['serve', '--port', '0', '--model', `test=${modelDir}`,
      '--model', `vision=${visionDir}`, '--threads', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${log}`)), 300000);
    child.stderr.on('data', (d) => {
      log += d;
      const m = /on http:\/\/[^:\s]+:(\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}:\n${log}`)));
  });
}

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

test('models', async (client) => {
  const list = await client.models.list();
  assert.deepEqual(list.data.map((m) => m.id).sort(), ['test', 'vision']);
  const one = await client.models.retrieve('test');
  assert.equal(one.id, 'test');
});

const base = {
  model: 'test',
  messages: [{ role: 'user', content: 'Tell me a story' }],
  temperature: 0,
  max_tokens: 6,
  ignore_eos: true,
};

test('chat', async (client) => {
  const r = await client.chat.completions.create(base);
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 6);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 6);
  assert.equal(typeof r.usage.prompt_tokens_details.cached_tokens, 'number');
});

test('streaming chat with usage', async (client) => {
  const stream = await client.chat.completions.create({
    ...base, stream: true, stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  const last = chunks[chunks.length - 1];
  assert.equal(last.choices.length, 0);
  assert.equal(last.usage.completion_tokens, 6);
  const finishes = chunks.filter((c) => c.choices[0]?.finish_reason === 'length');
  assert.equal(finishes.length, 1);
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  const whole = await client.chat.completions.create(base);
  assert.equal(text, whole.choices[0].message.content, 'streamed and whole answers agree');
});

test('completions', async (client) => {
  const r = await client.completions.create({
    model: 'test', prompt: 'Once upon a time', max_tokens: 4, temperature: 0, ignore_eos: true,
  });
  assert.equal(r.object, 'text_completion');
  assert.equal(typeof r.choices[0].text, 'string');
  assert.equal(r.usage.completion_tokens, 4);
});

test('n > 1', async (client) => {
  const r = await client.chat.completions.create({ ...base, n: 3, temperature: 1, seed: 5 });
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2]);
  assert.equal(r.usage.completion_tokens, 18);
  const again = await client.chat.completions.create({ ...base, n: 3, temperature: 1, seed: 5 });
  assert.deepEqual(again.choices.map((c) => c.message.content),
    r.choices.map((c) => c.message.content), 'a seeded request is reproducible');
});

test('stop', async (client) => {
  const long = await client.chat.completions.create({ ...base, max_tokens: 12 });
  const text = long.choices[0].message.content;
  // A stop string taken from the middle of the greedy answer cuts it there.
  const at = Math.max(1, Math.floor(text.length / 2));
  const stop = text.slice(at, at + 1).trim() ? text.slice(at, at + 1) : text.slice(at, at + 2);
  assert.ok(stop.length > 0, `answer too short to test stop: ${JSON.stringify(text)}`);
  const cut = await client.chat.completions.create({ ...base, max_tokens: 12, stop: [stop] });
  assert.equal(cut.choices[0].finish_reason, 'stop');
  assert.equal(cut.choices[0].message.content, text.slice(0, text.indexOf(stop)));
});

test('logprobs', async (client) => {
  const r = await client.chat.completions.create({ ...base, logprobs: true, top_logprobs: 2 });
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, 6);
  for (const t of content) {
    assert.equal(typeof t.logprob, 'number');
    assert.ok(t.logprob <= 0);
    assert.ok(Array.isArray(t.top_logprobs));
  }
});

test('error cases', async (client) => {
  await assert.rejects(client.chat.completions.create({ ...base, temperature: 9 }), (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.code, 'InvalidParams');
    assert.equal(e.type, 'invalid_request_error');
    return true;
  });
  await assert.rejects(client.chat.completions.create({ ...base, model: 'nope' }), (e) => {
    assert.equal(e.status, 404);
    assert.equal(e.code, 'ModelNotLoaded');
    return true;
  });
  await assert.rejects(client.models.retrieve('nope'), (e) => e.status === 404);
});

test('streamed answer to a base64 PNG in a chat message', async (client) => {
  const stream = await client.chat.completions.create({
    model: 'vision',
    messages: [{
      role: 'user',
      content: [
        { type: 'text', text: 'What is in this picture?' },
        { type: 'image_url', image_url: { url: `data:image/png;base64,${dotPng}` } },
      ],
    }],
    temperature: 0,
    max_tokens: 5,
    ignore_eos: true,
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const last = chunks[chunks.length - 1];
  assert.equal(last.usage.completion_tokens, 5);
  // The image's 9 soft tokens between start and end of image, and the text.
  assert.ok(last.usage.prompt_tokens > 11 + 5, JSON.stringify(last.usage));
  const finish = chunks.find((c) => c.choices[0]?.finish_reason);
  assert.equal(finish.choices[0].finish_reason, 'length');
  // Another image, or a text model, are coded 400s.
  await assert.rejects(client.chat.completions.create({
    model: 'test', max_tokens: 2,
    messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${dotPng}` } }] }],
  }), (e) => e.status === 400 && e.code === 'InvalidParams');
  await assert.rejects(client.chat.completions.create({
    model: 'vision', max_tokens: 2,
    messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }],
  }), (e) => e.status === 400 && e.code === 'InvalidParams');
});

test('the original API image extras on completions', async (client) => {
  const r = await client.completions.create({
    model: 'vision', prompt: 'Describe it.', max_tokens: 3, temperature: 0, ignore_eos: true,
    image: { source: `data:image/png;base64,${dotPng}` },
  });
  assert.equal(r.usage.completion_tokens, 3);
  assert.ok(r.usage.prompt_tokens > 11, JSON.stringify(r.usage));
});

synthModel();
const { child, port } = await startServer();
const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused', maxRetries: 0 });
let failed = 0;
for (const t of tests) {
  try {
    await t.fn(client);
    console.log(`ok - ${t.name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${t.name}\n${e.stack ?? e}`);
  }
}
child.kill('SIGTERM');
process.exitCode = failed ? 1 : 0;
