// The Prometheus text format (version 0.0.4) as /metrics writes it, and the
// arithmetic the dashboard needs: sums over label filters, counter rates
// between two scrapes, and histogram quantiles from bucket deltas (linear
// interpolation inside a bucket, as Prometheus' histogram_quantile does).

// Map of metric name -> [{labels, value}].
export function parseMetrics(text) {
  const metrics = new Map();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const sample = parseLine(line);
    if (!sample) continue;
    if (!metrics.has(sample.name)) metrics.set(sample.name, []);
    metrics.get(sample.name).push({ labels: sample.labels, value: sample.value });
  }
  return metrics;
}

function parseLine(line) {
  const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (!name) return null;
  let i = name[0].length;
  const labels = {};
  if (line[i] === '{') {
    i += 1;
    while (i < line.length && line[i] !== '}') {
      const key = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/.exec(line.slice(i));
      if (!key) return null;
      i += key[0].length;
      let value = '';
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\' && i + 1 < line.length) {
          const next = line[i + 1];
          value += next === 'n' ? '\n' : next;
          i += 2;
        } else {
          value += line[i];
          i += 1;
        }
      }
      labels[key[1]] = value;
      i += 1;  // the closing quote
      while (line[i] === ',' || line[i] === ' ') i += 1;
    }
    i += 1;  // the closing brace
  }
  const fields = line.slice(i).trim().split(/\s+/);
  return { name: name[0], labels, value: parseValue(fields[0]) };
}

function parseValue(text) {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);  // NaN for "NaN" and anything unreadable
}

function matches(labels, filter) {
  return Object.entries(filter).every(([k, v]) => labels[k] === v);
}

// The sum of every sample of `name` whose labels include `filter`.
export function sum(metrics, name, filter = {}) {
  let total = 0;
  for (const s of metrics.get(name) || []) {
    if (matches(s.labels, filter) && Number.isFinite(s.value)) total += s.value;
  }
  return total;
}

// Sums grouped by one label: Map label value -> sum.
export function sumBy(metrics, name, label, filter = {}) {
  const out = new Map();
  for (const s of metrics.get(name) || []) {
    if (!matches(s.labels, filter) || !Number.isFinite(s.value)) continue;
    const key = s.labels[label] ?? '';
    out.set(key, (out.get(key) || 0) + s.value);
  }
  return out;
}

// Per-second increase of a counter between two scrapes (a reset, e.g. a
// restarted server, counts from zero rather than going negative).
export function rate(before, after, name, seconds, filter = {}) {
  if (!before || seconds <= 0) return null;
  const a = sum(before, name, filter);
  const b = sum(after, name, filter);
  return (b >= a ? b - a : b) / seconds;
}

// Cumulative buckets of histogram `name` summed over every label but le.
function buckets(metrics, name) {
  const byLe = sumBy(metrics, `${name}_bucket`, 'le');
  return [...byLe.entries()]
    .map(([le, count]) => ({ le: parseValue(le), count }))
    .sort((x, y) => x.le - y.le);
}

// The q-quantile of the observations made between two scrapes (all of them
// when `before` is null); null when there were none.
export function quantile(before, after, name, q) {
  const now = buckets(after, name);
  if (!now.length) return null;
  const then = before ? new Map(buckets(before, name).map((b) => [b.le, b.count])) : new Map();
  const delta = now.map((b) => ({ le: b.le, count: Math.max(0, b.count - (then.get(b.le) || 0)) }));
  const total = delta[delta.length - 1].count;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of delta) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return lower;  // in +Inf: the highest finite bound
      const inBucket = b.count - below;
      return inBucket > 0 ? lower + (b.le - lower) * ((rank - below) / inBucket) : b.le;
    }
    lower = b.le;
    below = b.count;
  }
  return lower;
}
