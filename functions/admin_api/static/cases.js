// Cases: a filterable, paginated list, and one case's timeline with the actions its state allows.

import { api, ApiError } from "./api.js";
import { badge, banner, card, h, humanize, replace } from "./dom.js";
import { date, dateTime, money } from "./format.js";

const STATES = ["", "open", "held", "flagged", "scheduled", "awaiting_escalation", "paid", "cancelled"];
const RISKS = ["", "low", "review", "high", "unscored", "none"];
const FILTERS = ["state", "risk", "min_amount", "max_amount", "older_than_days"];
const ACTION_LABELS = {
  approve: "Approve",
  confirm_fraud: "Confirm fraud",
  hold: "Hold reminders",
  resume: "Resume reminders",
  "refer:agency": "Refer to agency",
  "refer:legal": "Refer to legal",
  write_off: "Write off",
  reopen: "Reopen",
};
const CRITICAL = new Set(["confirm_fraud", "write_off"]);

export async function renderCases(view, params) {
  const query = new URLSearchParams();
  for (const name of [...FILTERS, "cursor"]) if (params.get(name)) query.set(name, params.get(name));
  query.set("limit", "25");
  const page = await api("GET", `/cases?${query}`);
  const previous = (params.get("back") || "").split("|").filter(Boolean);

  const form = h("form", { class: "card form-row", id: "filters", onsubmit: (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const name of FILTERS) {
      const value = form.elements[name].value.trim();
      if (value) next.set(name, value);
    }
    window.location.hash = `#/cases?${next}`;
  } },
  select("state", "State", STATES, params.get("state")),
  select("risk", "Risk", RISKS, params.get("risk")),
  input("min_amount", "Owed at least", params.get("min_amount")),
  input("max_amount", "Owed at most", params.get("max_amount")),
  input("older_than_days", "Opened over (days) ago", params.get("older_than_days")),
  h("button", { class: "button button-primary", type: "submit" }, "Filter"));

  const rows = page.cases.map((c) => h("tr", {
    class: "clickable", "data-case": c.id, tabindex: "0",
    onclick: () => { window.location.hash = `#/cases/${encodeURIComponent(c.id)}`; },
    onkeydown: (e) => { if (e.key === "Enter") window.location.hash = `#/cases/${encodeURIComponent(c.id)}`; },
  },
  h("td", {}, h("strong", {}, c.order_name)),
  h("td", {}, c.customer),
  h("td", { class: "numeric" }, money(c.amount_owed)),
  h("td", {}, badge(c.status)),
  h("td", {}, c.reminders ? badge(c.reminders.status) : "—"),
  h("td", {}, c.risk && c.risk.level ? badge(c.risk.level, `${humanize(c.risk.level)} · ${c.risk.score}`) : "—"),
  h("td", {}, referralBadge(c.referral)),
  h("td", {}, date(c.opened_at))));

  const here = params.get("cursor") || "";
  const pager = h("nav", { class: "pagination", "aria-label": "Pages" },
    h("button", { class: "button", id: "previous-page", disabled: previous.length === 0 && !here, onclick: () => {
      const back = [...previous];
      const cursor = back.pop() || "";
      go(params, cursor, back);
    } }, "Previous"),
    h("button", { class: "button", id: "next-page", disabled: !page.next_cursor, onclick: () => {
      go(params, page.next_cursor, [...previous, here || "start"]);
    } }, "Next"));

  replace(view,
    h("div", { class: "page-header" }, h("h1", {}, "Cases")),
    h("div", { class: "layout" }, form,
      h("section", { class: "card table-card" },
        rows.length
          ? h("table", { class: "data-table", id: "cases-table" },
            h("thead", {}, h("tr", {}, ["Order", "Customer", "Owed", "Status", "Reminders", "Risk", "Referral", "Opened"]
              .map((t, i) => h("th", { class: i === 2 ? "numeric" : null, scope: "col" }, t)))),
            h("tbody", {}, rows))
          : h("p", { class: "empty", style: "padding:16px" }, "No cases match."),
        pager)));
}

function go(params, cursor, back) {
  const next = new URLSearchParams();
  for (const name of FILTERS) if (params.get(name)) next.set(name, params.get(name));
  if (cursor && cursor !== "start") next.set("cursor", cursor);
  if (back.length) next.set("back", back.join("|"));
  window.location.hash = `#/cases?${next}`;
}

function select(name, label, values, current) {
  const id = `filter-${name}`;
  return h("div", { class: "field" }, h("label", { for: id }, label),
    h("select", { id, name }, values.map((v) => h("option", { value: v, selected: v === (current || "") }, v ? humanize(v) : "Any"))));
}

function input(name, label, current) {
  const id = `filter-${name}`;
  return h("div", { class: "field" }, h("label", { for: id }, label),
    h("input", { id, name, type: "text", inputmode: "decimal", value: current || "", size: 8 }));
}

