// Small inline SVG charts. No chart library: the page has no build step and loads nothing
// from third parties, and two bar charts do not need one. Each chart is an image with a
// <title> and <desc>; the view puts the same numbers in a table beside it for screen readers
// and for reading exact values.

const SVG = "http://www.w3.org/2000/svg";
const HEIGHT = 220, LEFT = 64, RIGHT = 12, TOP = 20, BOTTOM = 32;
const MAX_BAR = 48; // one day alone is a bar, not a wall
let serial = 0;

function s(tag, attrs = {}, text = undefined) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

// points: [{label: "2 Nov", value: number, text: "2 Nov: $120.00"}]; bars from 0 up.
// `whole`: the values are counts, so the axis never shows half a case.
// The drawing is as wide as the space it gets, in real pixels, so its text stays 12 px at
// every width; it redraws when that width changes (a phone turned, a window resized).
export function barChart(points, { title, description, formatTick = String, whole = false }) {
  const id = `chart-${++serial}`;
  const svg = s("svg", { role: "img", "aria-labelledby": `${id}-title ${id}-desc`, class: "chart-svg" });
  const caption = [s("title", { id: `${id}-title` }, title), s("desc", { id: `${id}-desc` }, description)];
  let drawn = 0;
  const draw = (width) => {
    drawn = Math.max(280, Math.round(width));
    svg.replaceChildren(...caption);
    drawBars(svg, points, drawn, formatTick, whole);
  };
  draw(Math.min(window.innerWidth - 64, 900)); // a first guess until the chart is on the page
  if (window.ResizeObserver) {
    new ResizeObserver(([entry]) => {
      const width = entry.contentRect.width;
      if (width > 0 && Math.abs(width - drawn) >= 1) draw(width);
    }).observe(svg);
  }
  return svg;
}

function drawBars(svg, points, width, formatTick, whole) {
  svg.setAttribute("viewBox", `0 0 ${width} ${HEIGHT}`);
  const plotW = width - LEFT - RIGHT, plotH = HEIGHT - TOP - BOTTOM;
  const scale = niceMax(Math.max(0, ...points.map((p) => p.value)), whole);
  for (const fraction of [0, 0.5, 1]) {
    const y = TOP + plotH * (1 - fraction);
    svg.append(s("line", { x1: LEFT, x2: width - RIGHT, y1: y, y2: y, class: "chart-grid" }));
    svg.append(s("text", { x: LEFT - 6, y: y + 4, "text-anchor": "end", class: "chart-tick" }, formatTick(scale * fraction)));
  }
  const step = plotW / Math.max(points.length, 1);
  const every = Math.max(1, Math.ceil(points.length / (plotW / 72))); // labels never overlap
  const barW = Math.min(Math.max(step * 0.7, 1), MAX_BAR);
  // A short series gets each bar's value written on it: few bars, room enough to read them.
  const valued = step >= 72;
  points.forEach((p, i) => {
    const barH = scale ? (p.value / scale) * plotH : 0;
    const centre = LEFT + i * step + step / 2;
    const bar = s("rect", { x: centre - barW / 2, y: TOP + plotH - barH, width: barW, height: barH, class: "chart-bar" });
    bar.append(s("title", {}, p.text));
    svg.append(bar);
    if (valued) {
      svg.append(s("text", { x: centre, y: TOP + plotH - barH - 5, "text-anchor": "middle", class: "chart-value", "aria-hidden": "true" }, formatTick(p.value)));
    }
    if (i % every === 0) {
      svg.append(s("text", { x: centre, y: HEIGHT - 10, "text-anchor": "middle", class: "chart-tick" }, p.label));
    }
  });
}

function niceMax(max, whole) {
  if (max <= 0) return whole ? 2 : 1;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  const steps = whole ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10];
  let scale = 10 * magnitude;
  for (const m of steps) if (m * magnitude >= max) { scale = m * magnitude; break; }
  // Counts: the middle gridline must be a whole number too (1 → 2, 5 → 6).
  if (whole && scale % 2) scale += 1;
  return scale;
}
