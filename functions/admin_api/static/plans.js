// Settings, Instalment plans and Settlement offer: what the customer's page may offer besides
// paying in full. Both are parts of the reminder policy (`instalments`, `settlement`): edits
// go to its draft, and the page's one save bar saves them with the rest.

import { h } from "./dom.js";
import { CHANNELS, TONES } from "./cadence.js";
import { asNumber, bound, currencyAmounts, optionList } from "./forms.js";

export const INTERVALS = { weekly: "Weekly", biweekly: "Every two weeks", monthly: "Monthly" };
const ON_BROKEN = { resume: "Resume the reminders", escalate: "Go to the referral check" };
const FINAL_NOTICE = 0;

// ------------------------------------------------------------------ instalment plans

export function plansSummary(terms, stripe) {
  if (!terms.enabled) return "Off.";
  const intervals = terms.intervals.map((i) => (INTERVALS[i] || i).toLowerCase()).join(", ");
  const offered = `Up to ${terms.max_count} instalments (${intervals}) over at most ${terms.max_days} days.`;
  return stripe.connected ? offered : `${offered} Not offered until Stripe is connected.`;
}

export function plansSection({ meta, policy, stripe, edit, redraw, toStripe }) {
  const terms = policy.instalments;
  const limits = (meta.limits && meta.limits.instalments) || { max_count: [2, 24], max_days: [7, 365], grace_days: [1, 30], start_days: 14 };
  const intervals = (meta.choices && meta.choices.interval) || Object.keys(INTERVALS);
  const path = (key) => `reminders.instalments.${key}`;
  return h("s-stack", { direction: "block", gap: "base", id: "plans" },
    stripeLine(stripe, toStripe),
    bound("s-checkbox", { path: path("enabled"), label: "Offer instalment plans", value: terms.enabled, onEdit: edit,
      details: "The customer's page lets them split what they owe into instalments; the reminders pause while the plan is kept." }),
    h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(200px, 1fr))", gap: "base" },
      bound("s-number-field", { path: path("max_count"), label: "Most instalments", value: terms.max_count,
        min: String(limits.max_count[0]), max: String(limits.max_count[1]), step: "1", read: asNumber, onEdit: edit,
        details: `From ${limits.max_count[0]} to ${limits.max_count[1]}.` }),
      bound("s-number-field", { path: path("max_days"), label: "Longest plan (days)", value: terms.max_days,
        min: String(limits.max_days[0]), max: String(limits.max_days[1]), step: "1", read: asNumber, onEdit: edit,
        details: "From the first instalment to the last." }),
      bound("s-number-field", { path: path("grace_days"), label: "Grace days after a missed instalment", value: terms.grace_days,
        min: String(limits.grace_days[0]), max: String(limits.grace_days[1]), step: "1", read: asNumber, onEdit: edit,
        details: "The customer is told once and may pay it meanwhile; after these days the plan breaks." }),
      bound("s-select", { path: path("on_broken"), label: "When a plan breaks", value: terms.on_broken, onEdit: edit,
        details: "The reminders go on from the step where they paused, or the referral check is due at once." },
        optionList(Object.entries(ON_BROKEN), terms.on_broken))),
    intervalChoices(terms, intervals, path("intervals"), edit),
    bound("s-checkbox", { path: path("first_due_now"), label: "First instalment due when the plan is agreed", value: terms.first_due_now, onEdit: edit,
      details: `Paid at once when the card is saved. Otherwise the customer picks a start date within ${limits.start_days ?? 14} days.` }),
    h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(260px, 1fr))", gap: "base" },
      currencyAmounts({
        path: path("min_amount"), values: terms.min_amount, heading: "Smallest amount a plan is offered for",
        label: (currency) => `Plans from (${currency})`, removeLabel: (currency) => `Remove the ${currency} plan minimum`,
        empty: "No minimum: any amount owed may be split.", addLabel: "Add a plan minimum", edit, redraw,
      }),
      currencyAmounts({
        path: path("min_instalment"), values: terms.min_instalment, heading: "Smallest instalment",
        label: (currency) => `Each instalment at least (${currency})`, removeLabel: (currency) => `Remove the ${currency} smallest instalment`,
        empty: "No minimum instalment.", addLabel: "Add a smallest instalment", edit, redraw,
      })));
}

