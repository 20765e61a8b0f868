// Settings, Strategies: which reminder sequence fits which case. The list is tried in order;
// the first strategy whose conditions a case meets takes it, and the default (the reminder
// sequence above) takes every other case. A shop that never set its own follows the shipped
// strategies, shown here as the starting list: an edit makes the list the draft's, and
// saving makes it the shop's. The strategies are part of the reminder policy (`strategies`),
// saved with the rest by the page's one save bar.
//
// Below the list: the tester ("Which strategy would this case get?") and the what-if preview
// of the last days' cases, both on the page's draft, saved or not.

import { h, humanize, replace, table } from "./dom.js";
import { CHANNELS, TONES, stepsEditor } from "./cadence.js";
import { asNumber, bound, foldable, getPath, optionList, pathLabel, same } from "./forms.js";
import { date, dateTime, fromMinor, money, toMinor } from "./format.js";
import { DECLINES, MANUAL_METHODS, METHODS } from "./labels.js";
import { WRITE_ORDERS, hasScope, requestScopes, scopesApi } from "./scopes.js";

const RISKS = { low: "Low", review: "Review", high: "High", unscored: "Not scored" };
const CUSTOMERS = { any: "Any customer", first: "First order at the shop", returning: "Returning customer" };
const HISTORIES = {
  never_paid: "Left an earlier order unpaid",
  paid_after_reminders: "Paid an earlier order only after reminders",
  paid_without_reminders: "Paid earlier orders without reminders",
  no_past_cases: "No earlier unpaid order with the shop",
};
const TERMS = { any: "Any order", with: "Only orders with payment terms", without: "Only orders without payment terms" };
const FALLBACK = {
  choices: { methods: Object.keys(METHODS), declines: Object.keys(DECLINES), risks: Object.keys(RISKS), customer: Object.keys(CUSTOMERS) },
  limits: { count: 20, courtesy_days: [0, 14], arms: [2, 5], max_holdout_percent: 20 },
  shipped: [],
};
const BASE = "reminders.strategies";

// ------------------------------------------------------------------ words

function listWords(values, names) {
  const shown = values.map((v) => names[v] || humanize(v));
  return shown.length > 1 ? `${shown.slice(0, -1).join(", ")} or ${shown[shown.length - 1]}` : shown[0];
}

function bandWords(currency, band) {
  const low = fromMinor(band.min ?? 0, currency);
  return band.max === null || band.max === undefined
    ? `${currency} ${low} and up` : `${currency} ${low} to under ${fromMinor(band.max, currency)}`;
}

// "Bank transfer or Cash on delivery · DE, AT · first orders": what a case must be.
export function conditionsSummary(when = {}) {
  const said = [];
  if (when.methods?.length) said.push(listWords(when.methods, METHODS));
  if (when.declines?.length) said.push(`decline: ${listWords(when.declines, DECLINES).toLowerCase()}`);
  const bands = Object.entries(when.amount || {});
  if (bands.length) said.push(`owes ${bands.map(([c, b]) => bandWords(c, b)).join(" or ")}`);
  if (when.countries?.length) said.push(`in ${when.countries.join(", ")}`);
  if (when.customer && when.customer !== "any") said.push(CUSTOMERS[when.customer].toLowerCase());
  if (when.risks?.length) said.push(`risk ${listWords(when.risks, RISKS).toLowerCase()}`);
  if (when.past_cases?.length) said.push(listWords(when.past_cases, HISTORIES).toLowerCase());
  if (when.payment_terms === true) said.push("with payment terms");
  if (when.payment_terms === false) said.push("without payment terms");
  return said.length ? said.join(" · ") : "Every case";
}

function experimentWords(experiment) {
  return experiment.arms.map((a) => `“${a.id}” ${a.weight}%${a.holdout ? " (the holdout: no reminders)" : ""}`).join(", ");
}

// The section's folded line: how many strategies come before the default.
export function strategiesSummary(policy, meta) {
  const own = policy.strategies;
  const list = own ?? (meta.strategies || FALLBACK).shipped;
  const names = list.map((s) => s.name).join(", ");
  if (!list.length) return "Only the default: every case gets the reminder sequence.";
  return `${own ? "" : "Shipped: "}${names}; then the default.`;
}

// "Strategies · German first orders · When · Amount · USD · Max": a field at fault named
// by the page's words, for the save's banner.
export function strategyLabel(path, policy, meta) {
  const found = /^reminders\.strategies\[(\d+)\]\.?(.*)$/.exec(path || "");
  if (!found) return null;
  const list = policy.strategies ?? (meta.strategies || FALLBACK).shipped;
  const strategy = list[Number(found[1])];
  const name = strategy ? strategy.name : `Strategy ${Number(found[1]) + 1}`;
  const rest = found[2].replace(/(^|\.)steps\[\d+\].*$/, ""); // a step's message names its step
  return ["Strategies", name, rest ? pathLabel(rest) : null].filter(Boolean).join(" · ");
}

// The server counts an amount band in minor units; the page shows the currency's own.
export function strategyMessage(path, message) {
  const band = /\.when\.amount\.([A-Z]{3})\.(min|max)$/.exec(path || "");
  if (!band) return message;
  const currency = band[1];
  return String(message)
    .replace("whole minor units", "an amount")
    .replace("or null", "or empty")
    .replace(/\bmin \((\d+)\)/, (_, n) => `the minimum (${currency} ${fromMinor(Number(n), currency)})`)
    .replace(/got (\d+)\b/, (_, n) => `got ${fromMinor(Number(n), currency)}`);
}

// ------------------------------------------------------------------ the editor

function slug(text) {
  const base = String(text || "").toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40);
  return /^[a-z0-9]/.test(base) ? base : `strategy${base ? `-${base}` : ""}`.slice(0, 40);
}

