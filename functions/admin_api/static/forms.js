// Form helpers for the settings views: Polaris fields bound to a draft by a path
// ("reminders.steps[4].template"), the server's errors shown on the field that path names
// (with 1-based step numbers), sections that fold to a summary, and the draft's differences.

import { h } from "./dom.js";
import { fromMinor, toMinor } from "./format.js";

// ------------------------------------------------------------------ paths

export function splitPath(path) {
  return String(path).replace(/\[(\d+)\]/g, ".$1").split(".").filter((p) => p !== "");
}

export function getPath(doc, path) {
  return splitPath(path).reduce((value, key) => (value === null || value === undefined ? undefined : value[key]), doc);
}

export function setPath(doc, path, value) {
  const keys = splitPath(path);
  let node = doc;
  for (const key of keys.slice(0, -1)) node = node[key];
  node[keys[keys.length - 1]] = value;
}

// "reminders.steps[4].template" -> "Reminders · Step 5 · Template"
export function pathLabel(path) {
  return splitPath(path).map((key, index, keys) => {
    if (/^\d+$/.test(key) && keys[index - 1] === "steps") return null;
    if (key === "steps" && /^\d+$/.test(keys[index + 1] || "")) return `Step ${Number(keys[index + 1]) + 1}`;
    return words(key);
  }).filter(Boolean).join(" · ");
}

export function words(key) {
  const text = String(key).replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// The server counts steps from 0 in its field paths; people count from 1.
export function stepMessage(path, message) {
  const text = String(message || "").replace(/steps\[(\d+)\]/g, (_, n) => `Step ${Number(n) + 1}`);
  const match = /steps\[(\d+)\]/.exec(path || "");
  if (match && !/^Step \d+/.test(text)) return `Step ${Number(match[1]) + 1}: ${text}`;
  return text;
}

// ------------------------------------------------------------------ fields

// A Polaris field whose value lives at `path` in the draft; `read` turns the field's value
// into the draft's (numbers stay numbers). `onEdit(path, value)` is the owner's to apply.
export function bound(tag, { path, label, value, read = (v) => v, onEdit, ...attrs }, ...children) {
  const el = h(tag, { label, "data-path": path, ...stringAttrs(attrs) }, ...children);
  if (tag === "s-checkbox" || tag === "s-switch") {
    if (value) el.setAttribute("checked", "");
    el.checked = Boolean(value);
    el.addEventListener("change", () => onEdit(path, el.checked));
  } else {
    const text = value === null || value === undefined ? "" : String(value);
    el.setAttribute("value", text);
    el.value = text;
    const apply = () => onEdit(path, read(el.value));
    el.addEventListener("input", apply);
    el.addEventListener("change", apply);
  }
  return el;
}

function stringAttrs(attrs) {
  const out = {};
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    out[key] = typeof value === "function" ? value : value === true ? "" : String(value);
  }
  return out;
}

export function optionList(choices, current) {
  return choices.map(([value, label]) => h("s-option", { value, selected: value === current ? "" : null }, label));
}

export const asNumber = (text) => (text === "" || text === null || text === undefined ? "" : Number(text));

// Amounts per currency at `path` ({"USD": 5000}, minor units): a field per currency in major
// units (the currency's own decimals), a way to remove it, and a currency code to add one.
// The block is the error's place for a path the fields do not name.
export function currencyAmounts({ path, values, heading, label, removeLabel, empty, addLabel, details, edit, redraw }) {
  const amounts = values || {};
  const rows = Object.entries(amounts).map(([currency, minor]) =>
    h("s-stack", { direction: "inline", gap: "small", alignItems: "end" },
      bound("s-text-field", { path: `${path}.${currency}`, label: label(currency), value: fromMinor(minor, currency),
        read: (text) => toMinor(text, currency) ?? text, onEdit: edit }),
      h("s-button", { variant: "tertiary", accessibilityLabel: removeLabel(currency), onclick: () => {
        const next = { ...amounts }; delete next[currency]; edit(path, next); redraw();
      } }, "Remove")));
  const code = h("s-text-field", { label: "Currency", placeholder: "EUR", maxLength: "3", "data-currency-for": path });
  return h("s-box", { "data-path": path },
    h("s-stack", { direction: "block", gap: "small" },
      h("s-heading", {}, heading),
      details ? h("s-text", { tone: "subdued" }, details) : null,
      rows.length ? rows : h("s-paragraph", {}, empty),
      h("s-stack", { direction: "inline", gap: "small", alignItems: "end" }, code,
        h("s-button", { "data-add-currency": path, onclick: () => {
          const currency = String(code.value || "").trim().toUpperCase();
          if (/^[A-Z]{3}$/.test(currency) && !(currency in amounts)) {
            edit(path, { ...amounts, [currency]: 0 }); redraw();
          }
        } }, addLabel))));
}

// ------------------------------------------------------------------ errors

export function clearErrors(root) {
  for (const el of root.querySelectorAll("[data-path][error]")) el.removeAttribute("error");
  for (const el of root.querySelectorAll("[data-error-note]")) el.remove();
}

