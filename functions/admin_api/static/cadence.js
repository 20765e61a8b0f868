// Settings, Reminders: the cadence step by step (each folded to a one-line summary), quiet
// hours, the weekly cap and the minimum amounts. Edits go to the settings view's draft;
// the view saves every section at once.

import { h } from "./dom.js";
import { asNumber, bound, currencyAmounts, foldable, optionList } from "./forms.js";
import { retriesBlock } from "./retries.js";

export const CHANNELS = { email: "Email", sms: "SMS", email_then_sms: "Email, then SMS if no email" };
export const TONES = { friendly: "Friendly", firm: "Firm", final_notice: "Final notice" };
const ANCHORS = { previous: "the previous message", opened: "the case opened" };
const ZONES = { customer: "Customer's time zone (else the shop's)", shop: "Shop's time zone" };

// Used when the server offers no default step: a firm email three days after the previous one.
const FALLBACK_STEP = { delay: "3d", anchor: "previous", channel: "email", template: "firm_reminder", tone: "firm", pay_link: true };

export function delayText(delay) {
  const match = /^(\d+)([hd])$/.exec(delay || "");
  if (!match) return String(delay || "—");
  const n = Number(match[1]);
  return match[2] === "d" ? `${n} day${n === 1 ? "" : "s"}` : `${n} hour${n === 1 ? "" : "s"}`;
}

export function stepSummary(step) {
  const tone = (TONES[step.tone] || step.tone).toLowerCase();
  return `${CHANNELS[step.channel] || step.channel} · ${delayText(step.delay)} after ${ANCHORS[step.anchor] || step.anchor} · ${tone} tone · template “${words(step.template)}”`;
}

// Where a new step goes: before the final notice (the last step whose tone is one), else last.
export function insertionIndex(steps) {
  for (let i = steps.length - 1; i >= 0; i -= 1) if (steps[i].tone === "final_notice") return i;
  return steps.length;
}

// One sequence's steps, each folded to a one-line summary: edit, move, remove, add. `path` is
// where the list is in the draft ("reminders.steps", "reminders.strategies[0].steps");
// `scope` sets a strategy's steps apart from the reminders' own (their ids, and `owner`, the
// strategy's name, in their buttons' labels). `openSteps` keeps which are unfolded.
export function stepsEditor({ steps, path, templates, limits, edit, changed, ctx, redraw, openSteps, scope = null, owner = "" }) {
  const key = (index) => (scope ? `${scope}:${index}` : index);
  const of = owner ? ` of ${owner}` : "";
  const stepsBox = h("s-stack", { direction: "block", gap: "small", id: scope ? `steps-${scope}` : "steps" });
  const names = templateChoices(templates, steps);
  const mutateSteps = (fn) => { const next = structuredClone(steps); fn(next); edit(path, next); redraw(); };

  steps.forEach((step, index) => {
    const at = `${path}[${index}]`;
    const [amount, unit] = splitDelay(step.delay);
    let unitValue = unit;
    const number = bound("s-number-field", { path: `${at}.delay`, label: "Wait", value: amount, min: "0", step: "1",
      onEdit: (_, value) => edit(`${at}.delay`, `${value}${unitValue}`) });
    const unitSelect = bound("s-select", { path: `${at}.delay_unit`, label: "Unit", value: unit,
      onEdit: (_, value) => { unitValue = value; edit(`${at}.delay`, `${number.value}${value}`); } },
    optionList([["h", "hours"], ["d", "days"]], unit));
    const fields = h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(180px, 1fr))", gap: "base" },
      number, unitSelect,
      bound("s-select", { path: `${at}.anchor`, label: "Counted from", value: step.anchor, onEdit: edit },
        optionList(Object.entries(ANCHORS).map(([v, l]) => [v, words(l)]), step.anchor)),
      bound("s-select", { path: `${at}.channel`, label: "Channel", value: step.channel, onEdit: edit },
        optionList(Object.entries(CHANNELS), step.channel)),
      bound("s-select", { path: `${at}.template`, label: "Template", value: step.template, onEdit: edit,
        details: "Edit its words under Templates" }, optionList(names, step.template)),
      bound("s-select", { path: `${at}.tone`, label: "Tone", value: step.tone, onEdit: edit },
        optionList(Object.entries(TONES), step.tone)),
      bound("s-checkbox", { path: `${at}.pay_link`, label: "Include a pay link", value: step.pay_link, onEdit: edit }));
    const last = steps.length - 1;
    const actions = h("s-stack", { direction: "inline", gap: "small", alignItems: "center" },
      h("s-button", { variant: "tertiary", accessibilityLabel: `Move step ${index + 1}${of} up`, disabled: index === 0 ? "" : null,
        onclick: () => { openSteps.add(key(index - 1)); mutateSteps((s) => s.splice(index - 1, 0, ...s.splice(index, 1))); } }, "Move up"),
      h("s-button", { variant: "tertiary", accessibilityLabel: `Move step ${index + 1}${of} down`, disabled: index === last ? "" : null,
        onclick: () => { openSteps.add(key(index + 1)); mutateSteps((s) => s.splice(index + 1, 0, ...s.splice(index, 1))); } }, "Move down"),
      h("s-button", { variant: "tertiary", tone: "critical", accessibilityLabel: `Remove step ${index + 1}${of}`,
        disabled: steps.length <= limits.steps[0] ? "" : null,
        onclick: () => mutateSteps((s) => s.splice(index, 1)) }, "Remove"),
      h("s-link", { href: `/app/templates?name=${encodeURIComponent(step.template)}` }, "Preview the message"));
    const fold = foldable({ id: scope ? `${scope}-step-${index}` : `step-${index}`, summary: `step ${index + 1}${of}`, open: openSteps.has(key(index)),
      body: h("s-stack", { direction: "block", gap: "base" }, fields, actions) });
    fold.body.addEventListener("click", () => openSteps.add(key(index)));
    fold.toggle.addEventListener("click", () => { if (fold.body.hidden) openSteps.delete(key(index)); else openSteps.add(key(index)); });
    const marker = scope ? { "data-scope-step": `${scope}:${index}` } : { "data-step": String(index) };
    stepsBox.append(h("s-box", { padding: "base", border: "base", borderRadius: "base", ...marker },
      h("s-stack", { direction: "inline", gap: "base", justifyContent: "space-between", alignItems: "center" },
        h("s-stack", { direction: "inline", gap: "small", alignItems: "center" },
          h("s-text", { type: "strong" }, `Step ${index + 1}`),
          step.tone === "final_notice" ? h("s-badge", { tone: "warning" }, "Final notice") : null,
          changed(at) ? h("s-badge", { tone: "info" }, "Edited") : null,
          h("s-text", { tone: "subdued", "data-summary": scope ? null : String(index), "data-summary-path": at }, stepSummary(step))),
        fold.toggle),
      fold.body));
  });

  const addButton = h("s-button", { id: scope ? null : "add-step", "data-add-step": scope || "reminders",
    accessibilityLabel: owner ? `Add a step to ${owner}` : null,
    disabled: steps.length >= limits.steps[1] ? "" : null, onclick: async () => {
      const offered = await ctx.api.get("/cadence/new-step");
      const step = ctx.api.failed(offered) || !offered.step ? { ...FALLBACK_STEP } : offered.step;
      const at = insertionIndex(steps);
      openSteps.clear();
      openSteps.add(key(at));
      mutateSteps((s) => s.splice(at, 0, step));
      ctx.toast(`Step ${at + 1} added${at < steps.length - 1 ? " before the final notice" : ""}`);
    } }, "Add step");
  // The box is where an error of the whole list lands (a banner: "must have 1 to 12 steps").
  return h("s-box", { "data-path": path },
    h("s-stack", { direction: "block", gap: "base" },
      stepsBox,
      h("s-stack", { direction: "inline", gap: "base" }, addButton)));
}