// A slug of the name that no other strategy (nor the default) has.
function uniqueId(name, list, index) {
  const taken = new Set(["default", ...list.filter((_, i) => i !== index).map((s) => s.id)]);
  const base = slug(name);
  let id = base;
  for (let n = 2; taken.has(id); n += 1) id = `${base.slice(0, 36)}-${n}`;
  return id;
}

// `saved`: the strategies as saved (undefined: never set, so the shipped ones): what "New"
// and "Edited" are reckoned against, by id.
export function strategiesSection({ meta, policy, saved, templates, edit, ctx, redraw, open, tools }) {
  const info = meta.strategies || FALLBACK;
  const shippedInUse = policy.strategies === undefined;
  const baseline = saved ?? info.shipped;
  const list = shippedInUse ? info.shipped : policy.strategies;
  // The first edit of the shipped list makes it the draft's own.
  const own = () => { if (policy.strategies === undefined) edit(BASE, structuredClone(info.shipped)); };
  const editOwn = (path, value) => { own(); edit(path, value); };
  const mutate = (fn) => { own(); const next = structuredClone(policy.strategies); fn(next); edit(BASE, next); redraw(); };
  const current = () => policy.strategies ?? info.shipped;
  const savedIds = new Set(baseline.map((s) => s.id));
  // Changed from the strategy of the same id as saved; a new one has its own badge.
  const changed = (path) => {
    const found = /^reminders\.strategies\[(\d+)\](.*)$/.exec(path);
    const now = found && current()[Number(found[1])];
    const before = now && baseline.find((s) => s.id === now.id);
    return Boolean(before) && !same(getPath(before, found[2]), getPath(now, found[2]));
  };
  const env = { info, list, current, savedIds, templates, edit: editOwn, mutate, changed, ctx, redraw, open, stepLimits: meta.limits };

  const add = h("s-button", { id: "add-strategy", disabled: list.length >= info.limits.count ? "" : null, onclick: () => {
    const index = list.length;
    open.add(`strategy-${index}`);
    mutate((next) => next.push({
      id: uniqueId("New strategy", next, -1), name: "New strategy",
      when: { methods: [], declines: [], amount: {}, countries: [], customer: "any", risks: [], payment_terms: null },
      steps: structuredClone(policy.steps), courtesy_days: 0,
    }));
    ctx.toast(`Strategy ${index + 1} added, before the default`);
  } }, "Add strategy");

  return h("s-stack", { direction: "block", gap: "base", id: "strategies" },
    h("s-paragraph", {}, "Each case gets the first strategy whose conditions it meets, in this order; the conditions left empty hold for any case. A case keeps the strategy it got when its reminders started."),
    shippedInUse ? h("s-banner", { tone: "info", heading: "Recoup's shipped strategies", id: "strategies-shipped" },
      h("s-paragraph", {}, "Your shop has not set its own strategies, so these apply. Change them here and save: the list becomes your shop's own, and later changes to the shipped strategies no longer reach it.")) : null,
    h("s-box", { "data-path": BASE },
      h("s-stack", { direction: "block", gap: "small" }, list.map((strategy, index) => strategyBox(strategy, index, env)))),
    defaultBox(policy),
    h("s-stack", { direction: "inline", gap: "base" }, add),
    h("s-divider", {}),
    testerPanel({ ctx, tools }),
    h("s-divider", {}),
    whatifPanel({ ctx, tools }));
}

function defaultBox(policy) {
  const steps = policy.steps || [];
  return h("s-box", { padding: "base", border: "base", borderRadius: "base", background: "subdued", id: "strategy-default" },
    h("s-stack", { direction: "block", gap: "small" },
      h("s-stack", { direction: "inline", gap: "small", alignItems: "center" },
        h("s-text", { type: "strong" }, "Default: every other case (the reminder sequence above)"),
        h("s-badge", { tone: "neutral" }, "Always last")),
      h("s-text", { tone: "subdued" }, `${steps.length} step${steps.length === 1 ? "" : "s"}, edited under Reminders.`)));
}

function strategyBox(strategy, index, env) {
  const path = `${BASE}[${index}]`;
  const key = `strategy-${index}`;
  const isNew = !env.savedIds.has(strategy.id);
  const cancel = cancelBlock(strategy, index, path, env);
  const body = h("s-stack", { direction: "block", gap: "base" },
    identityFields(strategy, index, path, isNew, env),
    conditionsBlock(strategy, path, env, () => cancel.update()),
    h("s-heading", {}, "Steps"),
    stepsEditor({ steps: strategy.steps, path: `${path}.steps`, templates: env.templates, limits: env.stepLimits,
      edit: env.edit, changed: env.changed, ctx: env.ctx, redraw: env.redraw, openSteps: env.open, scope: `s${index}`, owner: strategy.name }),
    cancel,
    experimentBlock(strategy, index, path, env),
    moveButtons(strategy, index, env));
  const fold = foldable({ id: key, summary: strategy.name, open: env.open.has(key), body });
  fold.toggle.addEventListener("click", () => { if (fold.body.hidden) env.open.delete(key); else env.open.add(key); });
  return h("s-box", { padding: "base", border: "base", borderRadius: "base", "data-strategy": String(index), "data-strategy-id": strategy.id, "data-path": path },
    h("s-stack", { direction: "inline", gap: "base", justifyContent: "space-between", alignItems: "center" },
      h("s-stack", { direction: "block", gap: "small" },
        h("s-stack", { direction: "inline", gap: "small", alignItems: "center" },
          h("s-text", { type: "strong", "data-strategy-name": String(index) }, `${index + 1}. ${strategy.name}`),
          isNew ? h("s-badge", { tone: "info" }, "New") : env.changed(path) ? h("s-badge", { tone: "info" }, "Edited") : null,
          strategy.experiment ? h("s-badge", { tone: "attention" }, "Experiment") : null),
        h("s-text", { tone: "subdued", "data-strategy-summary": String(index) }, conditionsSummary(strategy.when))),
      fold.toggle),
    fold.body);
}

