// Dashboard: one currency's figures for a period of opening (never summed across currencies):
// what is still owed (and, apart, what is flagged as fraud, unlinked Stripe payments and
// written off), what came back after a reminder or by itself, which step converts, money
// and cases over time, which cases recover (by strategy, decline reason and payment
// method), and a line per experiment with the way to its figures.

import { barChart } from "./charts.js";
import { fieldError, h, humanize, options, problemPage, replace, table } from "./dom.js";
import { experimentsSection } from "./experiments.js";
import { date, isoDay, money, moneyMinor, month, percent } from "./format.js";
import { DECLINES_SHORT, METHODS } from "./labels.js";

const PRESETS = [
  { days: 30, label: "Last 30 days" },
  { days: 90, label: "Last 90 days" },
  { days: null, label: "All time" },
];

// The cards, in order: the figure key, its title, and how its count reads.
// First row: what is owed (and, apart, what is not chased as such); second: what came back.
const OWED_CARDS = [
  ["outstanding", "Outstanding", "outstanding_cases", "open case"],
  ["fraud_flagged", "Flagged as fraud", "fraud_flagged_cases", "case"],
  ["unlinked_stripe", "Stripe payments not linked to an order", "unlinked_stripe_cases", "case"],
  ["written_off", "Written off", "written_off_cases", "case"],
];
const BACK_CARDS = [
  ["recovered", "Recovered after a reminder", "recovered_cases", "case"],
  ["self_cured", "Paid without a reminder", "self_cured_cases", "case"],
  ["settled_discount", "Settlement discounts (written off)", "settled_discount_cases", "case"],
];
// The breakdowns of the cases opened: the figure key, its title, and its first column.
const BREAKDOWNS = [
  ["by_strategy", "Recovery by strategy", "Strategy"],
  ["by_decline", "Recovery by decline reason", "Newest decline"],
  ["by_method", "Recovery by payment method", "Paid by"],
];

