// The built-in web UI (web/) in a real headless browser: Debian's chromium
// driven by playwright-core, against `mlx-serving serve` on loopback with a
// synthetic model and an API key. The page must ask for the key, stream an
// answer, stop mid-stream (the server's running count goes back to 0),
// produce a structured answer that parses, show the server's coded errors
// (and its own for an empty message or an oversized image),
// and the dashboard must show a request arriving and finishing and load and
// unload a model; the page must also work behind a path prefix (a proxy in
// the test). Any browser console error fails the test. Screenshots of
// each view are written to the artifact folder.
//
// Usage: MLXS_BINARY=build/dev/mlx-serving node tests/web/ui_e2e.mjs [artifact-dir]
// Exits 77 (CTest's SKIP_RETURN_CODE) when chromium or playwright-core is missing.
import assert from 'node:assert/strict';
import {spawn, spawnSync} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, rmSync} from 'node:fs';
import http from 'node:http';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';

const SKIP = 77;
const KEY = 'ui-e2e-key';
const binary = process.env.MLXS_BINARY ?? 'mlx-serving';
const artifacts = resolve(process.argv[2] ?? process.env.MLXS_ARTIFACTS ?? 'ui-artifacts');
const browserPath = [
  process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'
].find((p) => p && existsSync(p));

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  console.log('SKIP: playwright-core is not installed (scripts/setup.sh installs it)');
  process.exit(SKIP);
}
if (!browserPath) {
  console.log('SKIP: no chromium binary (scripts/setup.sh installs Debian\'s chromium)');
  process.exit(SKIP);
}

const work = mkdtempSync(join(tmpdir(), 'mlxs-ui-'));
mkdirSync(artifacts, { recursive: true });

function synthModel() {
  const r = spawnSync(
    binary,
    [
      'dev', 'synth-model', '--preset', 'tiny', '--arch', 'qwen3', '--tokenizer', 'qwen3',
      '--dtype', 'f32', '--out', join(work, 'model')
    ],
    { encoding: 'utf8' });
  assert.equal(r.status, 0, `synth-model failed: ${r.error ?? r.stderr}`);
  // A vision-language model (Gemma 3 shapes, its real tokenizer and template).
  const v = spawnSync(
    binary,
    [
      'dev', 'synth-model', '--preset', 'tiny', '--arch', 'gemma3_text', '--vision', 'gemma3',
      '--tokenizer', 'gemma3', '--out', join(work, 'vision')
    ],
    { encoding: 'utf8' });
  assert.equal(v.status, 0, `synth-model --vision failed: ${v.error ?? v.stderr}`);
}

function startServer() {
  return new Promise((resolvePort, reject) => {
    const child = spawn(
      binary,
      [
        'serve', '--port', '0', '--model', `test=${join(work, 'model')}`, '--model',
        `vision=${join(work, 'vision')}`, '--model-root', work,
        '--api-key', KEY, '--threads', '2'
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${log}`)), 120000);
    child.stderr.on('data', (d) => {
      log += d;
      const m = /on http:\/\/[^:\s]+:(\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolvePort({ child, port: Number(m[1]) });
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}:\n${log}`)));
  });
}