function identityFields(strategy, index, path, isNew, env) {
  const idField = bound("s-text-field", { path: `${path}.id`, label: "Id", value: strategy.id, onEdit: env.edit,
    disabled: isNew ? null : "",
    details: isNew ? "Made from the name; a-z, 0-9, '-' or '_'. Cases record it, so it stays once saved." : "Cases record it, so it stays as it is." });
  const nameField = bound("s-text-field", { path: `${path}.name`, label: "Name", value: strategy.name, maxLength: "80",
    onEdit: (at, value) => {
      // A new strategy's id follows its name until the id is typed in.
      const before = env.current()[index];
      const follows = isNew && before.id === uniqueId(before.name, env.current(), index);
      env.edit(at, value);
      if (follows) {
        const id = uniqueId(value, env.current(), index);
        env.edit(`${path}.id`, id);
        idField.value = id;
      }
      const shown = nameField.closest("[data-strategy]")?.querySelector("[data-strategy-name]");
      if (shown) shown.textContent = `${index + 1}. ${value}`;
    } });
  return h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(220px, 1fr))", gap: "base" }, nameField, idField);
}

function moveButtons(strategy, index, env) {
  const last = env.list.length - 1;
  const move = (to) => () => {
    env.open.delete(`strategy-${index}`);
    env.open.add(`strategy-${to}`);
    env.mutate((next) => next.splice(to, 0, ...next.splice(index, 1)));
  };
  return h("s-stack", { direction: "inline", gap: "small", alignItems: "center" },
    h("s-button", { variant: "tertiary", accessibilityLabel: `Move ${strategy.name} up`, disabled: index === 0 ? "" : null, onclick: move(index - 1) }, "Move up"),
    h("s-button", { variant: "tertiary", accessibilityLabel: `Move ${strategy.name} down`, disabled: index === last ? "" : null, onclick: move(index + 1) }, "Move down"),
    h("s-button", { variant: "tertiary", tone: "critical", accessibilityLabel: `Remove ${strategy.name}`, "data-remove-strategy": String(index),
      onclick: () => { env.open.delete(`strategy-${index}`); env.mutate((next) => next.splice(index, 1)); } }, "Remove strategy"));
}

// ------------------------------------------------------------------ conditions

// `onMethods`: told when the methods ticked change (the cancellation depends on them).
function conditionsBlock(strategy, path, env, onMethods) {
  const when = strategy.when || {};
  const at = (key) => `${path}.when.${key}`;
  const choices = env.info.choices;
  const terms = when.payment_terms === true ? "with" : when.payment_terms === false ? "without" : "any";
  return h("s-box", { "data-path": `${path}.when` }, h("s-stack", { direction: "block", gap: "base" },
    h("s-heading", {}, "When"),
    h("s-text", { tone: "subdued" }, "A case must meet every condition set here."),
    checkboxes(at("methods"), "Paid by", choices.methods, METHODS, when.methods || [], env, onMethods),
    checkboxes(at("declines"), "Newest declined payment", choices.declines, DECLINES, when.declines || [], env),
    checkboxes(at("risks"), "Fraud risk", choices.risks, RISKS, when.risks || [], env),
    checkboxes(at("past_cases"), "The customer's earlier orders with the shop", Object.keys(HISTORIES), HISTORIES,
      when.past_cases || [], env),
    h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(240px, 1fr))", gap: "base" },
      radios(at("customer"), "Customer", choices.customer.map((c) => [c, CUSTOMERS[c] || humanize(c)]), when.customer || "any",
        (value) => env.edit(at("customer"), value)),
      radios(at("payment_terms"), "Payment terms", Object.entries(TERMS), terms, (value) => {
        env.edit(at("payment_terms"), value === "with" ? true : value === "without" ? false : null);
        if (value !== "with" && strategy.courtesy_days) env.edit(`${path}.courtesy_days`, 0);
        env.redraw();
      })),
    when.payment_terms === true ? bound("s-number-field", { path: `${path}.courtesy_days`, label: "Courtesy reminder (days before the due date)",
      value: strategy.courtesy_days ?? 0, min: String(env.info.limits.courtesy_days[0]), max: String(env.info.limits.courtesy_days[1]), step: "1",
      read: asNumber, onEdit: env.edit, details: "A friendly note that the payment is due soon; 0 for none. The steps count from the due date." }) : null,
    bound("s-text-field", { path: at("countries"), label: "Customer's country", value: (when.countries || []).join(", "),
      placeholder: "DE, AT, CH", details: "Two-letter codes, separated by commas; empty for any country.",
      read: (text) => String(text).split(/[\s,;]+/).map((c) => c.trim().toUpperCase()).filter(Boolean), onEdit: env.edit }),
    amountBands(at("amount"), when.amount || {}, env)));
}

function checkboxes(path, legend, values, names, chosen, env, onChange = null) {
  const picked = new Set(chosen);
  const boxes = values.map((value) => {
    const box = h("s-checkbox", { label: names[value] || humanize(value), "data-choice": value, checked: picked.has(value) ? "" : null });
    box.addEventListener("change", () => {
      if (box.checked) picked.add(value); else picked.delete(value);
      env.edit(path, values.filter((v) => picked.has(v)));
      if (onChange) onChange();
    });
    return box;
  });
  return h("fieldset", { class: "choice-group", "data-path": path },
    h("legend", {}, legend, h("span", { class: "choice-hint" }, " (none ticked: any)")),
    h("div", { class: "choice-row" }, boxes));
}

