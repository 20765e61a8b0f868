// Form helpers shared by the settings: labelled fields that can show the server's error for
// their path ("steps[1].delay") right beside the input.

import { banner, h, humanize, replace } from "./dom.js";

let counter = 0;

// A labelled field; `path` is where the server's errors for it point.
export function field(path, label, control, hint = null) {
  const id = control.id || `f${++counter}`;
  control.id = id;
  return h("div", { class: "field", "data-field": path },
    h("label", { for: id }, label), control, hint ? h("span", { class: "muted" }, hint) : null);
}

export function selectOf(values, current, attrs = {}) {
  return h("select", attrs, values.map((v) => h("option", { value: v, selected: v === current }, humanize(v))));
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll(".field-error, .form-error")) el.remove();
  for (const el of form.querySelectorAll(".has-error")) el.classList.remove("has-error");
  for (const el of form.querySelectorAll("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
    el.removeAttribute("aria-describedby");
  }
}

// Show an API error: next to its field when the form has one for that path (or an enclosing
// path), else at the top of the form. Every message is announced (role="alert").
export function showError(form, error) {
  clearErrors(form);
  replace(form.querySelector(".form-status"));
  const target = error.field ? closestField(form, error.field) : null;
  const id = `e${++counter}`;
  const text = error.field && target?.dataset.field !== error.field
    ? `${error.field}: ${error.message}` : error.message;
  if (target) {
    target.classList.add("has-error");
    const message = h("p", { class: "field-error", role: "alert", id }, text);
    target.append(message);
    const input = target.querySelector("input, select, textarea");
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", id);
      input.focus();
    }
    return;
  }
  const slot = form.querySelector(".form-status");
  const detail = error.field ? `${error.field}: ${error.message}` : error.message;
  replace(slot, h("div", { class: "form-error" }, banner("critical", detail)));
}

function closestField(form, path) {
  let current = path;
  while (current) {
    const found = form.querySelector(`[data-field="${CSS.escape(current)}"]`);
    if (found) return found;
    const cut = Math.max(current.lastIndexOf("."), current.lastIndexOf("["));
    current = cut > 0 ? current.slice(0, cut) : "";
  }
  return null;
}

export function showSaved(form, message) {
  clearErrors(form);
  replace(form.querySelector(".form-status"), banner("success", message));
}
