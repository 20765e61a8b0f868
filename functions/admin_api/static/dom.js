// Building the page without innerHTML: every text from the API lands as text, never markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
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

export function card(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...children);
}

export function banner(tone, ...children) {
  return h("div", { class: `banner banner-${tone}`, role: tone === "critical" ? "alert" : "status" }, ...children);
}

const TONES = {
  open: "attention", paid: "success", cancelled: "neutral",
  scheduled: "info", held: "warning", flagged: "critical", awaiting_escalation: "attention",
  not_chased: "neutral", stopped: "neutral",
  low: "success", review: "warning", high: "critical", unscored: "attention",
  referred: "info", accepted: "info", paid_partial: "attention", returned_unpaid: "warning",
  withdrawn: "neutral", written_off: "neutral",
};

export function badge(value, label = undefined) {
  const tone = TONES[value] || "neutral";
  return h("span", { class: `badge badge-${tone}` }, label ?? humanize(value));
}

export function humanize(value) {
  if (value === null || value === undefined || value === "") return "—";
  const text = String(value).replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}