let radioSerial = 0;
function radios(path, legend, choices, current, onChange) {
  const name = `radio-${++radioSerial}`;
  return h("fieldset", { class: "choice-group", "data-path": path },
    h("legend", {}, legend),
    h("div", { class: "choice-column" }, choices.map(([value, label]) => h("label", { class: "radio" },
      h("input", { type: "radio", name, value, checked: value === current, onchange: () => onChange(value) }),
      h("span", {}, label)))));
}

// Amount bands per currency, each from a minimum (included) to a maximum (excluded, empty:
// no upper bound), typed in the currency's own units and kept in minor units, as the
// instalment settings keep theirs.
function amountBands(path, bands, env) {
  const rows = Object.entries(bands).map(([currency, band]) => {
    const at = `${path}.${currency}`;
    const read = (text) => (String(text).trim() === "" ? null : toMinor(text, currency) ?? text);
    return h("div", { class: "band-row", "data-band": currency },
      bound("s-text-field", { path: `${at}.min`, label: `From (${currency})`, value: fromMinor(band.min ?? 0, currency),
        read: (text) => read(text) ?? 0, onEdit: env.edit }),
      bound("s-text-field", { path: `${at}.max`, label: `Under (${currency})`, placeholder: "no limit",
        value: band.max === null || band.max === undefined ? "" : fromMinor(band.max, currency), read, onEdit: env.edit }),
      h("s-button", { variant: "tertiary", class: "band-remove", accessibilityLabel: `Remove the ${currency} band`, onclick: () => {
        const next = { ...bands }; delete next[currency]; env.edit(path, next); env.redraw();
      } }, "Remove"));
  });
  const code = h("s-text-field", { label: "Currency", placeholder: "EUR", maxLength: "3", "data-currency-for": path });
  return h("s-box", { "data-path": path },
    h("s-stack", { direction: "block", gap: "small" },
      h("s-text", {}, "Amount owed"),
      h("s-text", { tone: "subdued" }, rows.length
        ? "From the first amount, up to but not including the second (empty: no limit). A case owing another currency does not match."
        : "Any amount. A band per currency limits the strategy to amounts in it; a case owing another currency does not match."),
      rows,
      h("s-stack", { direction: "inline", gap: "small", alignItems: "end" }, code,
        h("s-button", { "data-add-band": path, onclick: () => {
          const currency = String(code.value || "").trim().toUpperCase();
          if (/^[A-Z]{3}$/.test(currency) && !(currency in bands)) {
            env.edit(path, { ...bands, [currency]: { min: 0, max: null } });
            env.redraw();
          }
        } }, "Add a currency band"))));
}

// ------------------------------------------------------------------ cancelling unpaid orders

// A strategy for manual payments only may have Shopify cancel the order, still unpaid that
// many days after it was placed, once the customer got a last message. The field is open
// only while the strategy's methods are all manual (or it already holds days, so a refusal
// can be mended where it shows); turned on, it needs the optional `write_orders` scope,
// asked of Shopify here.
function cancelBlock(strategy, index, path, env) {
  const at = `${path}.cancel_after_days`;
  const limits = env.info.limits.cancel_after_days || [0, 90];
  const manual = env.info.choices.manual_methods || MANUAL_METHODS;
  const days = () => Number(env.current()[index]?.cancel_after_days || 0);
  const methods = () => env.current()[index]?.when?.methods || [];
  const allManual = () => methods().length > 0 && methods().every((m) => manual.includes(m));
  const said = h("s-paragraph", { "data-cancel-said": String(index) });
  const scope = h("div", { "data-cancel-scope": String(index), "aria-live": "polite" });
  const field = bound("s-number-field", { path: at, label: "Cancel the order after (days)", value: strategy.cancel_after_days ?? 0,
    min: String(limits[0]), max: String(limits[1]), step: "1", read: asNumber,
    details: `From 1 to ${limits[1]} days after the order was placed; 0: never.`,
    onEdit: (where, value) => { env.edit(where, value); update(); } });
  const only = h("s-text", { tone: "subdued", "data-cancel-only": String(index) },
    `Only for a strategy for manual payments: under “Paid by”, tick only ${listWords(manual, METHODS)}.`);
  let shownFor = null; // the scope box is drawn once per turn on
  function update() {
    const on = days() > 0;
    const open = allManual() || on;
    field.toggleAttribute("disabled", !open);
    only.hidden = allManual();
    said.textContent = on
      ? `Still unpaid ${days()} day${days() === 1 ? "" : "s"} after the order, the customer gets a last message saying the order is being cancelled; then Shopify cancels the order and puts its items back in stock. Shopify's own cancellation email is not sent, and a payment before then stops it.`
      : "Never: the order stays open in Shopify after the last reminder.";
    if (on && shownFor !== "on") { shownFor = "on"; scopeStatus(scope); }
    if (!on) { shownFor = null; replace(scope); }
  }
  const box = h("s-box", { padding: "base", background: "subdued", borderRadius: "base", "data-cancel": String(index) },
    h("s-stack", { direction: "block", gap: "small" },
      h("s-heading", {}, "When the order stays unpaid"),
      h("s-grid", { gridTemplateColumns: "repeat(auto-fill, minmax(220px, 1fr))", gap: "base" }, field),
      only, said, scope));
  box.update = update;
  update();
  return box;
}

