// Settings, Reminders: retrying a declined card payment by itself (the policy's `retries`,
// saved with the reminders). Each wait before a retry is a number and a unit, as a step's
// delay is; the server's refusal of one (`reminders.retries.soft_delays[1]`) lands on its
// field.

import { h } from "./dom.js";
import { asNumber, bound, foldable, optionList } from "./forms.js";

const BASE = "reminders.retries";
const DEFAULTS = { enabled: false, max_retries: 4, soft_delays: ["1d", "3d", "5d", "7d"], do_not_honor_hard: false };
const FALLBACK_LIMITS = { max_retries: [0, 8], delays: [1, 8], delay: ["1h", "30d"] };
const UNITS = [["h", "hours"], ["d", "days"]];

function split(delay) {
  const match = /^(\d+)([hd])$/.exec(delay || "");
  return match ? [match[1], match[2]] : ["", "d"];
}

function waitWords(delay) {
  const [n, unit] = split(delay);
  if (!n) return delay;
  return `${n} ${unit === "d" ? "day" : "hour"}${n === "1" ? "" : "s"}`;
}

// The reminders section's summary: "card retries off" or "up to 4 card retries".
export function retriesSummary(retries) {
  if (!retries || !retries.enabled) return "card retries off";
  const n = retries.max_retries;
  return n ? `up to ${n} card ${n === 1 ? "retry" : "retries"}` : "card retries on, none allowed";
}

// The folded block's line: "Off." or "Up to 3 a case, after 1 day, 12 hours, then every 5 days."
function foldedLine(retries) {
  if (!retries.enabled) return "Off: a declined card payment is left to the reminders.";
  if (!retries.max_retries) return "On, with no retry allowed a case.";
  const waits = (retries.soft_delays || []).map(waitWords);
  const last = waits.pop();
  const spaced = waits.length ? `after ${waits.join(", ")}, then every ${last}` : `every ${last}`;
  return `Up to ${retries.max_retries} a case, ${spaced}.`;
}

let unfolded = false; // the block as the admin left it, across the settings page's redraws

function limitsText(bounds) {
  return `From ${waitWords(bounds.delay[0])} to ${waitWords(bounds.delay[1])}, counted from the try before.`;
}

export function retriesBlock({ policy, limits, edit, redraw }) {
  const bounds = (limits && limits.retries) || FALLBACK_LIMITS;
  // A policy read from an older server may lack them: the defaults, made the draft's at the first edit.
  const retries = policy.retries || DEFAULTS;
  const own = () => { if (!policy.retries) edit(BASE, structuredClone(DEFAULTS)); };
  const summary = h("s-text", { tone: "subdued", "data-retries-summary": "" }, foldedLine(retries));
  // The folded line follows the edits (the draft's policy is edited in place).
  const change = (path, value) => { own(); edit(path, value); summary.textContent = foldedLine(policy.retries || DEFAULTS); };
  const delays = retries.soft_delays || [];
  const setDelays = (next) => { change(`${BASE}.soft_delays`, next); redraw(); };

  const rows = delays.map((delay, index) => {
    const at = `${BASE}.soft_delays[${index}]`;
    const [amount, unit] = split(delay);
    let unitValue = unit;
    const number = bound("s-number-field", { path: at, label: `Wait before retry ${index + 1}`,
      value: amount, min: "1", step: "1", onEdit: (_, value) => change(at, `${value}${unitValue}`) });
    const unitSelect = bound("s-select", { path: `${at}.unit`, label: "Unit", value: unit,
      onEdit: (_, value) => { unitValue = value; change(at, `${number.value}${value}`); } }, optionList(UNITS, unit));
    const remove = h("s-button", { variant: "tertiary", accessibilityLabel: `Remove the wait before retry ${index + 1}`,
      disabled: delays.length <= bounds.delays[0] ? "" : null,
      onclick: () => setDelays(delays.filter((_, i) => i !== index)) }, "Remove");
    return h("div", { class: "wait-row", "data-retry-wait": String(index) }, number, unitSelect, remove);
  });

  const add = h("s-button", { id: "add-retry-wait", disabled: delays.length >= bounds.delays[1] ? "" : null,
    onclick: () => setDelays([...delays, delays[delays.length - 1] || "1d"]) }, "Add a wait");

  const body = h("s-stack", { direction: "block", gap: "base" },
      h("s-paragraph", {}, "When a card payment is declined for a reason that may pass (not enough funds, say), Recoup can charge the card again by itself, before and between the reminders. Only a card the customer saved for later payments is charged. Never after a hard decline (lost or stolen card, “do not try again”) or one the customer must authenticate, and always within Visa's and Mastercard's limits on retries (Visa: 15 in 30 days; Mastercard: 10 in 24 hours and 35 in 30 days). Each retry is on the case's timeline."),
      bound("s-checkbox", { path: `${BASE}.enabled`, label: "Retry declined card payments", value: retries.enabled, onEdit: change }),
      h("s-grid", { gridTemplateColumns: "repeat(auto-fill, minmax(220px, 1fr))", gap: "base" },
        bound("s-number-field", { path: `${BASE}.max_retries`, label: "Retries per case, at most", value: retries.max_retries,
          min: String(bounds.max_retries[0]), max: String(bounds.max_retries[1]), step: "1", read: asNumber, onEdit: change,
          details: `From ${bounds.max_retries[0]} to ${bounds.max_retries[1]}; the networks' limits may allow fewer.` })),
      h("s-box", { "data-path": `${BASE}.soft_delays` },
        h("s-stack", { direction: "block", gap: "small" },
          h("s-text", { type: "strong" }, "Waits between tries"),
          h("s-text", { tone: "subdued" }, `${limitsText(bounds)} The last wait repeats for any further retry.`),
          rows,
          h("s-stack", { direction: "inline", gap: "small" }, add))),
      bound("s-checkbox", { path: `${BASE}.do_not_honor_hard`, label: "Treat “do not honor” declines as hard (never retried)",
        value: retries.do_not_honor_hard, onEdit: change,
        details: "Banks give “do not honor” for many reasons; it is retried unless you tick this." }));
  const fold = foldable({ id: "retries", summary: "card retries", open: unfolded, label: "Edit", openLabel: "Done", body });
  fold.toggle.addEventListener("click", () => { unfolded = !fold.body.hidden; });
  const reveal = fold.body.reveal; // a refusal unfolds it, and it stays so
  fold.body.reveal = () => { unfolded = true; reveal(); };
  return h("s-box", { "data-path": BASE, id: "retries" },
    h("s-stack", { direction: "block", gap: "small" },
      h("s-stack", { direction: "inline", gap: "base", justifyContent: "space-between", alignItems: "center" },
        h("s-stack", { direction: "block", gap: "small" },
          h("s-heading", {}, "Retrying declined card payments"),
          summary),
        fold.toggle),
      fold.body));
}
