// What the Models panel says about each model and about a running load, from
// v1/status' `model_details` (pure: no DOM, so Node's test runner covers it).
//
// A detail is {id, worker, state, weights_bytes?, kv_cache_bytes?,
// kv_blocks_total?, kv_block_bytes?, device?, load: {done_bytes, total_bytes,
// tensors_done, tensors_total} | null}.

// 1536 → "1.5 KiB"; binary units, as the server's own figures.
export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[u]}`;
}

// The memory figures of one model, or null when its worker reported none
// (a load still running, or a worker restarting).
export function modelMemory(detail) {
  if (!detail || !Number.isFinite(detail.weights_bytes)) return null;
  const weights = detail.weights_bytes;
  const kv = Number.isFinite(detail.kv_cache_bytes) ? detail.kv_cache_bytes : 0;
  return {
    weights,
    kv,
    total: weights + kv,
    blocks: detail.kv_blocks_total ?? null,
    device: detail.device || '',
    text: `${formatBytes(weights)} weights + ${formatBytes(kv)} KV cache` +
      (Number.isFinite(detail.kv_blocks_total) ? ` (${detail.kv_blocks_total} blocks)` : '') +
      (detail.device ? ` on ${detail.device}` : '')
  };
}

// Each model's share of the bar scale: the largest model fills the bar, so
// models compare at a glance. Returns {weights, kv} in percent of the bar.
export function barShares(memory, largestTotal) {
  if (!memory || !(largestTotal > 0)) return { weights: 0, kv: 0 };
  return { weights: (100 * memory.weights) / largestTotal, kv: (100 * memory.kv) / largestTotal };
}

// Follows one load's reports: the bar never steps back (a late poll must not
// undo a later one), and a report of another size starts afresh.
export class LoadTracker {
  constructor(id) {
    this.id = id;
    this.done = 0;
    this.total = 0;
    this.tensors = 0;
    this.tensorsTotal = 0;
  }

  // Takes the model's detail from a status poll; true when the bar moved.
  update(detail) {
    const load = detail?.id === this.id ? detail.load : null;
    if (!load || !(load.total_bytes > 0)) return false;
    if (load.total_bytes !== this.total) {
      this.total = load.total_bytes;
      this.tensorsTotal = load.tensors_total;
      this.done = 0;
      this.tensors = 0;
    }
    if (load.done_bytes < this.done) return false;
    const moved = load.done_bytes > this.done || load.tensors_done > this.tensors;
    this.done = Math.min(load.done_bytes, this.total);
    this.tensors = Math.max(this.tensors, load.tensors_done);
    return moved;
  }

  // The load answered: whatever the last poll saw, it is all there.
  finish() {
    if (this.total > 0) {
      this.done = this.total;
      this.tensors = this.tensorsTotal;
    }
  }

  known() { return this.total > 0; }

  percent() { return this.total > 0 ? Math.floor((100 * this.done) / this.total) : null; }

  text() {
    if (!this.known()) return '';
    return `${this.percent()}% (${this.tensors}/${this.tensorsTotal} tensors, ` +
      `${formatBytes(this.done)} of ${formatBytes(this.total)})`;
  }
}
