// Dashboard: what is outstanding and recovered, the recovery rate by week of opening, which
// reminder preceded each payment, and the cases by state.

import { api } from "./api.js";
import { barChart, lineChart } from "./charts.js";
import { badge, card, h, humanize, replace } from "./dom.js";
import { date, moneyList, percent } from "./format.js";
import { onboardingCard } from "./onboarding.js";

const RANGES = [
  { value: "", label: "All time" },
  { value: "30", label: "Opened in the last 30 days" },
  { value: "90", label: "Opened in the last 90 days" },
];

export async function renderDashboard(view, params) {
  const days = params.get("days") || "";
  const query = days ? `?from=${isoDay(new Date(Date.now() - Number(days) * 86400000))}` : "";
  const [figures, setup] = await Promise.all([api("GET", `/figures${query}`), api("GET", "/onboarding")]);
  const paid = figures.by_state.paid || 0;
  const range = h("select", {
    id: "range",
    "aria-label": "Period",
    onchange: (e) => { window.location.hash = e.target.value ? `#/dashboard?days=${e.target.value}` : "#/dashboard"; },
  }, RANGES.map((r) => h("option", { value: r.value, selected: r.value === days }, r.label)));

  replace(
    view,
    h("div", { class: "page-header" }, h("h1", {}, "Dashboard"), range),
    h("div", { class: "layout" },
      onboardingCard(setup),
      h("div", { class: "grid-4" },
        metricCard("Outstanding", moneyList(figures.outstanding), "outstanding"),
        metricCard("Recovered", moneyList(figures.recovered), "recovered"),
        card("Cases", h("p", { class: "metric", "data-figure": "cases" }, String(figures.cases))),
        card("Recovery rate",
          h("p", { class: "metric", "data-figure": "rate" }, percent(figures.cases ? paid / figures.cases : null)),
          h("p", { class: "muted" }, `${paid} of ${figures.cases} cases paid`)),
      ),
      card("Recovery rate by week opened",
        figures.weeks.length
          ? h("div", { class: "chart" }, lineChart(
            figures.weeks.map((w) => ({
              label: date(w.week),
              value: w.rate,
              title: `Week of ${date(w.week)}: ${w.recovered} of ${w.opened} paid (${percent(w.rate)})`,
            })),
            { label: "Recovery rate by week the case opened" },
          ))
          : h("p", { class: "empty" }, "No cases yet.")),
      h("div", { class: "grid-2" },
        card("Paid after which reminder",
          figures.by_step.length
            ? h("div", { class: "chart", "data-figure": "by-step" }, barChart(
              figures.by_step.map((s) => ({
                label: s.step ? `Step ${s.step} · ${humanize(s.channel)}` : "Before any reminder",
                value: s.cases,
                note: `${s.cases} · ${moneyList(s.recovered).join(", ")}`,
              })),
              { label: "Payments by the last reminder sent before them" },
            ))
            : h("p", { class: "empty" }, "No payments yet.")),
        card("Cases by state",
          stateTable(figures.by_state, "Case", "by-state"),
          h("div", { class: "card-section" }, stateTable(figures.by_reminders, "Reminders", "by-reminders"))),
      ),
    ),
  );
}

function metricCard(title, lines, name) {
  return card(title, h("ul", { class: "metric-list", "data-figure": name }, lines.map((line) => h("li", {}, line))));
}

function stateTable(counts, heading, name) {
  const entries = Object.entries(counts);
  if (!entries.length) return h("p", { class: "empty" }, "No cases yet.");
  return h("table", { class: "data-table", "data-figure": name },
    h("thead", {}, h("tr", {}, h("th", {}, heading), h("th", { class: "numeric" }, "Cases"))),
    h("tbody", {}, entries.map(([state, count]) =>
      h("tr", { "data-state": state }, h("td", {}, badge(state)), h("td", { class: "numeric" }, String(count))))),
  );
}

function isoDay(d) {
  return d.toISOString().slice(0, 10);
}