// Plans need the card saved at Stripe: say whether it is connected, and where to connect it.
function stripeLine(stripe, toStripe) {
  const link = h("s-link", { href: "#section-stripe", id: "plans-connect-stripe", onclick: (event) => { event.preventDefault(); toStripe(); } }, "Connect Stripe");
  if (!stripe.connected) {
    return h("s-banner", { tone: "warning", heading: "Connect Stripe to offer plans", id: "plans-stripe" },
      h("s-paragraph", {}, "Plans are offered only with Stripe connected: the customer's card is saved at Stripe and each instalment is charged to it on its date. ", link));
  }
  return h("s-paragraph", { id: "plans-stripe", "data-connected": "" },
    "Plans are offered only with Stripe connected: the customer's card is saved at Stripe and each instalment is charged to it on its date. Stripe is connected: ",
    h("s-text", { type: "strong" }, stripe.account || "connected"), ".");
}

function intervalChoices(terms, intervals, path, edit) {
  const chosen = new Set(terms.intervals);
  const boxes = intervals.map((interval) => {
    const box = h("s-checkbox", { label: INTERVALS[interval] || interval, "data-interval": interval, checked: chosen.has(interval) ? "" : null });
    box.addEventListener("change", () => {
      if (box.checked) chosen.add(interval); else chosen.delete(interval);
      edit(path, intervals.filter((i) => chosen.has(i)));
    });
    return box;
  });
  return h("s-box", { "data-path": path },
    h("s-stack", { direction: "block", gap: "small" },
      h("s-text", {}, "Intervals offered"),
      h("s-stack", { direction: "inline", gap: "base" }, boxes)));
}

// ------------------------------------------------------------------ settlement offer

export function settlementSummary(terms, steps) {
  if (!terms.enabled) return "Off.";
  return `${terms.percent}% off for paying in full within ${terms.pay_within_days} days, ${fromStepText(terms.from_step, steps).toLowerCase()}.`;
}

function fromStepText(fromStep, steps) {
  return fromStep === FINAL_NOTICE ? "With the final notice" : `From step ${fromStep} of ${steps.length}`;
}

export function settlementSection({ meta, policy, edit, redraw }) {
  const terms = policy.settlement;
  const limits = (meta.limits && meta.limits.settlement) || { percent: [1, 50], pay_within_days: [1, 30] };
  const path = (key) => `reminders.settlement.${key}`;
  const steps = policy.steps.map((step, index) => [String(index + 1),
    `Step ${index + 1} · ${CHANNELS[step.channel] || step.channel} · ${(TONES[step.tone] || step.tone).toLowerCase()}`]);
  const choices = [...steps, [String(FINAL_NOTICE), `With the final notice (the last step, now step ${policy.steps.length})`]];
  if (terms.from_step > policy.steps.length) choices.push([String(terms.from_step), `Step ${terms.from_step} (no such step)`]);
  return h("s-stack", { direction: "block", gap: "base", id: "settlement" },
    bound("s-checkbox", { path: path("enabled"), label: "Offer a discount for paying in full", value: terms.enabled, onEdit: edit,
      details: "From the chosen step's message, the customer's page offers what is owed less the discount. The discount is written off, never counted as recovered." }),
    h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(200px, 1fr))", gap: "base" },
      bound("s-number-field", { path: path("percent"), label: "Discount (%)", value: terms.percent,
        min: String(limits.percent[0]), max: String(limits.percent[1]), step: "1", read: asNumber, onEdit: edit,
        details: `From ${limits.percent[0]}% to ${limits.percent[1]}% of what is owed, rounded down.` }),
      bound("s-number-field", { path: path("pay_within_days"), label: "Days to pay", value: terms.pay_within_days,
        min: String(limits.pay_within_days[0]), max: String(limits.pay_within_days[1]), step: "1", read: asNumber, onEdit: edit,
        details: "How long the offer stays open after its step's message." }),
      bound("s-select", { path: path("from_step"), label: "Offered from", value: String(terms.from_step), read: Number, onEdit: edit },
        optionList(choices, String(terms.from_step)))),
    currencyAmounts({
      path: path("max_discount"), values: terms.max_discount, heading: "Largest discount (optional)",
      label: (currency) => `At most (${currency})`, removeLabel: (currency) => `Remove the ${currency} discount cap`,
      empty: "No cap: the discount is the percentage of what is owed.", addLabel: "Add a cap", edit, redraw,
    }));
}