// Whether Shopify lets Recoup cancel orders, and a way to allow it.
async function scopeStatus(box) {
  if (!scopesApi()) {
    replace(box, h("s-text", { tone: "subdued" }, "Whether Shopify lets Recoup cancel orders is checked when the page runs inside the Shopify admin."));
    return;
  }
  replace(box, h("s-text", { tone: "subdued" }, "Checking whether Shopify lets Recoup cancel orders…"));
  const granted = await hasScope(WRITE_ORDERS);
  if (granted) {
    replace(box, h("s-text", { tone: "success", "data-scope": "granted" }, "Shopify lets Recoup cancel orders (permission “write_orders” granted)."));
    return;
  }
  const ask = h("s-button", { variant: "primary", "data-request-scope": WRITE_ORDERS, onclick: async () => {
    ask.setAttribute("loading", "");
    const answer = await requestScopes([WRITE_ORDERS]);
    ask.removeAttribute("loading");
    if (answer === "granted") { scopeStatus(box); return; }
    note.textContent = answer === "declined"
      ? "Not allowed: nothing will be cancelled, and each case's timeline will say why. You can allow it here at any time."
      : "Shopify did not answer. Try again in a moment.";
  } }, "Allow Recoup to cancel orders");
  const note = h("s-paragraph", { "data-scope-note": "" });
  replace(box, h("s-banner", { tone: "warning", heading: "Recoup needs your permission to cancel orders", "data-scope": "missing" },
    h("s-stack", { direction: "block", gap: "small" },
      h("s-paragraph", {}, "Shopify asks you once (the “write_orders” permission). Until you allow it, no order is cancelled: each case's timeline says so instead."),
      h("s-stack", { direction: "inline", gap: "small" }, ask),
      note)));
}

// ------------------------------------------------------------------ experiments

function experimentBlock(strategy, index, path, env) {
  const experiment = strategy.experiment;
  if (!experiment) {
    return h("s-box", { "data-path": `${path}.experiment` }, h("s-stack", { direction: "inline", gap: "small", alignItems: "center" },
      h("s-text", { tone: "subdued" }, "No experiment."),
      h("s-button", { variant: "tertiary", "data-start-experiment": String(index), onclick: () => env.mutate((next) => {
        next[index].experiment = {
          id: `${slug(strategy.id).slice(0, 35)}-test`, started_at: new Date().toISOString(),
          max_holdout_percent: env.info.limits.max_holdout_percent,
          arms: [{ id: "reminders", weight: 90, holdout: false }, { id: "holdout", weight: 10, holdout: true }],
        };
        next[index].variants = {};
        env.open.add(`s${index}-arms`);
      }) }, "Start an experiment")));
  }
  const variants = strategy.variants || {};
  const own = Object.keys(variants);
  const arms = experiment.arms.map((arm, j) => armRow(arm, j, index, `${path}.experiment.arms[${j}]`, own.includes(arm.id), env));
  const limits = env.info.limits.arms;
  const form = h("s-box", { "data-path": `${path}.experiment.arms` }, h("s-stack", { direction: "block", gap: "small" },
    arms,
    h("s-stack", { direction: "inline", gap: "small" },
      h("s-button", { disabled: experiment.arms.length >= limits[1] ? "" : null, onclick: () => env.mutate((next) => {
        const taken = new Set(next[index].experiment.arms.map((a) => a.id));
        let n = experiment.arms.length + 1;
        while (taken.has(`arm-${n}`)) n += 1;
        next[index].experiment.arms.push({ id: `arm-${n}`, weight: 1, holdout: false });
      }) }, "Add an arm"),
      h("s-button", { variant: "tertiary", tone: "critical", onclick: () => env.mutate((next) => {
        delete next[index].experiment; delete next[index].variants;
      }) }, "Stop the experiment")),
    h("s-text", { tone: "subdued" }, "Weights are whole percents adding up to 100; the holdout gets no reminders, at most "
      + `${experiment.max_holdout_percent ?? env.info.limits.max_holdout_percent}% of cases. An arm's own steps (its variant) are kept as saved: this page does not edit them.`)));
  const fold = foldable({ id: `s${index}-arms`, summary: `the arms of ${strategy.name}`, open: env.open.has(`s${index}-arms`), label: "Edit arms", openLabel: "Done", body: form });
  fold.toggle.addEventListener("click", () => { if (fold.body.hidden) env.open.delete(`s${index}-arms`); else env.open.add(`s${index}-arms`); });
  return h("s-box", { padding: "base", background: "subdued", borderRadius: "base", "data-path": `${path}.experiment`, "data-experiment": experiment.id },
    h("s-stack", { direction: "block", gap: "small" },
      h("s-stack", { direction: "inline", gap: "base", justifyContent: "space-between", alignItems: "center" },
        h("s-text", { type: "strong" }, `Experiment “${experiment.id}”`), fold.toggle),
      h("s-paragraph", { "data-experiment-summary": "" }, experimentSummary(experiment)),
      h("s-paragraph", {}, own.length
        ? `${own.map((a) => `Arm ${a} has its own ${variants[a].length} step${variants[a].length === 1 ? "" : "s"}`).join("; ")}; the other arms follow the steps above.`
        : "Every arm but the holdout follows the steps above."),
      fold.body));
}

function experimentSummary(experiment) {
  return `Since ${date(experiment.started_at)}, each case is put in an arm by its id: ${experimentWords(experiment)}.`;
}

