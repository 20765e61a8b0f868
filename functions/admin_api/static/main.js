// The admin page's entry point: routes by path (/app, /app/cases, /app/cases/<id>, ...), each
// view a module exporting `render(root, ctx)`, loaded when first shown (a view that fails to
// load breaks only itself). App Bridge mirrors pushState into the admin's address bar.

import { api, failed } from "./api.js";
import { h, replace } from "./dom.js";

const ROUTES = [
  { pattern: /^\/app\/?$/, module: "./dashboard.js" },
  { pattern: /^\/app\/cases\/?$/, module: "./cases.js" },
  { pattern: /^\/app\/cases\/([^/]+)\/?$/, module: "./case.js", keys: ["id"] },
  { pattern: /^\/app\/experiments\/?$/, module: "./experiments.js" },
  { pattern: /^\/app\/settings\/?$/, module: "./settings.js" },
  { pattern: /^\/app\/templates\/?$/, module: "./templates.js" },
  { pattern: /^\/app\/notifications\/?$/, module: "./notifications.js" },
  { pattern: /^\/app\/onboarding\/?$/, module: "./onboarding.js" },
];

const view = document.getElementById("view");
const SAVE_BAR = "recoup-save-bar";
let saving = { onSave: null, onDiscard: null, visible: false };
let drawn = 0; // each render's number: a slow, older render never overwrites a newer one

const saveBar = {
  get visible() { return saving.visible; },
  show({ onSave, onDiscard }) {
    saving = { onSave, onDiscard, visible: true };
    window.shopify.saveBar.show(SAVE_BAR);
  },
  hide() {
    saving = { onSave: null, onDiscard: null, visible: false };
    window.shopify.saveBar.hide(SAVE_BAR);
  },
};

document.getElementById("recoup-save").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.setAttribute("loading", "");
  try {
    if (saving.onSave && (await saving.onSave())) saveBar.hide();
  } finally {
    button.removeAttribute("loading");
  }
});
document.getElementById("recoup-discard").addEventListener("click", () => {
  const discard = saving.onDiscard;
  saveBar.hide();
  if (discard) discard();
});

function toast(message, { error = false } = {}) {
  window.shopify.toast.show(message, { isError: error, duration: error ? 8000 : 4000 });
}

// One shared modal; resolves to the chosen value (null when cancelled or closed).
function choose({ heading, body, choices, cancelLabel = "Cancel" }) {
  const modal = document.getElementById("recoup-confirm");
  return new Promise((resolve) => {
    let chosen = null;
    const close = (value) => { chosen = value; modal.hideOverlay(); };
    const buttons = choices.map((choice, index) => h("s-button", {
      slot: index === choices.length - 1 ? "primary-action" : "secondary-actions",
      variant: choice.variant || (index === choices.length - 1 ? "primary" : "secondary"),
      tone: choice.tone || null,
      "data-choice": String(choice.value),
      onclick: () => close(choice.value),
    }, choice.label));
    const cancel = h("s-button", { slot: "secondary-actions", "data-choice": "cancel", onclick: () => close(null) }, cancelLabel);
    modal.setAttribute("heading", heading);
    replace(modal, h("div", { id: "recoup-confirm-body" }, typeof body === "string" ? h("s-paragraph", {}, body) : body), cancel, ...buttons);
    modal.addEventListener("hide", () => resolve(chosen), { once: true });
    modal.showOverlay();
  });
}

async function confirm({ heading, body, confirmLabel, tone, cancelLabel = "Cancel" }) {
  const value = await choose({ heading, body, cancelLabel, choices: [{ label: confirmLabel, value: "confirm", tone }] });
  return value === "confirm";
}

async function navigate(path, { replace: replacing = false } = {}) {
  if (path === window.location.pathname + window.location.search) return;
  if (saving.visible) {
    await window.shopify.saveBar.leaveConfirmation();
    saveBar.hide();
  }
  if (replacing) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  await route();
}

function match(pathname) {
  for (const r of ROUTES) {
    const found = r.pattern.exec(pathname);
    if (found) {
      const params = {};
      (r.keys || []).forEach((key, i) => { params[key] = decodeURIComponent(found[i + 1]); });
      return { module: r.module, params };
    }
  }
  return null;
}

async function route() {
  const number = ++drawn;
  const found = match(window.location.pathname);
  view.dataset.ready = "false";
  window.dispatchEvent(new Event("recoup:navigated"));
  if (!found) {
    replace(view, h("s-page", { heading: "Page not found" },
      h("s-section", {}, h("s-paragraph", {}, "This page does not exist. "), h("s-link", { href: "/app" }, "Go to the dashboard"))));
    view.dataset.ready = "true";
    return;
  }
  view.dataset.view = found.module.slice(2, -3);
  const root = h("div", { class: "view-root" });
  const ctx = {
    api, toast, saveBar, confirm, choose, navigate,
    params: found.params, query: new URLSearchParams(window.location.search),
  };
  try {
    const module = await import(found.module);
    await module.render(root, ctx);
  } catch (error) {
    console.error(error);
    replace(root, h("s-page", { heading: "Recoup" }, h("s-banner", { tone: "critical", heading: "Recoup could not show this page" },
      h("s-paragraph", {}, "Reload the page; if it happens again, tell us what you were doing."))));
    if (number === drawn) {
      replace(view, root);
      view.dataset.ready = "error";
    }
    return;
  }
  if (number !== drawn) return;
  replace(view, root);
  view.dataset.ready = "true";
}

// In-page links (/app/...) route without reloading; others (shopify://, _top) go as they are.
// An s-link or s-button with href counts as a link too: Polaris draws its anchor out of reach,
// and a full load of an /app path would lose the admin's launch parameters.
document.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const link = event.composedPath().find((el) => el instanceof Element && el.hasAttribute("href")
    && (el instanceof HTMLAnchorElement || el.localName === "s-link" || el.localName === "s-button"));
  if (!link) return;
  const target = link.getAttribute("target");
  if ((target && target !== "_self" && target !== "auto") || link.hasAttribute("download")) return;
  const url = new URL(link.getAttribute("href"), window.location.href);
  if (url.origin !== window.location.origin || !url.pathname.startsWith("/app")) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener("popstate", () => {
  saveBar.hide();
  route();
});

export { failed };
route();
