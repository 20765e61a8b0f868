// Building the page without innerHTML: every text from the API lands as text, never markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// <s-option>s for an <s-select>: values as given, labels humanized unless a map names them.
export function options(values, current, labels = {}) {
  return values.map((v) => h("s-option", { value: v, selected: v === current ? "" : null }, labels[v] ?? humanize(v)));
}

// A Polaris field shows the server's message for it (or clears it).
export function fieldError(el, message) {
  if (message) el.setAttribute("error", message);
  else el.removeAttribute("error");
}

export function banner(tone, heading, ...children) {
  return h("s-banner", { tone, heading }, ...children);
}

const TONES = {
  open: "attention", paid: "success", cancelled: "neutral", written_off: "neutral",
  referred: "info", fraud: "critical", review: "warning",
  scheduled: "info", held: "warning", flagged: "critical", awaiting_escalation: "warning",
  not_chased: "neutral", stopped: "neutral", promised: "info", planned: "info",
  // an instalment plan, and each of its instalments
  awaiting_card: "attention", active: "info", completed: "success", broken: "critical", lapsed: "warning",
  ended: "neutral", missed: "critical", not_charged: "neutral",
  low: "success", high: "critical", unscored: "neutral",
  accepted: "info", paid_partial: "warning", returned_unpaid: "warning", withdrawn: "neutral",
};
// Polaris badge tones; "attention" is Polaris's "caution".
const POLARIS_TONE = { attention: "caution" };

export function badge(value, label = undefined) {
  const tone = TONES[value] || "neutral";
  return h("s-badge", { tone: POLARIS_TONE[tone] || tone, "data-value": value }, label ?? humanize(value));
}

export function humanize(value) {
  if (value === null || value === undefined || value === "") return "—";
  // Acronyms stay capitals: "firm_sms" reads "Firm SMS", never "Firm sms".
  const text = String(value).replaceAll("_", " ").replace(/\b(sms|csv|url|id)\b/gi, (word) => word.toUpperCase());
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// A Polaris table: headers [{label, format?}] or strings; rows [{attrs, cells: [...]}] or arrays.
export function table(headers, rows, attrs = {}) {
  const heads = headers.map((head) => (typeof head === "string" ? { label: head } : head));
  const numeric = heads.map((head) => head.format === "numeric" || head.format === "currency");
  return h("s-table", attrs,
    h("s-table-header-row", {}, heads.map(({ label, format }) => h("s-table-header", { format: format || null }, label))),
    h("s-table-body", {}, rows.map((row) => {
      const { attrs: rowAttrs = {}, cells } = Array.isArray(row) ? { cells: row } : row;
      return h("s-table-row", rowAttrs, cells.map((cell, i) => h("s-table-cell", { class: numeric[i] ? "numeric" : null }, cell)));
    })));
}

// A view whose first request failed: the page with the reason, and nothing half-drawn.
export function problemPage(root, heading, problem) {
  replace(root, h("s-page", { heading },
    h("s-banner", { tone: "critical", heading: "Recoup could not load this page" },
      h("s-paragraph", {}, problem.message))));
}
