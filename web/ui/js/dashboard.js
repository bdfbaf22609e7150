// The engine dashboard: every 2 s it scrapes /metrics (Prometheus text) and
// v1/status (workers, their breaker state, models with their memory, load
// progress), keeps five minutes of scrapes in memory for rates, percentiles
// and charts, and lets an admin load (with a progress bar) or unload a model.
import {ApiError, apiFetch, apiJson, errorOf, postJson} from './api.js';
import {drawChart, formatNumber} from './charts.js';
import {barShares, formatBytes, LoadTracker, modelMemory} from './model_memory.js';
import {parseMetrics, quantile, rate, sum} from './prometheus.js';

const $ = (id) => document.getElementById(id);
const INTERVAL_MS = 2000;
const WINDOW_MS = 5 * 60 * 1000;
const LATENCY_WINDOW_MS = 60 * 1000;
const GENERATION_ROUTES = ['/v1/chat/completions', '/v1/completions'];
const LOAD_POLL_MS = 250;  // while a load runs

export class Dashboard {
  constructor() {
    this.history = [];  // [{t, metrics, ...derived}] oldest first
    this.timer = null;
    this.polling = false;
    $('load-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.load();
    });
  }

  start() {
    if (this.timer) return;
    this.poll();
    this.timer = setInterval(() => this.poll(), INTERVAL_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  async poll() {
    if (this.polling) return;  // a slow server: never stack scrapes
    this.polling = true;
    try {
      const [metricsResponse, status] =
        await Promise.all([apiFetch('metrics'), apiJson('v1/status')]);
      if (!metricsResponse.ok) throw await errorOf(metricsResponse);
      const metrics = parseMetrics(await metricsResponse.text());
      this.record(metrics);
      this.render(metrics, status);
      this.showError(null);
      $('dash-status').textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      this.showError(e);
    } finally {
      this.polling = false;
    }
  }

  // The scrape at least `ms` old closest to it (the oldest if none is).
  scrapeBefore(ms) {
    const cutoff = Date.now() - ms;
    let pick = this.history[0] || null;
    for (const h of this.history)
      if (h.t <= cutoff) pick = h;
    return pick;
  }

  record(metrics) {
    const t = Date.now();
    const previous = this.history.at(-1);
    const seconds = previous ? (t - previous.t) / 1000 : 0;
    const entry = { t, metrics };
    entry.tokensIn = rate(previous?.metrics, metrics, 'mlxs_prompt_tokens_total', seconds);
    entry.tokensOut = rate(previous?.metrics, metrics, 'mlxs_generation_tokens_total', seconds);
    entry.running = sum(metrics, 'mlxs_requests_running');
    entry.waiting = sum(metrics, 'mlxs_requests_waiting');
    const blocks = sum(metrics, 'mlxs_kv_blocks_total');
    entry.kvPercent = blocks > 0 ? (100 * sum(metrics, 'mlxs_kv_blocks_used')) / blocks : null;
    const minuteAgo = this.scrapeBefore(LATENCY_WINDOW_MS);
    entry.ttftP95 =
      ms(quantile(minuteAgo?.metrics, metrics, 'mlxs_time_to_first_token_seconds', 0.95));
    entry.itlP95 =
      ms(quantile(minuteAgo?.metrics, metrics, 'mlxs_inter_token_latency_seconds', 0.95));
    this.history.push(entry);
    while (this.history.length && this.history[0].t < t - WINDOW_MS) this.history.shift();
  }

  render(metrics, status) {
    const latest = this.history.at(-1);
    const windowStart = this.history.length > 1 ? this.history[0].metrics : null;
    const running = sum(metrics, 'mlxs_requests_running');
    setStat('stat-running', String(running), running);
    const interactive = sum(metrics, 'mlxs_engine_waiting', { class: 'interactive' });
    const batch = sum(metrics, 'mlxs_engine_waiting', { class: 'batch' });
    const queued = sum(metrics, 'mlxs_streams_waiting');
    setStat(
      'stat-waiting', `${interactive} / ${batch}${queued ? ` (+${queued} not started)` : ''}`,
      interactive + batch + queued);
    let finished = 0;
    for (const route of GENERATION_ROUTES)
      finished += sum(metrics, 'mlxs_http_requests_total', { route });
    setStat('stat-finished', String(finished), finished);
    setStat('stat-tokens', `${fixed(latest.tokensIn)} / ${fixed(latest.tokensOut)}`);
    setStat('stat-ttft', percentiles(windowStart, metrics, 'mlxs_time_to_first_token_seconds'));
    setStat('stat-itl', percentiles(windowStart, metrics, 'mlxs_inter_token_latency_seconds'));
    const used = sum(metrics, 'mlxs_kv_blocks_used');
    const total = sum(metrics, 'mlxs_kv_blocks_total');
    setStat('stat-kv', total ? `${used} / ${total - used}` : '–');
    const queries = sum(metrics, 'mlxs_prefix_queries_total');
    const hits = sum(metrics, 'mlxs_prefix_hits_total');
    const hitRate = queries ? `${((100 * hits) / queries).toFixed(1)}% of ${queries}` : '–';
    setStat('stat-prefix', hitRate);
    const rss = status?.memory?.rss;
    setStat('stat-memory', Number.isFinite(rss) ? `${(rss / 2 ** 20).toFixed(0)} MiB` : '–');
    setStat('stat-connections', String(sum(metrics, 'mlxs_http_connections')));

    const series = (key) => this.history.map((h) => [h.t, h[key]]);
    drawChart(
      $('chart-tokens'), $('legend-tokens'),
      [{ label: 'out', points: series('tokensOut') }, { label: 'in', points: series('tokensIn') }],
      { unit: ' tok/s', windowMs: WINDOW_MS });
    drawChart(
      $('chart-requests'), $('legend-requests'),
      [
        { label: 'running', points: series('running') },
        { label: 'waiting', points: series('waiting') }
      ],
      { windowMs: WINDOW_MS });
    drawChart(
      $('chart-latency'), $('legend-latency'),
      [
        { label: 'TTFT', points: series('ttftP95') },
        { label: 'inter-token', points: series('itlP95') }
      ],
      { unit: ' ms', windowMs: WINDOW_MS });
    drawChart(
      $('chart-kv'), $('legend-kv'), [{ label: 'used', points: series('kvPercent') }],
      { unit: '%', windowMs: WINDOW_MS });

    this.renderWorkers(status, metrics);
    this.renderErrors(windowStart, metrics);
    this.renderModels(status);
  }

  renderWorkers(status, metrics) {
    const body = $('workers');
    body.replaceChildren();
    for (const w of status?.workers || []) {
      body.append(row(
        [w.name, w.state, (w.models || []).join(', ') || '–', w.restarts, w.last_error || '–']));
    }
    const list = $('transitions');
    list.replaceChildren();
    for (const s of metrics.get('mlxs_breaker_transitions_total') || []) {
      const item = document.createElement('li');
      item.textContent = `${s.labels.worker}: ${s.labels.from} → ${s.labels.to} × ${s.value}`;
      list.append(item);
    }
  }

  renderErrors(windowStart, metrics) {
    const body = $('errors');
    body.replaceChildren();
    const keyOf = (l) => `${l.code}\u0000${l.route}`;
    const before = new Map();
    for (const s of windowStart?.get('mlxs_http_requests_total') || []) {
      if (s.labels.code !== 'ok')
        before.set(keyOf(s.labels), (before.get(keyOf(s.labels)) || 0) + s.value);
    }
    const now = new Map();
    for (const s of metrics.get('mlxs_http_requests_total') || []) {
      if (s.labels.code === 'ok') continue;
      const k = keyOf(s.labels);
      now.set(k, { labels: s.labels, count: (now.get(k)?.count || 0) + s.value });
    }
    if (!now.size) {
      body.append(row(['none', '', '', '']));
      return;
    }
    for (const [k, { labels, count }] of [...now.entries()].sort(
           (a, b) => b[1].count - a[1].count)) {
      body.append(
        row([labels.code, labels.route, count, windowStart ? count - (before.get(k) || 0) : '–']));
    }
  }

  // One row per loaded model: its name, what it holds (weights and KV
  // cache, a bar scaled to the largest model) and an Unload button. Rows are
  // rebuilt only when the set of models changes, so focus stays put.
  renderModels(status) {
    const list = $('models');
    const models = [...new Set(status?.models || [])].sort();
    const details = new Map();
    for (const d of status?.model_details || []) {
      if (!details.has(d.id) || d.state === 'ready') details.set(d.id, d);
    }
    const shown = [...list.querySelectorAll('li')].map((li) => li.dataset.model).join('\n');
    if (shown !== models.join('\n')) {
      list.replaceChildren();
      for (const id of models) list.append(this.modelRow(id));
    }
    const memories = models.map((id) => modelMemory(details.get(id)));
    const largest = Math.max(0, ...memories.map((m) => m?.total ?? 0));
    let total = 0;
    models.forEach((id, i) => {
      const item = list.querySelector(`li[data-model="${CSS.escape(id)}"]`);
      const memory = memories[i];
      total += memory?.total ?? 0;
      const text = memory ? memory.text : (details.get(id)?.state ?? 'no memory report');
      item.querySelector('.model-memory').textContent = text;
      item.dataset.weightsBytes = memory ? String(memory.weights) : '';
      item.dataset.kvBytes = memory ? String(memory.kv) : '';
      const shares = barShares(memory, largest);
      const bar = item.querySelector('.membar');
      bar.setAttribute('aria-label', `${id}: ${text}`);
      bar.querySelector('.weights').style.width = `${shares.weights}%`;
      bar.querySelector('.kv').style.width = `${shares.kv}%`;
    });
    const reported = memories.some((m) => m);
    setStat('stat-model-memory', reported ? formatBytes(total) : '–', reported ? total : undefined);
  }

  modelRow(id) {
    const item = document.createElement('li');
    item.dataset.model = id;
    const info = document.createElement('div');
    info.className = 'model-info';
    const name = document.createElement('span');
    name.className = 'model-name';
    name.textContent = id;
    const memory = document.createElement('span');
    memory.className = 'model-memory';
    const bar = document.createElement('div');
    bar.className = 'membar';
    bar.setAttribute('role', 'img');
    for (const part of ['weights', 'kv']) {
      const span = document.createElement('span');
      span.className = part;
      bar.append(span);
    }
    info.append(name, memory, bar);
    const unload = document.createElement('button');
    unload.type = 'button';
    unload.className = 'secondary';
    unload.textContent = 'Unload';
    unload.setAttribute('aria-label', `Unload ${id}`);
    unload.addEventListener('click', () => this.unload(id, unload));
    item.append(info, unload);
    return item;
  }

  // A load answers only once the model is ready (its warm-up ran); while it
  // runs the page polls v1/status, whose model_details carry the worker's
  // progress reports (bytes and tensors bound), and shows them on the bar.
  // Until the first report (or from a worker that sends none) the bar is
  // indeterminate with the seconds so far.
  async load() {
    const id = $('load-id').value.trim();
    const path = $('load-path').value.trim();
    if (!id || !path) {
      this.showError(new ApiError('InvalidParams', 'a model id and a directory are needed'));
      return;
    }
    const body = { model: id, path };
    if ($('load-quant').value) body.quantization = $('load-quant').value;
    const started = Date.now();
    const tracker = new LoadTracker(id);
    const bar = $('load-progress-bar');
    const box = $('load-progress');
    const show = () => {
      const seconds = Math.round((Date.now() - started) / 1000);
      if (tracker.known()) {
        bar.max = tracker.total;
        bar.value = tracker.done;
        box.dataset.done = String(tracker.done);
        box.dataset.total = String(tracker.total);
      } else {
        bar.removeAttribute('value');  // indeterminate
      }
      $('load-progress-text').textContent =
        `Loading ${id}… ${tracker.known() ? `${tracker.text()}, ` : ''}${seconds} s`;
    };
    // While the load runs, only this load's reports count (a model of that
    // id may already serve); once it answered, the report it left counts.
    const poll = async (answered = false) => {
      try {
        const status = await apiJson('v1/status');
        const detail = (status?.model_details || []).find((d) => d.id === id);
        if (answered || detail?.state === 'loading') tracker.update(detail);
      } catch {
        // The load's own answer reports what matters; a missed poll does not.
      }
      show();
    };
    box.dataset.state = 'loading';
    delete box.dataset.done;
    delete box.dataset.total;
    show();
    const timer = setInterval(poll, LOAD_POLL_MS);
    box.hidden = false;
    $('load-button').disabled = true;
    $('load-status').textContent = '';
    try {
      const card = await postJson('v1/models/load', body);
      clearInterval(timer);
      // The finished load's last report (kept by the server) sizes the bar.
      await poll(true);
      tracker.finish();
      if (tracker.known()) {
        bar.max = tracker.total;
        bar.value = tracker.total;
        box.dataset.done = String(tracker.done);
        box.dataset.total = String(tracker.total);
      } else {
        bar.max = 1;
        bar.value = 1;
      }
      box.dataset.state = 'done';
      $('load-progress-text').textContent = `Loaded ${id}: ${tracker.text() || '100%'}`;
      const quant = card.details?.quantization;
      $('load-status').textContent = `Loaded ${card.id}${quant ? ` (${quant})` : ''}.`;
      this.showError(null);
    } catch (e) {
      box.hidden = true;
      box.dataset.state = 'failed';
      this.showError(e);
    } finally {
      clearInterval(timer);
      $('load-button').disabled = false;
      this.poll();
    }
  }

  async unload(id, control) {
    control.disabled = true;
    try {
      await postJson('v1/models/unload', { model: id });
      $('load-status').textContent = `Unloaded ${id}.`;
      this.showError(null);
    } catch (e) {
      control.disabled = false;
      this.showError(e);
    }
    this.poll();
  }

  showError(error) {
    const box = $('dash-error');
    box.hidden = !error;
    box.textContent = !error    ? '' :
      error instanceof ApiError ? error.describe() :
                                  `Error: ${error.message}`;
  }
}

function ms(seconds) { return seconds === null ? null : seconds * 1000; }

function fixed(v) { return v === null || v === undefined ? '–' : v.toFixed(1); }

function percentiles(before, after, name) {
  const values = [0.5, 0.95, 0.99].map((q) => quantile(before, after, name, q));
  if (values.every((v) => v === null)) return '–';
  return `${values.map((v) => formatNumber(v * 1000)).join(' / ')} ms`;
}

// A tile's text, and its number for scripts (tests, automation) to read.
function setStat(id, text, value) {
  const el = $(id);
  el.textContent = text;
  if (value !== undefined) el.dataset.value = String(value);
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) {
    const td = document.createElement('td');
    td.textContent = String(c);
    tr.append(td);
  }
  return tr;
}