export async function render(root, ctx) {
  const query = ctx.query;
  const wanted = new URLSearchParams();
  for (const name of ["from", "to", "currency"]) if (query.get(name)) wanted.set(name, query.get(name));
  // The experiments and the strategies' names (for the breakdown by strategy) beside the
  // figures: either failing leaves the rest of the dashboard as it is.
  const [figures, experiments, reminders] = await Promise.all([
    ctx.api.get(`/figures${wanted.size ? `?${wanted}` : ""}`), ctx.api.get("/experiments"), ctx.api.get("/settings/reminders"),
  ]);
  const experimentsPart = experimentsSection(experiments, ctx.api.failed(experiments));

  const fromField = h("s-date-field", { label: "Opened from", name: "from", value: query.get("from") || "" });
  const toField = h("s-date-field", { label: "Opened until", name: "to", value: query.get("to") || "" });
  const currencies = ctx.api.failed(figures) ? [] : figures.currencies || [];
  const current = ctx.api.failed(figures) ? query.get("currency") || "" : figures.currency || "";
  const currencyField = h("s-select", { label: "Currency", name: "currency", value: current, disabled: currencies.length < 2 ? "" : null },
    currencies.length ? options(currencies, current, Object.fromEntries(currencies.map((c) => [c, c]))) : h("s-option", { value: "" }, "—"));

  const apply = (changes) => {
    const next = new URLSearchParams();
    const values = { from: fromField.value, to: toField.value, currency: currencyField.value, ...changes };
    for (const [key, value] of Object.entries(values)) if (value) next.set(key, value);
    ctx.navigate(`/app${next.size ? `?${next}` : ""}`);
  };
  currencyField.addEventListener("change", () => apply({}));
  const presets = PRESETS.map((p) => h("s-button", {
    "data-preset": p.days ?? "all",
    variant: activePreset(query) === (p.days ?? "all") ? "primary" : "secondary",
    onclick: () => apply({ from: p.days ? isoDay(new Date(Date.now() - (p.days - 1) * 86400000)) : "", to: "" }),
  }, p.label));

  const filters = h("s-section", { id: "dashboard-filters", heading: "Period and currency" },
    h("s-stack", { direction: "inline", gap: "base", alignItems: "end", class: "filter-row" },
      fromField, toField,
      h("s-button", { id: "apply-range", onclick: () => apply({}) }, "Apply"),
      currencyField),
    h("s-stack", { direction: "inline", gap: "small" }, presets));

  if (ctx.api.failed(figures)) {
    const byField = { from: fromField, to: toField, currency: currencyField };
    if (figures.field && byField[figures.field]) {
      fieldError(byField[figures.field], figures.message);
      replace(root, h("s-page", { heading: "Dashboard" }, filters));
      return;
    }
    problemPage(root, "Dashboard", figures);
    return;
  }

  const page = h("s-page", { heading: "Dashboard", inlineSize: "large" },
    h("s-button", { slot: "primary-action", variant: "primary", href: "/app/cases" }, "Review cases"),
    filters);
  if (!figures.currency) {
    page.append(h("s-section", {}, h("s-paragraph", { id: "no-figures" },
      "No cases were opened in this period. Figures appear once Recoup opens a case for an unpaid order.")), experimentsPart);
    replace(root, page);
    return;
  }
  const d = figures.definitions || {};
  page.append(
    h("s-paragraph", { class: "period-note" }, periodNote(figures)),
    h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(min(100%, 260px), 1fr))", gap: "base", class: "figure-cards" },
      [...OWED_CARDS, ...BACK_CARDS].map(([key, title, countKey, noun]) => figureCard(key, title, money(figures[key]),
        `${figures[countKey]} ${noun}${figures[countKey] === 1 ? "" : "s"}`, d[key])),
      figureCard("recovery_rate", "Recovery rate", percent(figures.recovery_rate),
        `${figures.recovered_cases} paid of ${figures.contacted_cases} contacted`, d.recovery_rate),
      figureCard("cases", "Cases opened", String(figures.cases), byState(figures.by_state), d.cases)),
    chartSection("recovered-chart", "Money recovered over time", figures.recovered_over_time,
      (p) => p.amount.minor, (p) => money(p.amount), figures.currency, d.recovered_over_time,
      (p) => [date(p.day), money(p.amount), String(p.cases)], ["Day", { label: "Recovered", format: "currency" }, { label: "Cases", format: "numeric" }]),
    chartSection("opened-chart", "Cases opened over time", figures.opened_over_time,
      (p) => p.cases, (p) => `${p.cases} case${p.cases === 1 ? "" : "s"}, ${money(p.amount)}`, null, d.opened_over_time,
      (p) => [date(p.day), String(p.cases), money(p.amount)], ["Day", { label: "Cases", format: "numeric" }, { label: "Owed at opening", format: "currency" }]),
    h("s-section", { heading: `Which reminders convert (paid within ${figures.conversion_window_days} days)`, id: "conversion" },
      d.conversion ? h("s-text", { color: "subdued" }, d.conversion) : null,
      figures.conversion.length
        ? table(["Step", "Channel", "Template", { label: "Sent", format: "numeric" }, { label: "Paid within", format: "numeric" }, { label: "Rate", format: "numeric" }],
          figures.conversion.map((c) => ({
            attrs: { "data-step": String(c.step), "data-channel": c.channel },
            cells: [`Step ${c.step}`, humanize(c.channel), c.template, String(c.sent), String(c.paid_within), percent(c.rate)],
          })), { "aria-label": "Conversion by step" })
        : h("s-paragraph", {}, "No reminders were sent for these cases yet.")),
    h("s-section", { heading: "Cohorts by month opened", id: "cohorts" },
      d.cohorts ? h("s-text", { color: "subdued" }, d.cohorts) : null,
      figures.cohorts.length
        ? table(["Month", { label: "Opened", format: "numeric" }, { label: "Recovered", format: "numeric" }, { label: "Paid without a reminder", format: "numeric" }, { label: "Rate", format: "numeric" }],
          figures.cohorts.map((c) => ({
            attrs: { "data-month": c.month },
            cells: [month(c.month), String(c.opened), String(c.recovered), String(c.self_cured), percent(c.rate)],
          })), { "aria-label": "Cohorts by month opened" })
        : h("s-paragraph", {}, "No cases yet.")),
    breakdowns(figures, strategyNames(ctx.api.failed(reminders) ? null : reminders)),
    experimentsPart,
  );
  replace(root, page);
}

