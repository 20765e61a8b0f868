// Cases: search, sort and filters (the URL keeps them), bulk hold / resume / approve, a CSV of
// what the filters select, and "Load more" pages.

import { badge, fieldError, h, humanize, options, problemPage, replace, table } from "./dom.js";
import { date, dateTime, money } from "./format.js";

const STATES = ["open", "paid", "cancelled", "written_off", "referred", "scheduled", "held", "flagged", "awaiting_escalation", "not_chased", "stopped"];
const RISKS = ["low", "review", "high", "unscored", "none"];
const SORTS = { opened_desc: "Newest first", opened_asc: "Oldest first", owed_desc: "Owed: most first", owed_asc: "Owed: least first" };
const FILTERS = ["q", "sort", "state", "risk", "currency", "min_amount", "max_amount"];
const BULK = {
  hold: { label: "Hold reminders", done: "held", consequence: "No reminder is sent to these customers until you resume them." },
  resume: { label: "Resume reminders", done: "resumed", consequence: "Reminders start again where each case stopped, within quiet hours and caps." },
  approve: { label: "Approve", done: "approved", consequence: "These orders are cleared by the fraud check and their reminders run." },
};
const BULK_MAX = 50;
const PAGE_SIZE = 25; // a `limit` in the address (1-100) sets another

export async function render(root, ctx) {
  const query = ctx.query;
  const filters = new URLSearchParams();
  for (const name of FILTERS) if (query.get(name)) filters.set(name, query.get(name));
  const size = Math.min(Math.max(Number(query.get("limit")) || PAGE_SIZE, 1), 100);
  const [first, figures] = await Promise.all([
    ctx.api.get(`/cases?${withLimit(filters, size)}`),
    ctx.api.get("/figures"), // the currencies the shop has cases in
  ]);
  if (ctx.api.failed(first) && !first.field) {
    problemPage(root, "Cases", first);
    return;
  }
  const currencies = ctx.api.failed(figures) ? [] : figures.currencies || [];
  const selected = new Set();

  // ---- filters
  const field = {
    q: h("s-text-field", { label: "Search", name: "q", value: query.get("q") || "", placeholder: "Order number, email or customer name", details: "At least 2 characters" }),
    sort: h("s-select", { label: "Sort", name: "sort", value: query.get("sort") || "opened_desc" }, options(Object.keys(SORTS), query.get("sort") || "opened_desc", SORTS)),
    state: h("s-select", { label: "State", name: "state", value: query.get("state") || "" }, h("s-option", { value: "" }, "Any"), options(STATES, query.get("state"))),
    risk: h("s-select", { label: "Risk", name: "risk", value: query.get("risk") || "" }, h("s-option", { value: "" }, "Any"), options(RISKS, query.get("risk"))),
    currency: h("s-select", { label: "Currency", name: "currency", value: query.get("currency") || "" }, h("s-option", { value: "" }, "Any"),
      options([...new Set([...currencies, ...(query.get("currency") ? [query.get("currency")] : [])])], query.get("currency"), Object.fromEntries(currencies.map((c) => [c, c])))),
    min_amount: h("s-text-field", { label: "Owed at least", name: "min_amount", value: query.get("min_amount") || "", details: "Choose a currency first" }),
    max_amount: h("s-text-field", { label: "Owed at most", name: "max_amount", value: query.get("max_amount") || "" }),
  };
  const amountsAllowed = () => {
    const off = !field.currency.value;
    field.min_amount.disabled = off;
    field.max_amount.disabled = off;
    field.min_amount.setAttribute("details", off ? "Choose a currency first" : `In ${field.currency.value}, e.g. 50.00`);
    if (off) { field.min_amount.value = ""; field.max_amount.value = ""; }
  };
  field.currency.addEventListener("change", amountsAllowed);
  const apply = () => {
    const next = new URLSearchParams();
    for (const name of FILTERS) {
      const value = String(field[name].value || "").trim();
      if (value && !(name === "sort" && value === "opened_desc")) next.set(name, value);
    }
    ctx.navigate(`/app/cases${next.size ? `?${next}` : ""}`);
  };
  field.q.addEventListener("keydown", (e) => { if (e.key === "Enter") apply(); });
  const filterForm = h("s-section", { id: "case-filters", heading: "Find cases" },
    h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(min(100%, 140px), 1fr))", gap: "base" },
      h("div", { class: "span-2" }, field.q), field.sort, field.state, field.risk, field.currency, field.min_amount, field.max_amount),
    h("s-stack", { direction: "inline", gap: "small" },
      h("s-button", { variant: "primary", id: "apply-filters", onclick: apply }, "Apply filters"),
      h("s-button", { href: "/app/cases", id: "clear-filters" }, "Clear")));

  // ---- table
  const body = h("s-table-body", {});
  const more = h("s-button", { id: "load-more" }, "Load more");
  const count = h("s-text", { id: "case-count" });
  const bulkBar = h("s-stack", { direction: "inline", gap: "small", alignItems: "center", id: "bulk-actions", class: "bulk-bar", hidden: true });
  const allBox = h("s-checkbox", { accessibilityLabel: "Select all cases shown", id: "select-all" });
  let shown = [];
  let cursor = null;

  function drawBulk() {
    replace(bulkBar, h("s-text", { type: "strong" }, `${selected.size} selected`),
      Object.entries(BULK).map(([action, b]) => h("s-button", { "data-bulk": action, onclick: () => bulk(action) }, b.label)));
    bulkBar.hidden = selected.size === 0;
    allBox.checked = shown.length > 0 && shown.every((c) => selected.has(c.id));
  }

  function addRows(rows) {
    shown = shown.concat(rows);
    for (const c of rows) body.append(caseRow(c, selected, drawBulk));
    count.textContent = `${shown.length} case${shown.length === 1 ? "" : "s"} shown`;
  }

  async function bulk(action) {
    const ids = [...selected];
    const b = BULK[action];
    const ok = await ctx.confirm({
      heading: `${b.label}: ${ids.length} case${ids.length === 1 ? "" : "s"}?`,
      body: b.consequence, confirmLabel: `${b.label} (${ids.length})`,
    });
    if (!ok) return;
    const results = [];
    for (let i = 0; i < ids.length; i += BULK_MAX) { // the API takes 50 cases a request
      const answer = await ctx.api.post("/cases/actions", { action, case_ids: ids.slice(i, i + BULK_MAX) });
      if (ctx.api.failed(answer)) { ctx.toast(answer.message, { error: true }); break; }
      results.push(...answer.results);
    }
    if (!results.length) return;
    const refused = results.filter((r) => !r.ok);
    const done = results.length - refused.length;
    ctx.toast(refused.length
      ? `${done} ${b.done}; ${refused.length} could not be: ${refused.map((r) => `${titleOf(shown, r.id)}: ${r.message}`).join("; ")}`
      : `${done} case${done === 1 ? "" : "s"} ${b.done}`, { error: refused.length > 0 });
    await render(root, ctx);
  }

  allBox.addEventListener("change", () => {
    for (const c of shown) { if (allBox.checked) selected.add(c.id); else selected.delete(c.id); }
    for (const box of body.querySelectorAll("s-checkbox")) box.checked = allBox.checked;
    drawBulk();
  });
  more.addEventListener("click", async () => {
    more.loading = true;
    const page = await ctx.api.get(`/cases?${withLimit(filters, size, cursor)}`);
    more.loading = false;
    if (ctx.api.failed(page)) { ctx.toast(page.message, { error: true }); return; }
    addRows(page.cases);
    cursor = page.next_cursor;
    more.hidden = !cursor;
  });

  const exportButton = h("s-button", { slot: "primary-action", id: "export-csv", onclick: async () => {
    exportButton.loading = true;
    const done = await ctx.api.download(`/cases.csv${filters.size ? `?${filters}` : ""}`);
    exportButton.loading = false;
    if (ctx.api.failed(done)) ctx.toast(`Export failed: ${done.message}`, { error: true });
    else ctx.toast("Cases exported");
  } }, "Export CSV");

  let listing;
  if (ctx.api.failed(first)) {
    // A refused filter: said beside its field; the page and the other filters stay.
    fieldError(field[first.field] || field.q, first.message);
    listing = h("s-section", { id: "cases-list" }, h("s-paragraph", {}, "Correct the filter above to see cases."));
  } else {
    addRows(first.cases);
    cursor = first.next_cursor;
    more.hidden = !cursor;
    listing = h("s-section", { id: "cases-list", padding: "none" },
      h("div", { class: "table-head" }, count, bulkBar),
      shown.length
        ? h("s-table", { id: "cases-table", "aria-label": "Cases" },
          h("s-table-header-row", {},
            h("s-table-header", {}, allBox),
            ["Order", "Customer", { label: "Owed", format: "currency" }, "State", "Risk", "Next reminder", "Opened"].map((head) => {
              const { label, format } = typeof head === "string" ? { label: head } : head;
              return h("s-table-header", { format: format || null }, label);
            })),
          body)
        : h("s-paragraph", { class: "empty" }, filters.size ? "No cases match these filters." : "No cases yet: Recoup opens one when an order's payment fails or never arrives."),
      h("div", { class: "load-more" }, more));
    drawBulk();
  }
  replace(root, h("s-page", { heading: "Cases", inlineSize: "large" }, exportButton, filterForm, listing));
  amountsAllowed();
}

