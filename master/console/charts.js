// Charts as SVG built here: horizontal bars with the label and number
// on each, so a chart reads without a legend. No library, no canvas.

const NS = 'http://www.w3.org/2000/svg';
const PALETTE = ['#2f6fb0', '#3f9a5b', '#c98a1b', '#8a4fb5', '#c0473b', '#2a9a9a', '#6b7a8f'];

function svg(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text != null) el.textContent = text;
  return el;
}

// rows: [{label, count}] -> an <svg> bar chart.
export function bars(rows, { width = 420, colors = PALETTE } = {}) {
  const rowH = 26;
  const labelW = 130;
  const numW = 40;
  const max = Math.max(1, ...rows.map((r) => r.count));
  const height = Math.max(rowH, rows.length * rowH) + 4;
  const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'chart' });
  rows.forEach((r, i) => {
    const y = i * rowH + 2;
    const w = Math.max(2, ((width - labelW - numW) * r.count) / max);
    root.append(svg('text', { x: labelW - 8, y: y + rowH / 2 + 5, 'text-anchor': 'end', class: 'label' }, r.label));
    root.append(svg('rect', { x: labelW, y: y + 3, width: w, height: rowH - 8, rx: 3, fill: colors[i % colors.length] }));
    root.append(svg('text', { x: labelW + w + 6, y: y + rowH / 2 + 5, class: 'num' }, r.count));
  });
  if (!rows.length) root.append(svg('text', { x: 8, y: 18, class: 'label' }, 'no data'));
  return root;
}

// rows: [{label, count}] -> a donut with the total in the middle and a
// legend of label and number beside it.
export function donut(rows, { colors = PALETTE } = {}) {
  const size = 160;
  const r = 60;
  const stroke = 26;
  const total = rows.reduce((s, x) => s + x.count, 0);
  const legendW = 200;
  const height = Math.max(size, rows.length * 22 + 10);
  const root = svg('svg', { width: size + legendW, height, viewBox: `0 0 ${size + legendW} ${height}`, role: 'img', class: 'chart' });
  const c = 2 * Math.PI * r;
  let offset = 0;
  rows.forEach((row, i) => {
    const len = total ? (c * row.count) / total : 0;
    root.append(svg('circle', {
      cx: size / 2, cy: size / 2, r, fill: 'none', stroke: colors[i % colors.length], 'stroke-width': stroke,
      'stroke-dasharray': `${len} ${c - len}`, 'stroke-dashoffset': -offset,
      transform: `rotate(-90 ${size / 2} ${size / 2})`,
    }));
    offset += len;
    const y = 18 + i * 22;
    root.append(svg('rect', { x: size + 10, y: y - 11, width: 12, height: 12, rx: 2, fill: colors[i % colors.length] }));
    root.append(svg('text', { x: size + 28, y, class: 'label' }, `${row.label}: ${row.count}`));
  });
  root.append(svg('text', { x: size / 2, y: size / 2 + 7, 'text-anchor': 'middle', class: 'total' }, total));
  return root;
}