// Put the error on the field its path names (or the nearest enclosing one), opening any
// folded section around it. Returns the element it landed on, or null.
export function showFieldError(root, path, message) {
  let current = path;
  while (current) {
    const target = root.querySelector(`[data-path="${CSS.escape(current)}"]`);
    if (target) {
      reveal(target);
      const text = stepMessage(path, message);
      if (target.tagName.startsWith("S-") && target.tagName !== "S-BOX" && target.tagName !== "S-SECTION") {
        target.setAttribute("error", text);
      } else {
        target.prepend(h("s-banner", { tone: "critical", "data-error-note": "" }, text));
      }
      target.scrollIntoView?.({ block: "center" });
      target.focus?.();
      return target;
    }
    const cut = Math.max(current.lastIndexOf("."), current.lastIndexOf("["));
    current = cut > 0 ? current.slice(0, cut) : "";
  }
  return null;
}

// ------------------------------------------------------------------ folding

// A block that shows a one-line summary and unfolds to its body: keeps a long page short.
export function foldable({ id, summary, body, open = false, label = "Edit", openLabel = "Done" }) {
  const bodyBox = h("s-box", { "data-collapse": id, paddingBlockStart: "base" }, body);
  const toggle = h("s-button", { variant: "tertiary", "data-toggle": id, type: "button" });
  const set = (value) => {
    bodyBox.hidden = !value;
    toggle.textContent = value ? openLabel : label;
    toggle.setAttribute("accessibilityLabel", `${value ? "Close" : label} ${typeof summary === "string" ? summary : id}`);
    bodyBox.dataset.open = value ? "true" : "false";
  };
  bodyBox.reveal = () => set(true);
  toggle.addEventListener("click", () => set(bodyBox.hidden));
  set(open);
  return { toggle, body: bodyBox };
}

export function reveal(el) {
  for (let node = el; node; node = node.parentElement) {
    if (node.dataset && node.dataset.collapse !== undefined && typeof node.reveal === "function") node.reveal();
  }
}

// ------------------------------------------------------------------ differences

export function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// Leaf paths where `a` and `b` differ; arrays of different lengths count as one change.
export function changedPaths(a, b, prefix = "") {
  if (same(a, b)) return [];
  const isObject = (v) => v !== null && typeof v === "object";
  if (!isObject(a) || !isObject(b) || Array.isArray(a) !== Array.isArray(b)
    || (Array.isArray(a) && a.length !== b.length)) return [prefix];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const out = [];
  for (const key of keys) {
    const child = Array.isArray(a) ? `${prefix}[${key}]` : prefix ? `${prefix}.${key}` : key;
    if (!(key in a) || !(key in b)) out.push(child);
    else out.push(...changedPaths(a[key], b[key], child));
  }
  return out;
}

// A value as a person reads it in the merge view.
export function valueText(value) {
  if (value === undefined) return "(not set)";
  if (value === null) return "(none)";
  if (typeof value === "boolean") return value ? "On" : "Off";
  if (Array.isArray(value) && value.every((v) => v && typeof v === "object" && "template" in v)) {
    return value.map((s, i) => `Step ${i + 1}: ${s.channel} after ${s.delay}, ${s.template}`).join("; ");
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

// The few layout rules the settings views need beyond Polaris's own components: folded
// blocks stay hidden (a component's display rule must not unfold them), the template
// editor's line numbers line up with its text.
export function ensureStyles(root) {
  root.classList.add("recoup-forms");
  if (document.getElementById("recoup-settings-style")) return;
  document.head.append(h("style", { id: "recoup-settings-style" }, `
[data-collapse][hidden], [data-merge][hidden] { display: none !important; }
.code-editor { display: flex; border: 1px solid #8a8a8a; border-radius: 8px; overflow: hidden; background: #fff; }
.code-editor pre.gutter { margin: 0; padding: 8px 6px; min-width: 2.5em; text-align: right; background: #f3f3f3; color: #616161;
  font: 13px/20px ui-monospace, SFMono-Regular, Menlo, monospace; user-select: none; white-space: pre; }
.code-editor pre.gutter span.bad { color: #fff; background: #c70a24; border-radius: 3px; padding: 0 2px; }
.code-editor textarea { flex: 1; border: 0; padding: 8px; resize: vertical; font: 13px/20px ui-monospace, SFMono-Regular, Menlo, monospace;
  white-space: pre; overflow-x: auto; min-width: 0; }
.code-editor textarea:focus { outline: 2px solid #005bd3; outline-offset: -2px; }
.code-editor.has-error { border-color: #c70a24; }
.sms-bubble { background: #e3e3e3; border-radius: 16px; padding: 10px 14px; max-width: 320px; white-space: pre-wrap; overflow-wrap: anywhere; }
.email-frame { width: 100%; min-height: 320px; border: 1px solid #e3e3e3; border-radius: 8px; background: #fff; }
`));
}