function withLimit(filters, size, cursor = null) {
  const query = new URLSearchParams(filters);
  query.set("limit", String(size));
  if (cursor) query.set("cursor", cursor);
  return query;
}

function titleOf(rows, id) {
  return rows.find((c) => c.id === id)?.title || id;
}

function caseRow(c, selected, changed) {
  const link = `case-link-${c.id}`;
  const box = h("s-checkbox", { accessibilityLabel: `Select ${c.title || c.order_name}`, "data-select": c.id, checked: selected.has(c.id) ? "" : null });
  box.addEventListener("change", () => {
    if (box.checked) selected.add(c.id); else selected.delete(c.id);
    changed();
  });
  const state = c.state || c.status;
  return h("s-table-row", { "data-case": c.id, clickDelegate: link },
    h("s-table-cell", {}, box),
    h("s-table-cell", {}, h("s-link", { href: `/app/cases/${encodeURIComponent(c.id)}`, id: link }, c.title || c.order_name)),
    h("s-table-cell", {}, h("div", {}, h("div", {}, c.customer || "—"), c.customer_email ? h("s-text", { color: "subdued" }, c.customer_email) : null)),
    h("s-table-cell", { class: "numeric" }, money(c.amount_owed)),
    h("s-table-cell", {}, badge(state)),
    h("s-table-cell", {}, c.risk && c.risk.level ? badge(c.risk.level, `${humanize(c.risk.level)} · ${c.risk.score}`) : "—"),
    h("s-table-cell", { "data-reminders": c.reminders?.status || "" }, nextReminder(c)),
    h("s-table-cell", {}, date(c.opened_at)));
}

function nextReminder(c) {
  const status = c.reminders?.status;
  if (status && status !== "scheduled") return badge(status, `Reminders ${humanize(status).toLowerCase()}`);
  return c.next_at ? dateTime(c.next_at) : "—";
}