function armRow(arm, j, index, path, hasVariant, env) {
  // The summary above follows the arms as edited.
  const edit = (at, value) => {
    env.edit(at, value);
    const summary = row.closest("[data-experiment]")?.querySelector("[data-experiment-summary]");
    const experiment = env.current()[index]?.experiment;
    if (summary && experiment) summary.textContent = experimentSummary(experiment);
  };
  const row = h("s-stack", { direction: "inline", gap: "small", alignItems: "end", "data-arm": arm.id },
    bound("s-text-field", { path: `${path}.id`, label: "Arm", value: arm.id, onEdit: edit, disabled: hasVariant ? "" : null,
      details: hasVariant ? "Has its own steps: its id stays." : null }),
    bound("s-number-field", { path: `${path}.weight`, label: "Weight (%)", value: arm.weight, min: "1", max: "100", step: "1", read: asNumber, onEdit: edit }),
    bound("s-checkbox", { path: `${path}.holdout`, label: "Holdout (no reminders)", value: arm.holdout, onEdit: edit }),
    h("s-button", { variant: "tertiary", accessibilityLabel: `Remove arm ${arm.id}`, onclick: () => env.mutate((next) => {
      next[index].experiment.arms.splice(j, 1);
      if (next[index].variants) delete next[index].variants[arm.id];
    }) }, "Remove"));
  return row;
}

// ------------------------------------------------------------------ the tester

const FACT_FIELDS = [
  ["method", "Paid by", METHODS], ["decline", "Newest declined payment", DECLINES], ["risk", "Fraud risk", RISKS],
  ["customer", "Customer", { unknown: "Not known", first: "First order", returning: "Returning customer" }],
];

function testerPanel({ ctx, tools }) {
  const state = tools.tester;
  const result = h("div", { id: "tester-result", "aria-live": "polite" });
  const caseField = h("s-text-field", { label: "Order name or case id", placeholder: "#1001", "data-path": "tester.case_id", value: state.caseText || "" });
  caseField.addEventListener("input", () => { state.caseText = caseField.value; caseField.removeAttribute("error"); });
  const facts = factsForm(state);
  const modes = radios("tester.mode", "Test with", [["case", "One of the shop's cases"], ["facts", "Facts I enter"]], state.mode,
    (value) => { state.mode = value; caseBox.hidden = value !== "case"; facts.hidden = value !== "facts"; });
  const caseBox = h("s-box", {}, caseField);
  caseBox.hidden = state.mode !== "case";
  facts.hidden = state.mode !== "facts";
  const run = h("s-button", { id: "tester-run", variant: "secondary", onclick: async () => {
    run.setAttribute("loading", "");
    try { await test(ctx, tools, caseField, facts, result); } finally { run.removeAttribute("loading"); }
  } }, "Test");
  if (state.answer) showAnswer(result, state.answer);
  return h("s-stack", { direction: "block", gap: "base", id: "strategy-tester" },
    h("s-heading", {}, "Which strategy would this case get?"),
    h("s-text", { tone: "subdued" }, "Tries the strategies as they are on this page, saved or not."),
    modes, caseBox, facts,
    h("s-stack", { direction: "inline", gap: "small" }, run),
    result);
}

function factsForm(state) {
  const facts = state.facts;
  const set = (key) => (_, value) => { facts[key] = value; };
  const selects = FACT_FIELDS.map(([key, label, names]) => bound("s-select", { path: `tester.facts.${key}`, label, value: facts[key], onEdit: set(key) },
    optionList(Object.entries(names), facts[key])));
  return h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(200px, 1fr))", gap: "base", id: "tester-facts" },
    selects,
    bound("s-text-field", { path: "tester.facts.amount", label: "Amount owed", value: facts.amount, placeholder: "120.00", onEdit: set("amount") }),
    bound("s-text-field", { path: "tester.facts.currency", label: "Currency", value: facts.currency, placeholder: "USD", maxLength: "3", onEdit: set("currency") }),
    bound("s-text-field", { path: "tester.facts.country", label: "Country", value: facts.country, placeholder: "DE", maxLength: "2", onEdit: set("country") }),
    bound("s-checkbox", { path: "tester.facts.payment_terms", label: "The order has payment terms", value: facts.payment_terms, onEdit: set("payment_terms") }));
}

function factsBody(facts) {
  const body = { method: facts.method, decline: facts.decline, risk: facts.risk, customer: facts.customer, payment_terms: Boolean(facts.payment_terms) };
  if (String(facts.amount || "").trim()) {
    body.amount = String(facts.amount).trim();
    body.currency = String(facts.currency || "").trim().toUpperCase();
  }
  if (String(facts.country || "").trim()) body.country = String(facts.country).trim();
  return body;
}

// An order name (#1001) is found by the case search; anything else is taken as a case id.
async function caseIdFor(ctx, text) {
  if (text.length < 2) return text;
  const found = await ctx.api.get(`/cases?q=${encodeURIComponent(text)}&limit=5`);
  if (ctx.api.failed(found)) return text;
  const wanted = text.startsWith("#") ? text : `#${text}`;
  const match = found.cases.find((c) => c.id === text || c.order_name === text || c.order_name === wanted);
  return match ? match.id : found.cases.length === 1 ? found.cases[0].id : text;
}

async function test(ctx, tools, caseField, factsBox, result) {
  const state = tools.tester;
  for (const el of factsBox.querySelectorAll("[error]")) el.removeAttribute("error");
  caseField.removeAttribute("error");
  const body = { reminders: tools.reminders() };
  if (state.mode === "case") {
    const text = String(caseField.value || "").trim();
    if (!text) { caseField.setAttribute("error", "Enter an order name such as #1001, or a case id."); return; }
    body.case_id = await caseIdFor(ctx, text);
  } else {
    body.facts = factsBody(state.facts);
  }
  const answer = await ctx.api.post("/strategies/test", body);
  if (ctx.api.failed(answer)) {
    state.answer = null;
    problem(ctx, tools, answer, caseField, factsBox, result);
    return;
  }
  state.answer = answer;
  showAnswer(result, answer);
}

