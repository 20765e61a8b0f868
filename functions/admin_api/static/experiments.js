// Experiments (/app/experiments): each experiment a strategy runs, arm by arm: its cases, how
// many paid, the recovery rate with its 95% interval, what was recovered (per currency, never
// added across), the median days to pay, unsubscribes and complaints; each arm's lift over
// the holdout; and the verdict, which names a winner only when the test says so. The
// dashboard shows one line per experiment (`experimentsSection`) and links here.

import { h, problemPage, replace, table } from "./dom.js";
import { date, money, percent } from "./format.js";

const EMPTY = "No experiments: add one to a strategy in Settings";

export async function render(root, ctx) {
  const found = await ctx.api.get("/experiments");
  if (ctx.api.failed(found)) {
    problemPage(root, "Experiments", found);
    return;
  }
  const page = h("s-page", { heading: "Experiments", inlineSize: "large" },
    h("s-link", { slot: "breadcrumb-actions", href: "/app" }, "← Dashboard"),
    h("s-button", { slot: "secondary-actions", href: "/app/settings" }, "Edit strategies"));
  page.append(h("s-section", {},
    h("s-paragraph", {}, "An experiment splits a strategy's cases between arms by chance: each arm gets its own reminders, and a holdout gets none, which shows what the reminders add. A winner is named only when the difference is too large to be luck, by a test that allows for looking at this page as often as you like.")));
  if (!found.experiments.length) {
    page.append(emptySection());
  } else {
    page.append(...found.experiments.map(experimentSection));
  }
  replace(root, page);
}

function emptySection() {
  return h("s-section", { id: "no-experiments" },
    h("s-paragraph", {}, h("s-link", { href: "/app/settings" }, EMPTY), "."));
}

// The dashboard's section: one line per experiment, and the way to its figures.
export function experimentsSection(found, failed) {
  const section = (...body) => h("s-section", { heading: "Experiments", id: "experiments-summary" }, ...body);
  if (failed) return section(h("s-paragraph", {}, `The experiments could not be loaded: ${found.message}`));
  if (!found.experiments.length) return section(h("s-paragraph", { id: "no-experiments" }, h("s-link", { href: "/app/settings" }, EMPTY), "."));
  return section(
    h("ul", { class: "experiment-list" }, found.experiments.map((e) => h("li", { "data-experiment": e.experiment },
      h("s-text", { type: "strong" }, `${e.strategy.name}, “${e.experiment}”: `),
      e.winner ? `arm “${e.winner}” wins` : "no winner yet",
      ` (${percent(e.information)} of the planned cases).`))),
    h("s-stack", { direction: "inline", gap: "small" },
      h("s-button", { href: "/app/experiments", id: "see-experiments" }, "See the experiments")));
}

function experimentSection(e) {
  return h("s-section", { heading: `${e.strategy.name}: experiment “${e.experiment}”`, "data-experiment": e.experiment },
    h("s-stack", { direction: "block", gap: "base" },
      h("dl", { class: "facts" },
        h("dt", {}, "Strategy"), h("dd", {}, `${e.strategy.name} (${e.strategy.id})`),
        h("dt", {}, "Started"), h("dd", {}, date(e.started_at)),
        h("dt", {}, "Planned"), h("dd", {}, `${e.planned_cases_per_arm.toLocaleString()} cases per arm`),
        h("dt", {}, "How far along"), h("dd", { "data-information": "" }, progress(e.information))),
      verdict(e),
      h("s-heading", {}, "Arms"),
      armsTable(e),
      h("s-heading", {}, "What the reminders add over the holdout"),
      liftTable(e),
      h("s-paragraph", { class: "test-note", "data-test-note": "" },
        h("s-text", { color: "subdued" }, `How the winner is decided: ${e.test}.${e.boundary > 0 ? ` At this look a difference between arms must have p below ${pValue(e.boundary)}.` : ""}`))));
}

function progress(information) {
  const label = `${percent(information)} of the planned cases`;
  return h("span", { class: "progress-row" },
    h("progress", { max: "1", value: String(Math.min(1, information)), "aria-label": "How far along" }), ` ${label}`);
}

// "No winner yet: arm control has 6 cases, ..." with the server's sentence as it is, less its
// opening words, which the heading says.
function verdict(e) {
  const why = String(e.why || "").replace(/^no winner( yet)?: /, "");
  const sentence = why.charAt(0).toUpperCase() + why.slice(1);
  return h("s-banner", { tone: e.winner ? "success" : "info", heading: e.winner ? `Winner: arm “${e.winner}”` : "No winner yet",
    "data-verdict": e.winner || "none" },
  h("s-paragraph", {}, sentence.endsWith(".") ? sentence : `${sentence}.`));
}

function armName(arm) {
  return h("span", {}, arm.arm, arm.holdout ? [" ", h("s-badge", { tone: "neutral" }, "Holdout: no reminders")] : null);
}

function armsTable(e) {
  const headers = ["Arm", { label: "Cases", format: "numeric" }, { label: "Paid", format: "numeric" },
    { label: "Recovery rate (95% interval)", format: "numeric" }, { label: "Recovered", format: "currency" },
    { label: "Median days to pay", format: "numeric" }, { label: "Unsubscribed", format: "numeric" },
    { label: "Complaints", format: "numeric" }];
  return table(headers, e.arms.map((arm) => ({
    attrs: { "data-arm": arm.arm },
    cells: [armName(arm), String(arm.cases), String(arm.paid),
      `${percent(arm.recovery_rate)} (${percent(arm.recovery_ci[0])} to ${percent(arm.recovery_ci[1])})`,
      arm.recovered.length ? arm.recovered.map(money).join(", ") : "—",
      arm.median_days_to_pay === null ? "—" : `${arm.median_days_to_pay.toFixed(1)} days`,
      percent(arm.unsubscribe_rate), percent(arm.complaint_rate)],
  })), { "aria-label": `Arms of experiment ${e.experiment}` });
}

function liftTable(e) {
  if (!e.over_holdout.length) {
    return h("s-paragraph", { "data-no-holdout": "" }, "This experiment has no holdout, so what the reminders add cannot be measured: the arms are compared with each other only.");
  }
  const holdout = e.arms.find((arm) => arm.holdout);
  return h("s-stack", { direction: "block", gap: "small" },
    h("s-text", { color: "subdued" }, `Each arm's recovery rate minus the holdout's (“${holdout ? holdout.arm : "holdout"}”), in percentage points.`),
    table(["Arm", { label: "Lift", format: "numeric" }, { label: "95% interval", format: "numeric" }, { label: "p-value", format: "numeric" }],
      e.over_holdout.map((c) => ({
        attrs: { "data-lift": c.arm },
        cells: [c.arm, points(c.incremental_recovery), `${points(c.ci[0])} to ${points(c.ci[1])}`, pValue(c.p_value)],
      })), { "aria-label": `Lift over the holdout of experiment ${e.experiment}` }));
}

// +12.3 points; a minus sign, not a hyphen.
function points(difference) {
  const value = Math.round(difference * 1000) / 10;
  const sign = value > 0 ? "+" : value < 0 ? "−" : "";
  return `${sign}${Math.abs(value).toFixed(1)} points`;
}

function pValue(p) {
  if (p === null || p === undefined) return "—";
  if (p < 0.0001) return "below 0.0001";
  return p.toFixed(4);
}