// Three small tables: of the cases opened, by each value, how many were recovered after a
// message and for how much.
function breakdowns(figures, names) {
  const d = figures.definitions || {};
  const heads = (first) => [first, { label: "Cases", format: "numeric" }, { label: "Recovered", format: "numeric" },
    { label: "Rate", format: "numeric" }, { label: "Amount recovered", format: "currency" }];
  return h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(min(100%, 520px), 1fr))", gap: "base", id: "breakdowns" },
    BREAKDOWNS.map(([key, title, first]) => h("s-section", { heading: title, "data-breakdown": key },
      d[key] ? h("s-text", { color: "subdued" }, d[key]) : null,
      (figures[key] || []).length
        ? table(heads(first), figures[key].map((s) => ({
          attrs: { "data-value": s.value },
          cells: [segmentLabel(key, s.value, names), String(s.cases), String(s.recovered_cases), percent(s.rate), money(s.recovered)],
        })), { "aria-label": title })
        : h("s-paragraph", {}, "Not counted for the cases of this period."))));
}

// A strategy's id -> its name, as the settings hold them now (the shipped ones while the
// shop has none of its own).
function strategyNames(reminders) {
  if (!reminders) return {};
  const list = reminders.policy.strategies ?? reminders.strategies?.shipped ?? [];
  return Object.fromEntries(list.map((s) => [s.id, s.name]));
}

function segmentLabel(key, value, names) {
  if (key === "by_method") return METHODS[value] || humanize(value);
  if (key === "by_decline") return DECLINES_SHORT[value] || humanize(value);
  if (value === "default") return "Default sequence";
  return names[value] ? names[value] : `${value} (no longer in the settings)`;
}

function periodNote(figures) {
  const from = figures.from ? `from ${date(figures.from)}` : "at any time";
  const to = figures.to ? ` until ${date(figures.to)}` : "";
  return `Cases opened ${from}${to}, in ${figures.currency}. Amounts in other currencies are never added in: choose the currency above.`;
}

function activePreset(query) {
  if (query.get("to")) return null;
  const from = query.get("from");
  if (!from) return "all";
  for (const p of PRESETS) {
    if (p.days && from === isoDay(new Date(Date.now() - (p.days - 1) * 86400000))) return p.days;
  }
  return null;
}

function figureCard(key, title, value, detail, definition) {
  return h("s-section", { "data-figure": key },
    h("s-text", { type: "strong" }, title),
    h("p", { class: "figure-value", "data-value": "" }, value),
    h("s-text", { class: "figure-detail" }, detail),
    definition ? h("s-paragraph", { class: "figure-definition" }, h("s-text", { color: "subdued" }, definition)) : null);
}

function byState(counts) {
  const parts = Object.entries(counts || {}).filter(([, n]) => n).map(([state, n]) => `${n} ${humanize(state).toLowerCase()}`);
  return parts.length ? parts.join(", ") : "none";
}

function chartSection(id, title, points, value, text, currency, definition, row, headers) {
  const shown = points.map((p) => ({ label: date(p.day).replace(/,? \d{4}$/, ""), value: value(p), text: `${date(p.day)}: ${text(p)}` }));
  const total = points.reduce((sum, p) => sum + value(p), 0);
  const days = points.length === 1 ? "1 day" : `${points.length} days`;
  const description = currency ? `${moneyMinor(total, currency)} in all over ${days}.` : `${total} in all over ${days}.`;
  const formatTick = currency ? (v) => moneyMinor(Math.round(v), currency) : (v) => String(Math.round(v * 10) / 10);
  return h("s-section", { heading: title, id },
    definition ? h("s-text", { color: "subdued" }, definition) : null,
    points.length ? h("div", { class: "chart" }, barChart(shown, { title, description, formatTick, whole: !currency })) : h("s-paragraph", {}, "Nothing in this period."),
    points.length ? h("details", { class: "chart-data" }, h("summary", {}, `${title}: the numbers`),
      table(headers, points.map((p) => row(p)), { "aria-label": title })) : null);
}