function problem(ctx, tools, answer, caseField, factsBox, result) {
  const field = answer.field || "";
  if (answer.status === 404 || field === "case_id") {
    caseField.setAttribute("error", "No case of this shop has this order name or id.");
    replace(result);
    return;
  }
  const fact = /^facts\.(\w+)$/.exec(field);
  const target = fact && factsBox.querySelector(`[data-path="tester.facts.${fact[1]}"]`);
  if (target) target.setAttribute("error", answer.message);
  else if (field.startsWith("reminders.")) tools.showError(field, answer.message);
  replace(result, target ? null : h("s-banner", { tone: "critical", heading: "The strategies could not be tried", id: "tester-problem" },
    h("s-paragraph", {}, `${field.startsWith("reminders.") ? `${tools.label(field)}: ` : ""}${answer.message}`)));
}

const CUSTOMER_WORDS = { first: "First order at the shop", returning: "Returning customer" };

// The facts a strategy reads, in the page's words.
export function factRows(facts) {
  const terms = facts.payment_terms;
  return [
    ["Paid by", METHODS[facts.method] || humanize(facts.method)],
    ["Newest declined payment", facts.decline
      ? `${facts.decline.code ? `${facts.decline.code.replaceAll("_", " ")}: ` : ""}${(DECLINES[facts.decline.category] || humanize(facts.decline.category)).toLowerCase()}`
      : "None"],
    ["Owed", money(facts.owed)],
    ["Country", facts.country || "Not known"],
    ["Customer", CUSTOMER_WORDS[facts.customer] || "Not known"],
    ["Fraud risk", RISKS[facts.risk] || humanize(facts.risk)],
    ["Payment terms", terms ? `${terms.name}${terms.due_at ? `, due ${date(terms.due_at)}` : ", no due date yet"}` : "None"],
  ];
}

// The server's reasons name values as stored ("paid by bank_transfer"): read as words.
export function whyWords(text) {
  return String(text || "").replaceAll("_", " ");
}

export function armWords(arm) {
  if (!arm) return null;
  const share = arm.weight ? ` (${arm.weight}% of cases)` : "";
  return arm.holdout ? `“${arm.id}”${share}, the holdout: no reminders` : `“${arm.id}”${share}`;
}

function showAnswer(result, answer) {
  const taken = answer.taken;
  const name = taken.default ? "The default" : `“${taken.name}”`;
  const follows = answer.follows;
  const experiment = taken.experiment && !taken.arm
    ? `Its experiment puts each case in an arm by the case's id: ${experimentWords(taken.experiment)}.` : null;
  replace(result, h("s-box", { padding: "base", border: "base", borderRadius: "base", id: "tester-answer", "data-taken": taken.id },
    h("s-stack", { direction: "block", gap: "small" },
      h("s-paragraph", { id: "tester-taken" }, h("s-text", { type: "strong" }, `${name} takes ${answer.case_id ? "this case" : "these facts"}`),
        taken.default ? "" : ` (${taken.id})`, `: ${whyWords(taken.why)}.`),
      taken.arm ? h("s-paragraph", { id: "tester-arm" }, `Experiment arm: ${armWords(taken.arm)}.`) : null,
      experiment ? h("s-paragraph", {}, experiment) : null,
      follows && follows.id !== taken.id
        ? h("s-paragraph", { id: "tester-follows" }, `The case follows ${follows.name ? `“${follows.name}”` : follows.id} now: the strategy is chosen when its reminders start.`)
        : null,
      table(["", "Strategy", "Result"], answer.tried.map((t, i) => ({
        attrs: { "data-tried": t.id, "data-matched": String(t.matched) },
        cells: [String(i + 1), t.default ? "Default" : `${t.name} (${t.id})`,
          t.matched ? h("s-badge", { tone: "success" }, "Takes the case") : `Not taken: ${whyWords(t.failure)}`],
      })), { id: "tester-tried", accessibilityLabel: "Strategies tried, in order" }),
      h("s-text", { type: "strong" }, "The facts read"),
      h("dl", { class: "facts", id: "tester-facts-read" }, factRows(answer.facts).map(([t, v]) => [h("dt", {}, t), h("dd", {}, v)])))));
}

// ------------------------------------------------------------------ the what-if preview

const WHATIF_LABELS = {
  window: "Period", cases: "Cases", cut: "Cut short (too many cases)", gone: "Messages that would have gone",
  to_come: "Messages still to come", not_chased: "Not chased (below the minimum)", holdout: "In a holdout",
  waiting_for_due_date: "Waiting for a due date", first_at: "First message", last_at: "Last message",
  strategies: "Cases per strategy", messages: "Messages per strategy, step and channel", weeks: "Messages that would have gone, per week",
  cases_by_strategy: "Cases per strategy",
};
const COLUMN_LABELS = {
  id: "Id", name: "Strategy", strategy: "Strategy", arm: "Arm", step: "Step", channel: "Channel", tone: "Tone",
  template: "Template", cases: "Cases", holdout: "In holdout", gone: "Would have gone", to_come: "Still to come",
};

