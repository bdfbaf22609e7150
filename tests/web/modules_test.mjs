// The web UI's pure modules under Node's test runner (no browser): the
// Prometheus text reader and its arithmetic (web/ui/js/prometheus.js) and
// the server-sent-event reader (web/ui/js/sse.js), on inputs a browser test
// cannot steer: escaped labels, counter resets, empty and +Inf buckets,
// events split across network chunks, CRLF line ends; and the Models panel's
// figures (web/ui/js/model_memory.js): byte units, missing reports, a load
// bar that never steps back.
// Usage: node --test tests/web/modules_test.mjs
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {barShares, formatBytes, LoadTracker, modelMemory} from '../../web/ui/js/model_memory.js';
import {parseMetrics, quantile, rate, sum, sumBy} from '../../web/ui/js/prometheus.js';
import {sseData} from '../../web/ui/js/sse.js';

const TEXT = `# HELP mlxs_http_requests_total finished requests
# TYPE mlxs_http_requests_total counter
mlxs_http_requests_total{route="/v1/chat/completions",status="200",code="ok",model="a"} 3
mlxs_http_requests_total{route="/v1/chat/completions",status="400",code="GuidanceError",model=""} 2
mlxs_weird{path="a\\"b\\\\c\\nd",x="1"} 7
mlxs_ready 1
mlxs_nan NaN
lat_bucket{model="a",le="0.1"} 2
lat_bucket{model="a",le="0.5"} 6
lat_bucket{model="a",le="+Inf"} 8
lat_bucket{model="b",le="0.1"} 2
lat_bucket{model="b",le="0.5"} 2
lat_bucket{model="b",le="+Inf"} 2
`;

test('samples, labels with escapes, and sums', () => {
  const m = parseMetrics(TEXT);
  assert.equal(sum(m, 'mlxs_http_requests_total'), 5);
  assert.equal(sum(m, 'mlxs_http_requests_total', { code: 'ok' }), 3);
  assert.equal(sum(m, 'mlxs_ready'), 1);
  assert.equal(sum(m, 'mlxs_nan'), 0, 'NaN is left out of sums');
  assert.equal(sum(m, 'absent'), 0);
  assert.deepEqual(m.get('mlxs_weird')[0].labels, { path: 'a"b\\c\nd', x: '1' });
  assert.deepEqual(
    [...sumBy(m, 'mlxs_http_requests_total', 'code')], [['ok', 3], ['GuidanceError', 2]]);
});

test('counter rates, and a reset counts from zero', () => {
  const a = parseMetrics('c_total 10\n');
  const b = parseMetrics('c_total 30\n');
  assert.equal(rate(a, b, 'c_total', 2), 10);
  assert.equal(rate(b, a, 'c_total', 2), 5);
  assert.equal(rate(null, b, 'c_total', 2), null);
});

test('quantiles interpolate inside buckets summed over labels', () => {
  const m = parseMetrics(TEXT);
  // 10 observations: 4 at or under 0.1, 4 more under 0.5, 2 above.
  assert.equal(quantile(null, m, 'lat', 0.4), 0.1);
  assert.ok(Math.abs(quantile(null, m, 'lat', 0.6) - 0.3) < 1e-12);
  assert.equal(quantile(null, m, 'lat', 0.99), 0.5, 'in +Inf: the highest finite bound');
  // Between two scrapes only the new observations count.
  const later = parseMetrics(
    TEXT.replace('lat_bucket{model="b",le="+Inf"} 2', 'lat_bucket{model="b",le="+Inf"} 3')
      .replace('lat_bucket{model="b",le="0.5"} 2', 'lat_bucket{model="b",le="0.5"} 3'));
  assert.ok(Math.abs(quantile(m, later, 'lat', 0.5) - 0.3) < 1e-12);
  assert.equal(quantile(m, m, 'lat', 0.5), null, 'no new observation, no quantile');
  assert.equal(quantile(null, m, 'absent', 0.5), null);
});

function streamOf(chunks) {
  const bytes = chunks.map((c) => new TextEncoder().encode(c));
  return new ReadableStream({
    start(controller) {
      for (const b of bytes) controller.enqueue(b);
      controller.close();
    },
  });
}

async function collect(chunks) {
  const out = [];
  for await (const data of sseData(streamOf(chunks))) out.push(data);
  return out;
}

test('events split across chunks, CRLF, comments and multi-line data', async () => {
  assert.deepEqual(
    await collect(['data: {"a"', ':1}\n', '\ndata: [DONE]\n\n']), ['{"a":1}', '[DONE]']);
  assert.deepEqual(
    await collect(['data: x\r\n\r\n: a comment\r\n\r\ndata:y\r\ndata: z\r\n\r\n']), ['x', 'y\nz']);
  assert.deepEqual(
    await collect(['data: last without a blank line']), ['last without a blank line']);
  // A multi-byte character cut between two chunks survives.
  const euro = new TextEncoder().encode('data: €\n\n');
  const split = new ReadableStream({
    start(c) {
      c.enqueue(euro.slice(0, 7));
      c.enqueue(euro.slice(7));
      c.close();
    },
  });
  const out = [];
  for await (const d of sseData(split)) out.push(d);
  assert.deepEqual(out, ['€']);
});

test('model memory figures and bar shares', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1536), '1.50 KiB');
  assert.equal(formatBytes(300 * 2 ** 20), '300 MiB');
  assert.equal(formatBytes(-1), '–');
  assert.equal(modelMemory({ id: 'm', state: 'loading', load: null }), null);
  const m = modelMemory({
    id: 'm',
    weights_bytes: 3 * 2 ** 30,
    kv_cache_bytes: 2 ** 30,
    kv_blocks_total: 4096,
    device: 'cuda:0'
  });
  assert.equal(m.total, 4 * 2 ** 30);
  assert.equal(m.text, '3.00 GiB weights + 1.00 GiB KV cache (4096 blocks) on cuda:0');
  assert.deepEqual(barShares(m, 8 * 2 ** 30), { weights: 37.5, kv: 12.5 });
  assert.deepEqual(barShares(null, 10), { weights: 0, kv: 0 });
  assert.deepEqual(barShares(m, 0), { weights: 0, kv: 0 });
});

test('a load bar follows reports, never goes back, and ends full', () => {
  const t = new LoadTracker('m');
  const at = (done, tensors, id = 'm') => ({
    id,
    load: { done_bytes: done, total_bytes: 1000, tensors_done: tensors, tensors_total: 10 }
  });
  assert.equal(t.known(), false);
  assert.equal(t.update({ id: 'm', load: null }), false);
  assert.equal(t.update(at(500, 5, 'other')), false, 'another model');
  assert.equal(t.update(at(200, 2)), true);
  assert.equal(t.percent(), 20);
  assert.equal(t.update(at(100, 1)), false, 'a late poll');
  assert.equal(t.done, 200);
  assert.equal(t.update(at(700, 7)), true);
  assert.equal(t.text(), '70% (7/10 tensors, 700 B of 1000 B)');
  t.finish();
  assert.equal(t.percent(), 100);
  assert.equal(t.tensors, 10);
});