export async function renderCase(view, caseId, notice = null) {
  const c = await api("GET", `/cases/${encodeURIComponent(caseId)}`);
  const note = h("textarea", { id: "action-note", "aria-label": "Note (optional)", placeholder: "Note (optional): why" });
  const status = h("div", { id: "action-status" });
  const held = c.reminders && c.reminders.status === "held";
  // A referral names its kind: "refer" becomes one button per kind.
  const choices = c.actions.flatMap((action) => action === "refer" ? ["refer:agency", "refer:legal"] : [action]);
  const buttons = choices.map((choice) => {
    const [action, kind] = choice.split(":");
    const label = ACTION_LABELS[choice] || humanize(action);
    return h("button", {
      class: `button ${action === "approve" ? "button-primary" : CRITICAL.has(action) ? "button-critical" : ""}`,
      "data-action": choice,
      onclick: async () => {
        try {
          const body = kind ? { action, kind, note: note.value } : { action, note: note.value };
          await api("POST", `/cases/${encodeURIComponent(c.id)}/actions`, body);
          await renderCase(view, c.id, `${label}: done.`);
        } catch (error) {
          replace(status, banner("critical", error instanceof ApiError ? error.message : String(error)));
        }
      },
    }, label);
  });

  replace(view,
    h("div", { class: "page-header" },
      h("div", {}, h("a", { href: "#/cases" }, "← Cases"),
        h("h1", {}, `${c.order_name} · ${c.customer}`)),
      h("div", { class: "button-group" }, badge(c.status, `Case ${humanize(c.status)}`),
        c.reminders ? h("span", { id: "reminder-status" }, badge(c.reminders.status, `Reminders ${humanize(c.reminders.status)}`)) : null,
        c.risk && c.risk.level ? badge(c.risk.level, `Risk ${humanize(c.risk.level)} · ${c.risk.score}`) : null)),
    h("div", { class: "layout" },
      notice ? banner("success", notice) : null,
      held ? banner("warning", h("strong", {}, "Reminders are held. "), c.risk ? c.risk.summary : c.reminders.reason) : null,
      c.actions.length ? card("Decide", note, h("div", { class: "button-group", style: "margin-top:8px" }, buttons), status) : null,
      h("div", { class: "grid-2" },
        card("Order",
          h("dl", { class: "facts" },
            h("dt", {}, "Owed"), h("dd", { id: "amount-owed" }, money(c.amount_owed)),
            h("dt", {}, "Order total"), h("dd", {}, money(c.order_total)),
            h("dt", {}, "Recovered"), h("dd", {}, money(c.recovered)),
            h("dt", {}, "Opened"), h("dd", {}, dateTime(c.opened_at)),
            h("dt", {}, "Closed"), h("dd", {}, dateTime(c.closed_at)),
            h("dt", {}, "Email"), h("dd", {}, c.customer_contact.email || "—"),
            h("dt", {}, "Next reminder"), h("dd", {}, c.reminders && c.reminders.next_at
              ? `Step ${c.reminders.next_step}, ${dateTime(c.reminders.next_at)}` : "—"),
            h("dt", {}, "Referral"), h("dd", {}, referralBadge(c.referral))),
          c.items.length ? h("div", { class: "card-section" }, h("h3", {}, "Items"),
            h("ul", {}, c.items.map((i) => h("li", {}, `${i.quantity} × ${i.title}`, i.unit_price ? ` (${money(i.unit_price)})` : "")))) : null),
        card("Fraud screening", screening(c.screening))),
      c.referrals.length || c.written_off ? card("Referrals",
        c.written_off ? h("p", {}, `Written off ${dateTime(c.written_off.at)} by ${c.written_off.by}: ${c.written_off.reason}`) : null,
        c.referrals.length ? h("table", { class: "data-table" },
          h("thead", {}, h("tr", {}, ["To", "Status", "Referred", "Owed", "Recovered", "Why"].map((t) => h("th", {}, t)))),
          h("tbody", {}, c.referrals.map((r) => h("tr", {}, h("td", {}, humanize(r.kind)), h("td", {}, badge(r.status)),
            h("td", {}, dateTime(r.referred_at)), h("td", {}, money(r.owed)), h("td", {}, money(r.recovered)), h("td", {}, r.reason))))) : null) : null,
      card("Reminders sent", c.reminders_sent.length
        ? h("table", { class: "data-table" },
          h("thead", {}, h("tr", {}, ["Step", "Channel", "Sent", "Amount"].map((t) => h("th", {}, t)))),
          h("tbody", {}, c.reminders_sent.map((r) => h("tr", {}, h("td", {}, String(r.step)), h("td", {}, humanize(r.channel)), h("td", {}, dateTime(r.at)), h("td", {}, money(r.amount))))))
        : h("p", { class: "empty" }, "None yet.")),
      card("Timeline", h("ol", { class: "timeline", id: "timeline" }, c.timeline.map((e) =>
        h("li", {}, h("time", {}, `${dateTime(e.at)} · ${e.source} · ${e.kind}`), h("div", {}, e.summary), h("div", { class: "muted" }, e.effect)))))));
}

function referralBadge(referral) {
  if (!referral) return "—";
  const label = referral.kind ? `${humanize(referral.kind)} · ${humanize(referral.status)}` : humanize(referral.status);
  return badge(referral.status, label);
}

function screening(data) {
  if (!data || !data.history.length) return h("p", { class: "empty" }, "Not screened.");
  return h("div", {},
    data.decision ? h("p", {}, badge(data.decision === "approved" ? "low" : "high", humanize(data.decision)),
      ` by ${data.decided_by || "the merchant"}`, data.note ? `: ${data.note}` : "") : null,
    h("ol", { class: "timeline" }, [...data.history].reverse().map((entry) => h("li", {},
      h("time", {}, dateTime(entry.at)),
      h("div", {}, badge(entry.level, `${humanize(entry.level)} · score ${entry.score}`)),
      h("ul", {}, entry.reasons.map((r) => h("li", {}, `${r.text} (${r.weight > 0 ? "+" : ""}${r.weight})`)))))));
}