function whatifPanel({ ctx, tools }) {
  const state = tools.whatif;
  const result = h("div", { id: "whatif-result", "aria-live": "polite" });
  const days = h("s-number-field", { label: "Days back", value: String(state.days), min: "1", max: "90", step: "1", "data-path": "whatif.days" });
  const run = h("s-button", { id: "whatif-run", variant: "secondary" }, `Preview against the last ${state.days} days`);
  days.addEventListener("input", () => {
    const n = Number(days.value);
    days.removeAttribute("error");
    if (Number.isInteger(n) && n >= 1 && n <= 90) { state.days = n; run.textContent = `Preview against the last ${n} days`; }
  });
  run.addEventListener("click", async () => {
    run.setAttribute("loading", "");
    try {
      const answer = await ctx.api.post("/strategies/whatif", { reminders: tools.reminders(), days: state.days });
      if (ctx.api.failed(answer)) {
        state.answer = null;
        if (answer.field === "days") days.setAttribute("error", answer.message);
        else if ((answer.field || "").startsWith("reminders.")) tools.showError(answer.field, answer.message);
        replace(result, h("s-banner", { tone: "critical", heading: "No preview", id: "whatif-problem" },
          h("s-paragraph", {}, `${answer.field && answer.field.startsWith("reminders.") ? `${tools.label(answer.field)}: ` : ""}${answer.message}`)));
        return;
      }
      state.answer = answer;
      showPreview(result, answer);
    } finally {
      run.removeAttribute("loading");
    }
  });
  if (state.answer) showPreview(result, state.answer);
  return h("s-stack", { direction: "block", gap: "base", id: "strategy-whatif" },
    h("s-heading", {}, "What if?"),
    h("s-text", { tone: "subdued" }, "Which of the cases opened in the last days each strategy on this page would take, and the messages they would have sent and would still send. Nothing is sent or saved."),
    h("s-stack", { direction: "inline", gap: "small", alignItems: "end" }, days, run),
    result);
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;
const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;

function cellText(key, value) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "boolean") return value ? "Yes" : "No";
  if (key === "channel") return CHANNELS[value] || humanize(value);
  if (key === "tone") return TONES[value] || humanize(value);
  if (key === "template") return humanize(value);
  if (typeof value === "string" && ISO_TIME.test(value)) return dateTime(value);
  if (typeof value === "string" && ISO_DAY.test(value)) return date(value);
  if (typeof value === "object") return Object.entries(value).map(([k, v]) => `${humanize(k)}: ${cellText(k, v)}`).join(", ");
  return String(value);
}

const isScalar = (value) => value === null || typeof value !== "object";

// A strategy's id as the preview names it: by its name when the preview lists it (`full`:
// with the id too, for the table of the strategies themselves).
function strategyNames(answer) {
  const names = { full: {}, short: {} };
  for (const row of Array.isArray(answer.strategies) ? answer.strategies : []) {
    if (!row || !row.id) continue;
    names.short[row.id] = row.name || row.id;
    names.full[row.id] = row.id === "default" ? row.name || "Default" : `${row.name} (${row.id})`;
  }
  return names;
}

// Rows as shown: a strategy's id and name as one column, columns empty in every row left out.
function shownRows(rows, names) {
  const shown = rows.map((row) => {
    const out = {};
    for (const [key, value] of Object.entries(row)) {
      if (key === "id" && "name" in row) out.strategy = names.full[value] || `${row.name} (${value})`;
      else if (key === "name" && "id" in row) continue;
      else if (key === "strategy") out.strategy = names.short[value] || value;
      else out[key] = value;
    }
    return out;
  });
  const columns = Object.keys(shown[0]).filter((c) => shown.some((row) => row[c] !== null && row[c] !== undefined && row[c] !== ""));
  return { columns, shown };
}

// A section of the preview as a table: a list of rows, or a map of names to counts (a
// week's, say: the weeks with none are left out).
function previewTable(key, value, names) {
  const label = WHATIF_LABELS[key] || humanize(key);
  const part = (...body) => h("s-stack", { direction: "block", gap: "small", "data-whatif": key }, h("s-text", { type: "strong" }, label), ...body);
  if (Array.isArray(value)) {
    if (!value.length) return part(h("s-paragraph", {}, "None."));
    const { columns, shown } = shownRows(value, names);
    const heads = columns.map((c) => ({ label: COLUMN_LABELS[c] || humanize(c), format: typeof shown[0][c] === "number" ? "numeric" : null }));
    return part(table(heads, shown.map((row) => columns.map((c) => cellText(c, row[c]))), { accessibilityLabel: label }));
  }
  const dated = ISO_DAY.test(Object.keys(value)[0] || "");
  const entries = Object.entries(value).filter(([, v]) => !(dated && v === 0));
  if (!entries.length) return part(h("s-paragraph", {}, "None in the period."));
  return part(
    dated ? h("s-text", { tone: "subdued" }, "Weeks with none are left out.") : null,
    table([dated ? "Week from" : "", { label: "Count", format: "numeric" }],
      entries.map(([k, v]) => [dated ? date(k) : names.full[k] || k, cellText(k, v)]), { accessibilityLabel: label }));
}

function showPreview(result, answer) {
  const { limits, window: period, ...rest } = answer;
  const names = strategyNames(answer);
  const scalars = Object.entries(rest).filter(([, v]) => isScalar(v));
  const sections = Object.entries(rest).filter(([k, v]) => !isScalar(v) && !(k === "cases_by_strategy" && "strategies" in rest));
  replace(result, h("s-stack", { direction: "block", gap: "base", id: "whatif-answer" },
    limits ? h("s-banner", { tone: "info", heading: "What the preview leaves out", id: "whatif-limits" }, h("s-paragraph", {}, limits)) : null,
    period ? h("s-paragraph", { id: "whatif-period" }, `Cases opened from ${dateTime(period.start)} to ${dateTime(period.end)}.`) : null,
    h("dl", { class: "facts", id: "whatif-totals" }, scalars.map(([k, v]) => [h("dt", {}, WHATIF_LABELS[k] || humanize(k)), h("dd", { "data-total": k }, cellText(k, v))])),
    sections.map(([k, v]) => previewTable(k, v, names))));
}

// The tester's and the preview's state across the settings page's redraws.
export function strategyTools() {
  return {
    tester: { mode: "case", caseText: "", facts: { method: "card", decline: "none", risk: "unscored", customer: "unknown", amount: "", currency: "", country: "", payment_terms: false }, answer: null },
    whatif: { days: 90, answer: null },
  };
}
