// Small line charts on a canvas: a few series over the last minutes, a
// zero-based y axis with its top value, and an HTML legend (text a screen
// reader can read, with each series' latest value).

const COLORS = ['#0b57d0', '#c5221f', '#188038', '#8e24aa'];

export function drawChart(canvas, legend, series, {unit = '', windowMs = 300000} = {}) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (width === 0 || height === 0) return;  // hidden view: nothing to draw
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);

  const now = Date.now();
  const start = now - windowMs;
  let top = 0;
  for (const s of series) {
    for (const [t, v] of s.points)
      if (t >= start && Number.isFinite(v)) top = Math.max(top, v);
  }
  top = niceCeiling(top);
  const left = 44;
  const bottom = height - 16;
  ctx.strokeStyle = '#c9ccd3';
  ctx.fillStyle = '#4a505c';
  ctx.font = '11px system-ui, sans-serif';
  ctx.beginPath();
  ctx.moveTo(left, 4);
  ctx.lineTo(left, bottom);
  ctx.lineTo(width - 4, bottom);
  ctx.stroke();
  ctx.fillText(formatNumber(top), 2, 12);
  ctx.fillText('0', 2, bottom);
  ctx.fillText(`${Math.round(windowMs / 60000)} min`, left, height - 2);
  ctx.fillText('now', width - 28, height - 2);

  const x = (t) => left + ((t - start) / windowMs) * (width - 4 - left);
  const y = (v) => bottom - (v / top) * (bottom - 8);
  series.forEach((s, i) => {
    ctx.strokeStyle = COLORS[i % COLORS.length];
    ctx.lineWidth = 2;
    ctx.beginPath();
    let drawing = false;
    for (const [t, v] of s.points) {
      if (t < start || !Number.isFinite(v)) {
        drawing = false;  // a gap, not a line through missing data
        continue;
      }
      if (drawing)
        ctx.lineTo(x(t), y(v));
      else
        ctx.moveTo(x(t), y(v));
      drawing = true;
    }
    ctx.stroke();
  });

  legend.replaceChildren();
  series.forEach((s, i) => {
    const item = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = COLORS[i % COLORS.length];
    const last = s.points.at(-1)?.[1];
    item.append(swatch, `${s.label}: ${Number.isFinite(last) ? formatNumber(last) : '–'}${unit}`);
    legend.append(item);
  });
}

function niceCeiling(v) {
  if (!(v > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(v));
  for (const step of [1, 2, 5, 10])
    if (v <= step * magnitude) return step * magnitude;
  return 10 * magnitude;
}

export function formatNumber(v) {
  if (!Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 1000) return `${(v / 1000).toFixed(1)}k`;
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(Math.abs(v) < 10 ? 2 : 1);
}