// A reverse proxy that mounts the server under `prefix` (as nginx would with
// `location /llm/ { proxy_pass http://server/; }`), streaming both ways; a
// client that goes away takes the upstream request with it.
function startPrefixProxy(prefix, port) {
  const proxy = http.createServer((req, res) => {
    if (!req.url.startsWith(prefix)) {
      res.writeHead(404).end();
      return;
    }
    const upstream = http.request(
      {
        host: '127.0.0.1',
        port,
        method: req.method,
        path: req.url.slice(prefix.length - 1),
        headers: req.headers
      },
      (up) => {
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
      });
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  return new Promise((done) => proxy.listen(0, '127.0.0.1', () => done(proxy)));
}

// A 1 x 1 PNG attached through the page's file input.
async function attachDot() {
  await page.setInputFiles('#attach', {
    name: 'dot.png',
    mimeType: 'image/png',
    buffer: Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==',
      'base64')
  });
  await waitFor(
    'the attached image',
    async () => (await page.locator('#attach-name').textContent()) === 'Attached: dot.png');
}

// Polls `check` until it returns a truthy value; fails with `what` after `ms`.
async function waitFor(what, check, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

synthModel();
const { child: server, port } = await startServer();
const base = `http://127.0.0.1:${port}`;
const auth = {
  Authorization: `Bearer ${KEY}`
};

async function metric(name) {
  const text = await (await fetch(`${base}/metrics`, { headers: auth })).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      total += Number(line.split(' ').at(-1));
  }
  return total;
}

const browser = await chromium.launch({
  executablePath: browserPath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage']
});
const consoleErrors = [];
// Statuses the test provokes on purpose; the browser logs each failed
// request as a console error, which is expected only for these.
const expectedStatuses = new Set();
let failed = false;
let page = null;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const watch = (p) => {
    p.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
    p.on('console', (m) => {
      if (m.type() !== 'error') return;
      const status = /status of (\d+)/.exec(m.text());
      if (status && expectedStatuses.has(Number(status[1]))) return;
      consoleErrors.push(m.text());
    });
    return p;
  };
  page = watch(await context.newPage());
  let chatRequests = 0;
  page.on('request', (r) => {
    if (r.url().endsWith('/v1/chat/completions')) chatRequests += 1;
  });

  // The page and its files are public; the API, /v1/status included, is not.
  const plain = await fetch(`${base}/ui/app.css`);
  assert.equal(plain.status, 200);
  assert.match(plain.headers.get('content-type'), /^text\/css/);
  const etag = plain.headers.get('etag');
  const again = await fetch(`${base}/ui/app.css`, { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  assert.equal((await fetch(`${base}/v1/status`)).status, 401);
  const status = await (await fetch(`${base}/v1/status`, { headers: auth })).json();
  assert.deepEqual([...status.models].sort(), ['test', 'vision']);
  assert.equal(typeof status.memory.rss, 'number');

  // The page asks for the key when the API refuses it.
  expectedStatuses.add(401);
  await page.goto(`${base}/`);
  await page.locator('#key-dialog').waitFor({ state: 'visible' });
  await page.fill('#key-input', KEY);
  await page.click('#key-ok');
  await waitFor(
    'the model list',
    async () => (await page.locator('#model option').allTextContents()).includes('test'));
  expectedStatuses.delete(401);

  // A streamed answer.
  await page.click('#settings summary');
  await page.fill('#temperature', '0');
  await page.fill('#max_tokens', '8');
  const streamed = page.waitForResponse((r) => r.url().endsWith('/v1/chat/completions'));
  await page.fill('#prompt', 'Hello there');
  await page.keyboard.press('Enter');
  const response = await streamed;
  assert.match(response.headers()['content-type'], /text\/event-stream/);
  assert.equal(JSON.parse(response.request().postData()).stream, true);
  const answer = page.locator('#messages li.assistant').last();
  await waitFor(
    'the first answer', async () => (await answer.getAttribute('data-finish')) !== null);
  assert.equal(await answer.getAttribute('data-finish'), 'length');
  assert.ok((await answer.locator('.content').textContent()).length > 0, 'the answer has text');
  assert.match(await answer.locator('.stats').textContent(), /tok\/s · TTFT \d+ ms · 8 tokens/);
  await page.screenshot({ path: join(artifacts, 'chat.png'), fullPage: true });

  // Stop mid-stream: the server cancels the request and frees its sequence.
  await page.fill('#max_tokens', '3000');
  await page.fill('#prompt', 'Tell me a very long story');
  await page.click('#send');
  const live = page.locator('#messages li.assistant').last();
  await waitFor(
    'streamed text', async () => ((await live.locator('.content').textContent()) || '').length > 0);
  assert.equal(await live.getAttribute('data-finish'), null, 'still streaming when stopped');
  await page.click('#stop-button');
  await waitFor(
    'the stopped answer', async () => (await live.getAttribute('data-finish')) === 'stopped');
  await waitFor(
    'running back to 0',
    async () => (await metric('mlxs_requests_running')) === 0 &&
      (await metric('mlxs_streams_running')) === 0);

  // Regenerate replaces the last answer.
  await page.fill('#max_tokens', '4');
  const before = await page.locator('#messages li').count();
  await page.click('#regenerate');
  await waitFor(
    'the regenerated answer',
    async () =>
      (await page.locator('#messages li.assistant').last().getAttribute('data-finish')) ===
      'length');
  assert.equal(await page.locator('#messages li').count(), before);

  // Edit an earlier turn: what followed it is replaced by a new answer.
  await page.locator('#messages li.user').first().locator('button.edit').click();
  await page.locator('#messages textarea').fill('Hello again');
  await page.locator('#messages button.save').click();
  await waitFor(
    'the answer to the edited turn',
    async () => (await page.locator('#messages li').count()) === 2 &&
      (await page.locator('#messages li.assistant').last().getAttribute('data-finish')) !== null);
  assert.equal(
    await page.locator('#messages li.user .content').first().textContent(), 'Hello again');

  // Structured output: the answer parses and matches the schema.
  await page.click('#new-chat');
  await page.fill('#max_tokens', '30');
  await page.fill('#schema', JSON.stringify({
    type: 'object',
    properties: { ok: { type: 'boolean' } },
    required: ['ok'],
    additionalProperties: false
  }));
  await page.fill('#prompt', 'Is it ok?');
  await page.click('#send');
  const structured = page.locator('#messages li.assistant').last();
  await waitFor(
    'the structured answer', async () => (await structured.getAttribute('data-finish')) !== null);
  const parsed = JSON.parse(await structured.locator('.content').textContent());
  assert.equal(typeof parsed.ok, 'boolean');
  assert.match(await structured.locator('.stats').textContent(), /JSON parses/);

  // Bad input: an empty message never leaves the page; an invalid schema
  // shows the server's coded 400.
  const sent = chatRequests;
  await page.fill('#prompt', '   ');
  await page.click('#send');
  await page.locator('#chat-error').waitFor({ state: 'visible' });
  assert.match(await page.locator('#chat-error').textContent(), /EmptyMessage/);
  assert.equal(chatRequests, sent, 'an empty message is not sent');
  expectedStatuses.add(400);
  await page.fill('#schema', '{"type": "bogus"}');
  await page.fill('#prompt', 'Again');
  await page.click('#send');
  await waitFor(
    'the server error',
    async () => /GuidanceError/.test(await page.locator('#chat-error').textContent()));
  assert.match(await page.locator('#chat-error').textContent(), /must name JSON types/);
  await page.fill('#schema', '');
  // An image over the page's limit is refused before upload; one within it
  // reaches the server, which says the text model takes no images.
  const beforeImages = chatRequests;
  await page.setInputFiles(
    '#attach', { name: 'big.png', mimeType: 'image/png', buffer: Buffer.alloc(5 * 1024 * 1024) });
  await waitFor(
    'the attachment error',
    async () => /AttachmentTooLarge/.test(await page.locator('#chat-error').textContent()));
  assert.equal(await page.locator('#attach-name').textContent(), '');
  await attachDot();
  await page.fill('#prompt', 'What is in this picture?');
  await page.click('#send');
  await waitFor(
    'the server\'s answer to the image',
    async () => /takes no images/.test(await page.locator('#chat-error').textContent()));
  assert.match(await page.locator('#chat-error').textContent(), /InvalidParams/);
  assert.equal(chatRequests, beforeImages + 1, 'only the image within the limit was sent');
  assert.equal(await page.locator('#attach-name').textContent(), '');
  await page.screenshot({ path: join(artifacts, 'chat-error.png'), fullPage: true });
  expectedStatuses.delete(400);

  // The vision model answers about the attached image, streamed.
  await page.click('#new-chat');
  await page.selectOption('#model', 'vision');
  await attachDot();
  const imageAsked = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
  await page.fill('#prompt', 'What is in this picture?');
  await page.click('#send');
  const imageBody = JSON.parse((await imageAsked).postData());
  assert.equal(imageBody.model, 'vision');
  assert.ok(
    imageBody.messages.at(-1).content.some((part) => part.type === 'image_url'),
    'the image travels as a content part');
  const seen = page.locator('#messages li.assistant').last();
  await waitFor('the answer about the image', async () => (await seen.getAttribute('data-finish')) !== null);
  assert.equal(await seen.getAttribute('data-finish'), 'length');
  assert.equal(await page.locator('#chat-error').textContent(), '');
  await page.screenshot({ path: join(artifacts, 'chat-image.png'), fullPage: true });
  await page.click('#new-chat');
  await page.selectOption('#model', 'test');

  // The dashboard sees a request arrive and finish.
  await page.click('#nav-dashboard');
  const stat = async (id) => page.locator(`#${id}`).getAttribute('data-value');
  await waitFor('the first scrape', async () => (await stat('stat-finished')) !== null);
  const finishedBefore = Number(await stat('stat-finished'));
  const abort = new AbortController();
  const pending = fetch(`${base}/v1/chat/completions`, {
                    method: 'POST',
                    signal: abort.signal,
                    headers: {...auth, 'Content-Type': 'application/json' },
                    body: JSON.stringify({
                      model: 'test',
                      messages: [{ role: 'user', content: 'Count to a thousand' }],
                      max_tokens: 3000,
                      stream: true
                    }),
                  })
                    .then((r) => r.body.getReader().read())
                    .catch(() => null);
  await waitFor(
    'the dashboard to show a running request', async () => Number(await stat('stat-running')) >= 1);
  await page.screenshot({ path: join(artifacts, 'dashboard-running.png'), fullPage: true });
  abort.abort();
  await pending;
  await waitFor(
    'the dashboard to show it gone', async () => Number(await stat('stat-running')) === 0);
  // A request that runs to its end is counted as finished (a cancelled one
  // is not: the server counts answered requests).
  const done = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: {...auth, 'Content-Type': 'application/json' },
    body:
      JSON.stringify({ model: 'test', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4 }),
  });
  assert.equal(done.status, 200);
  await waitFor(
    'the dashboard to count it finished',
    async () => Number(await stat('stat-finished')) > finishedBefore);
  assert.match(await page.locator('#workers').textContent(), /worker-0.*Running/);
  assert.notEqual(await page.locator('#stat-ttft').textContent(), '–');
  assert.match(await page.locator('#errors').textContent(), /GuidanceError/);

  // Each loaded model shows what it holds, as v1/status reports it.
  const statusNow = async () => (await fetch(`${base}/v1/status`, { headers: auth })).json();
  const testRow = page.locator('#models li[data-model="test"]');
  await waitFor(
    'the model memory', async () => Number(await testRow.getAttribute('data-weights-bytes')) > 0);
  const testDetail = (await statusNow()).model_details.find((d) => d.id === 'test');
  assert.equal(Number(await testRow.getAttribute('data-weights-bytes')), testDetail.weights_bytes);
  assert.equal(Number(await testRow.getAttribute('data-kv-bytes')), testDetail.kv_cache_bytes);
  assert.match(
    await testRow.locator('.model-memory').textContent(),
    /weights \+ .* KV cache \(\d+ blocks\) on cpu/);
  // The total covers every loaded model (the text and the vision one).
  const details = (await statusNow()).model_details;
  assert.equal(
    Number(await stat('stat-model-memory')),
    details.reduce((sum, d) => sum + d.weights_bytes + d.kv_cache_bytes, 0));

  // Admin: load a second model from the root, then unload it. The bar shows
  // the worker's progress: it never goes back and ends full.
  await page.evaluate(() => {
    window.loadBarValues = [];
    const bar = document.getElementById('load-progress-bar');
    new MutationObserver(() => {
      if (bar.hasAttribute('value')) window.loadBarValues.push([bar.value, bar.max]);
    }).observe(bar, { attributes: true });
  });
  await page.fill('#load-id', 'second');
  await page.fill('#load-path', 'model');
  await page.click('#load-button');
  await waitFor(
    'the loaded model',
    async () => (await page.locator('#models li[data-model="second"]').count()) === 1, 60000);
  assert.match(await page.locator('#load-status').textContent(), /Loaded second/);
  const box = page.locator('#load-progress');
  await waitFor('the finished load', async () => (await box.getAttribute('data-state')) === 'done');
  assert.ok(await box.isVisible(), 'the finished bar stays shown');
  const secondLoad = (await statusNow()).model_details.find((d) => d.id === 'second').load;
  assert.ok(secondLoad && secondLoad.total_bytes > 0, 'the server kept the load\'s last report');
  assert.equal(Number(await box.getAttribute('data-total')), secondLoad.total_bytes);
  assert.equal(Number(await box.getAttribute('data-done')), secondLoad.total_bytes);
  const [barValue, barMax] = await page.evaluate(() => {
    const bar = document.getElementById('load-progress-bar');
    return [bar.value, bar.max];
  });
  assert.equal(barMax, secondLoad.total_bytes);
  assert.equal(barValue, barMax, 'the bar ends full');
  assert.match(
    await page.locator('#load-progress-text').textContent(),
    /Loaded second: 100% \(\d+\/\d+ tensors/);
  const values = await page.evaluate(() => window.loadBarValues);
  for (let i = 1; i < values.length; i++) {
    if (values[i][1] === values[i - 1][1])
      assert.ok(values[i][0] >= values[i - 1][0], `the bar went back: ${JSON.stringify(values)}`);
  }
  await page.locator('#models li[data-model="second"] button').click();
  await waitFor(
    'the unloaded model',
    async () => (await page.locator('#models li[data-model="second"]').count()) === 0);
  await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });

  // Behind a path prefix: every URL the page uses is relative.
  const proxy = await startPrefixProxy('/llm/', port);
  const prefixed = watch(await context.newPage());
  expectedStatuses.add(401);  // another origin: the key is asked again
  await prefixed.goto(`http://127.0.0.1:${proxy.address().port}/llm/`);
  await prefixed.locator('#key-dialog').waitFor({ state: 'visible' });
  await prefixed.fill('#key-input', KEY);
  await prefixed.click('#key-ok');
  await waitFor(
    'the model list behind the prefix',
    async () => (await prefixed.locator('#model option').allTextContents()).includes('test'));
  expectedStatuses.delete(401);
  await prefixed.click('#settings summary');
  await prefixed.fill('#max_tokens', '3');
  await prefixed.fill('#schema', '');
  await prefixed.fill('#prompt', 'Hi through a proxy');
  await prefixed.click('#send');
  await waitFor(
    'the answer behind the prefix',
    async () =>
      (await prefixed.locator('#messages li.assistant').last().getAttribute('data-finish')) !==
      null);
  await prefixed.click('#nav-dashboard');
  await waitFor(
    'the dashboard behind the prefix',
    async () => Number(await prefixed.locator('#stat-finished').getAttribute('data-value')) > 0);
  await prefixed.close();
  proxy.close();

  // Every form control has a name a screen reader can say.
  const unlabelled = await page.evaluate(
    () => [...document.querySelectorAll('input, select, textarea')]
            .filter((el) => !el.labels?.length && !el.getAttribute('aria-label'))
            .map((el) => el.id || el.outerHTML));
  assert.deepEqual(unlabelled, [], 'controls without a label');

  // A phone's width: one column, nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  for (const view of ['dashboard', 'chat']) {
    await page.click(`#nav-${view}`);
    const overflow =
      await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `${view} is ${overflow}px wider than a phone`);
    await page.screenshot({ path: join(artifacts, `${view}-phone.png`), fullPage: true });
  }
  await context.close();
  assert.deepEqual(consoleErrors, [], 'no browser console errors');
  console.log(`ok: web UI end to end; screenshots in ${artifacts}`);
} catch (e) {
  failed = true;
  console.error(e);
  await page?.screenshot({ path: join(artifacts, 'failure.png'), fullPage: true }).catch(() => {});
  if (consoleErrors.length) console.error('console errors:', consoleErrors);
} finally {
  await browser.close();
  server.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
