// Small SVG charts: a line over time and horizontal bars. Text is set as text, never markup.

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, text = undefined) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

// points: [{label, value (0..1 or null), title}]; the y axis runs from 0% to 100%.
export function lineChart(points, { label }) {
  const width = 860, height = 260, left = 44, right = 16, top = 12, bottom = 36;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  const plotW = width - left - right, plotH = height - top - bottom;
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    const y = top + plotH * (1 - tick);
    svg.append(s("line", { class: "grid", x1: left, x2: width - right, y1: y, y2: y }));
    svg.append(s("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, `${tick * 100}%`));
  }
  const step = points.length > 1 ? plotW / (points.length - 1) : 0;
  const xy = points.map((p, i) => [left + (points.length > 1 ? i * step : plotW / 2), p.value === null ? null : top + plotH * (1 - p.value)]);
  let d = "";
  xy.forEach(([x, y]) => {
    if (y === null) return;
    d += `${d ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`;
  });
  if (d) svg.append(s("path", { class: "line", d }));
  const every = Math.max(1, Math.ceil(points.length / 8));
  points.forEach((p, i) => {
    const [x, y] = xy[i];
    if (y !== null) {
      const dot = s("circle", { class: "point", cx: x, cy: y, r: 3.5 });
      dot.append(s("title", {}, p.title));
      svg.append(dot);
    }
    if (i % every === 0) {
      svg.append(s("text", { x, y: height - bottom + 16, "text-anchor": "middle" }, p.label));
    }
  });
  svg.append(s("line", { class: "axis", x1: left, x2: width - right, y1: top + plotH, y2: top + plotH }));
  return svg;
}

// bars: [{label, value (a count), note}]
export function barChart(bars, { label }) {
  const rowH = 28, width = 400, left = 130, right = 100;
  const height = Math.max(rowH, bars.length * rowH) + 8;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  const max = Math.max(1, ...bars.map((b) => b.value));
  bars.forEach((bar, i) => {
    const y = 4 + i * rowH;
    const w = ((width - left - right) * bar.value) / max;
    svg.append(s("text", { x: left - 8, y: y + 17, "text-anchor": "end" }, bar.label));
    const rect = s("rect", { class: "bar", x: left, y: y + 4, width: Math.max(w, 2), height: rowH - 10, rx: 3 });
    rect.append(s("title", {}, `${bar.label}: ${bar.value}`));
    svg.append(rect);
    svg.append(s("text", { x: left + Math.max(w, 2) + 8, y: y + 17 }, bar.note));
  });
  return svg;
}