export function remindersSection({ meta, draft, templates, edit, changed, ctx, redraw, openSteps }) {
  const policy = draft.policy;
  const limits = meta.limits || { steps: [1, 10], weekly_cap: [1, 14] };
  const promiseDays = limits.promise_max_days || [0, 60];
  const steps = stepsEditor({ steps: policy.steps, path: "reminders.steps", templates, limits, edit, changed, ctx, redraw, openSteps });

  return h("s-stack", { direction: "block", gap: "base" },
    steps,
    h("s-divider", {}),
    h("s-heading", {}, "When and how often"),
    h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(180px, 1fr))", gap: "base" },
      bound("s-text-field", { path: "reminders.quiet_hours.start", label: "Quiet from", value: policy.quiet_hours.start, placeholder: "21:00", onEdit: edit }),
      bound("s-text-field", { path: "reminders.quiet_hours.end", label: "Quiet until", value: policy.quiet_hours.end, placeholder: "08:00", onEdit: edit }),
      bound("s-select", { path: "reminders.timezone_rule", label: "Quiet hours in", value: policy.timezone_rule, onEdit: edit },
        optionList(Object.entries(ZONES), policy.timezone_rule)),
      bound("s-text-field", { path: "reminders.shop_timezone", label: "Shop time zone", value: policy.shop_timezone, onEdit: edit }),
      bound("s-number-field", { path: "reminders.weekly_cap", label: "Weekly cap per customer", value: policy.weekly_cap,
        details: "Messages to one customer in any 7 days.",
        min: String(limits.weekly_cap[0]), max: String(limits.weekly_cap[1]), read: asNumber, onEdit: edit }),
      bound("s-number-field", { path: "reminders.promise_max_days", label: "Promises to pay, up to (days)", value: policy.promise_max_days ?? 14,
        details: "How far ahead a customer may promise to pay from their page; reminders pause until then, with one reminder the day before. 0: no promises.",
        min: String(promiseDays[0]), max: String(promiseDays[1]), read: asNumber, onEdit: edit })),
    minimumsBlock(policy, edit, redraw),
    h("s-divider", {}),
    retriesBlock({ policy, limits: meta.limits, edit, redraw }));
}

function minimumsBlock(policy, edit, redraw) {
  return currencyAmounts({
    path: "reminders.min_amount", values: policy.min_amount, heading: "Minimum amounts worth chasing",
    label: (currency) => `Smallest amount chased (${currency})`, removeLabel: (currency) => `Remove the ${currency} minimum`,
    empty: "No minimum: every unpaid amount is chased.", addLabel: "Add a minimum", edit, redraw,
  });
}

// The template select's choices: every template the API knows, plus any name a step uses
// that it does not (shown as unknown, so saving names the problem instead of hiding it).
export function templateChoices(templates, steps) {
  // Without the templates' list (an older server), the names the steps use are the choices.
  const known = templates ? templates.map((t) => t.name) : [...new Set(steps.map((s) => s.template))];
  const choices = known.map((name) => [name, words(name)]);
  for (const step of steps) {
    if (!known.includes(step.template) && !choices.some(([v]) => v === step.template)) {
      choices.push([step.template, `${step.template} (no such template)`]);
    }
  }
  return choices;
}

export function words(text) {
  const spaced = String(text).replaceAll("_", " ");
  return spaced.charAt(0).toUpperCase() + spaced.slice(1);
}

function splitDelay(delay) {
  const match = /^(\d+)([hd])$/.exec(delay || "");
  return match ? [match[1], match[2]] : ["", "d"];
}
