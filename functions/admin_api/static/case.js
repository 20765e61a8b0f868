// One case: who owes what, when the next reminder goes (and in the customer's time), the
// customer's instalment plan or settlement, the actions its state allows, and its whole
// story. Each action re-draws the page from the case the API returns, so its effect shows
// at once.

import { badge, h, humanize, problemPage, replace, table } from "./dom.js";
import { date, dateTime, fractionDigits, money, moneyMinor, timeOnly, toMinor } from "./format.js";
import { armWords, factRows, whyWords } from "./strategies.js";

const LABELS = {
  approve: "Approve", confirm_fraud: "Confirm fraud", hold: "Hold reminders", resume: "Resume reminders",
  "refer:agency": "Refer to agency", "refer:legal": "Refer to legal", withdraw: "Withdraw referral",
  write_off: "Write off", reopen: "Reopen", send_now: "Send now", skip_step: "Skip step",
};
const PRIMARY_ORDER = ["approve", "resume", "reopen", "send_now"];

// What the merchant is told before the actions that cannot simply be undone.
function consequence(choice, c) {
  const owed = money(c.amount_owed);
  return {
    write_off: `The case closes and ${owed} moves out of Outstanding into Written off. No more reminders are sent to the customer. You can reopen it later.`,
    confirm_fraud: `The order is recorded as fraud: reminders stop, ${owed} is counted apart as fraud-flagged, and the customer is tagged in Shopify.`,
    "refer:agency": `The case file (the order, every message sent and each payment attempt) goes to your collection agency for ${owed}, and Recoup stops its own reminders.`,
    "refer:legal": `The case file (the order, every message sent and each payment attempt) goes to your legal contact for ${owed}, and Recoup stops its own reminders.`,
    withdraw: "The referral is withdrawn: the agency or legal contact is told to stop, and the case comes back to you.",
  }[choice];
}

export async function render(root, ctx) {
  const c = await ctx.api.get(`/cases/${encodeURIComponent(ctx.params.id)}`);
  if (ctx.api.failed(c)) {
    problemPage(root, "Case", c);
    return;
  }
  draw(root, ctx, c);
}

function draw(root, ctx, c, problem = null) {
  const note = h("s-text-area", { label: "Note for the timeline (optional)", name: "note", rows: "2", id: "action-note" });
  const choices = (c.actions || []).flatMap((a) => (a === "refer" ? ["refer:agency", "refer:legal"] : [a]));
  const primary = PRIMARY_ORDER.find((a) => choices.includes(a));

  async function act(choice) {
    const [action, kind] = choice.split(":");
    const label = LABELS[choice] || humanize(action);
    const body = { action, note: note.value || undefined };
    if (kind) body.kind = kind;
    if (action === "reopen") {
      const mode = await ctx.choose({
        heading: "Reopen this case?",
        body: "Recoup chases the customer again for what is still owed.",
        choices: [
          { label: "Start over", value: "start_over", variant: "secondary" },
          { label: "Resume where it stopped", value: "resume", variant: "primary" },
        ],
      });
      if (!mode) return;
      body.mode = mode;
    } else if (consequence(choice, c)) {
      const ok = await ctx.confirm({
        heading: `${label}: ${c.title || c.order_name}?`, body: consequence(choice, c),
        confirmLabel: label, tone: choice === "withdraw" ? undefined : "critical",
      });
      if (!ok) return;
    }
    const answer = await ctx.api.post(`/cases/${encodeURIComponent(c.id)}/actions`, body);
    if (ctx.api.failed(answer)) {
      ctx.toast(answer.message, { error: true });
      draw(root, ctx, c, answer);
      return;
    }
    ctx.toast(answer.result?.effect || `${label}: done`);
    draw(root, ctx, answer.case || (await ctx.api.get(`/cases/${encodeURIComponent(c.id)}`)));
  }

  const button = (choice, attrs = {}) => h("s-button", {
    "data-action": choice,
    tone: ["write_off", "confirm_fraud"].includes(choice) ? "critical" : null,
    onclick: () => act(choice),
    ...attrs,
  }, LABELS[choice] || humanize(choice));

  const state = c.state || c.status;
  const staff = staffNames(c);
  const contact = c.customer_contact || {};
  const reminders = c.reminders;
  replace(root, h("s-page", { heading: c.title || c.order_name, inlineSize: "large" },
    h("s-link", { slot: "breadcrumb-actions", href: "/app/cases" }, "← Cases"),
    primary ? button(primary, { slot: "primary-action", variant: "primary", "data-action": `${primary}` }) : null,
    h("s-stack", { direction: "inline", gap: "small", id: "case-badges" },
      h("span", { id: "case-state", "data-state": state }, badge(state, humanize(state))),
      reminders ? h("span", { id: "reminder-status" }, badge(reminders.status, REMINDER_LABELS[reminders.status] || `Reminders ${humanize(reminders.status).toLowerCase()}`)) : null,
      c.risk && c.risk.level ? badge(c.risk.level, `Risk ${humanize(c.risk.level).toLowerCase()} · ${c.risk.score}`) : null,
      c.referral ? badge(c.referral.status, `${humanize(c.referral.kind || "referral")} · ${humanize(c.referral.status).toLowerCase()}`) : null),
    problem ? h("s-banner", { tone: "critical", heading: "That did not happen", id: "action-problem" }, h("s-paragraph", {}, problem.message)) : null,
    reminders && reminders.status === "held"
      ? h("s-banner", { tone: "warning", heading: "Reminders are held" }, h("s-paragraph", {}, c.risk?.summary || reminders.reason || "Decide below: approve the order or confirm it as fraud."))
      : null,
    customerSays(reminders),
    plan(c),
    nextStep(c, choices, button),
    strategy(c),
    // The title bar holds the primary action; the next reminder's section its own two.
    h("s-section", { heading: "Actions", id: "case-actions" },
      note,
      h("s-stack", { direction: "inline", gap: "small" },
        choices.filter((a) => ![primary, "send_now", "skip_step"].includes(a)).map((a) => button(a)))),
    h("s-section", { heading: "Timeline", id: "timeline-section" }, timeline(c.timeline || [])),
    c.reminders_sent && c.reminders_sent.length
      ? h("s-section", { heading: "Reminders sent" },
        table(["Step", "Channel", "Template", "Sent", { label: "Amount", format: "currency" }],
          c.reminders_sent.map((r) => [String(r.step), humanize(r.channel), r.template || "—", dateTime(r.at), money(r.amount)])))
      : null,
    referrals(c, staff),
    h("div", { slot: "aside", class: "aside" },
      customer(c, contact),
      order(c),
      h("s-section", { heading: "Fraud screening" }, screening(c.screening, staff)))));
}

const REMINDER_LABELS = { planned: "Reminders paused for the plan" };
const PLAN_STATUS = {
  awaiting_card: "Waiting for the card", active: "Active", completed: "Completed", broken: "Broken", lapsed: "Lapsed", ended: "Ended",
};
const INSTALMENT_STATUS = { paid: "Paid", missed: "Missed", scheduled: "Scheduled", not_charged: "Not charged" };
const INTERVAL_TEXT = { weekly: "weekly instalments", biweekly: "instalments every two weeks", monthly: "monthly instalments" };

// The customer's instalment plan: where it stands, the next charge or the missed instalment,
// and its schedule.
function plan(c) {
  const p = c.plan;
  if (!p) return null;
  const zone = c.customer_contact?.timezone;
  const when = (iso) => `${dateTime(iso)}${zone && timeOnly(iso, zone) !== timeOnly(iso) ? ` (${timeOnly(iso, zone)} for the customer)` : ""}`;
  const next = p.next_charge;
  const facts = [
    ["Paid", h("span", { id: "plan-paid" }, `${money(p.paid)} of ${money(p.total)}`)],
    next ? ["Next charge", h("span", { id: "plan-next" }, `Instalment ${next.number} of ${p.count}: ${money(next.amount)}, ${when(next.at)}`)] : null,
    p.card_by ? ["Card", `Waiting for the customer to save it at Stripe, until ${dateTime(p.card_by)}`] : null,
    ["Agreed", dateTime(p.made_at)],
    p.ended_at ? ["Ended", h("span", { id: "plan-ended" }, `${dateTime(p.ended_at)}${p.end_reason ? `: ${readable(p.end_reason)}` : ""}`)] : null,
  ];
  const missed = p.missed;
  return h("s-section", { heading: "Instalment plan", id: "plan", "data-status": p.status },
    h("s-stack", { direction: "inline", gap: "small", alignItems: "center" },
      badge(p.status, PLAN_STATUS[p.status] || humanize(p.status)),
      h("s-text", { type: "strong" }, `${money(p.total)} in ${p.count} ${INTERVAL_TEXT[p.interval] || `${humanize(p.interval).toLowerCase()} instalments`}`)),
    missed ? h("s-banner", { tone: "warning", heading: `Instalment ${missed.number} could not be charged${missed.code ? ` (${missed.code.replaceAll("_", " ")})` : ""}`, id: "plan-missed" },
      h("s-paragraph", {}, `The customer is told once and can pay ${money(missed.amount)} from their page until ${dateTime(missed.grace_ends)}; if it stays unpaid, the plan breaks.`)) : null,
    dl(facts),
    table(["Instalment", "Due", { label: "Amount", format: "currency" }, "Status", "Paid or failed"],
      p.instalments.map((i) => ({
        attrs: { "data-instalment": String(i.number), "data-status": i.status },
        cells: [`${i.number} of ${p.count}`, date(i.due_on), money(i.amount),
          badge(i.status, INSTALMENT_STATUS[i.status] || humanize(i.status)),
          i.paid_at ? dateTime(i.paid_at) : i.failed_at ? `${dateTime(i.failed_at)}${i.failures > 1 ? ` (${i.failures} attempts)` : ""}` : "—"],
      })), { id: "plan-schedule", accessibilityLabel: "Instalments" }));
}

function nextStep(c, choices, button) {
  const next = c.next_step;
  if (!next) return null;
  const zone = c.customer_contact?.timezone;
  return h("s-section", { heading: "Next reminder", id: "next-step" },
    h("s-paragraph", {},
      h("s-text", { type: "strong" }, `Step ${next.step}: ${humanize(next.channel)}, “${next.template}”`), " ",
      next.at ? `${dateTime(next.at)}${zone && timeOnly(next.at, zone) !== timeOnly(next.at) ? ` (${timeOnly(next.at, zone)} for the customer)` : ""}` : "not scheduled"),
    h("s-stack", { direction: "inline", gap: "small" },
      choices.includes("send_now") ? button("send_now") : null,
      choices.includes("skip_step") ? button("skip_step") : null),
    h("s-text", { color: "subdued" }, "Send now still keeps quiet hours, the weekly cap and opt-outs."));
}

// Why the case gets the reminders it gets: the strategy that took it and why, the
// experiment's arm, and the facts it was chosen by (how it was to be paid, the newest
// decline, the payment terms and their due date, from which the reminders count).
const CASE_FACTS = ["Paid by", "Newest declined payment", "Customer", "Payment terms"];
function strategy(c) {
  const found = c.strategy;
  if (!found) return null;
  const follows = found.follows;
  const name = !follows ? "None: the case is not chased"
    : follows.default ? "Default: the reminder sequence"
      : `${follows.name || "A strategy no longer in the settings"} (${follows.id})`;
  const facts = factRows(found.facts).filter(([term]) => CASE_FACTS.includes(term));
  return h("s-section", { heading: "Why these reminders", id: "case-strategy", "data-strategy": follows ? follows.id : "" },
    dl([
      ["Strategy", h("span", { id: "case-strategy-name" }, name)],
      follows && follows.why ? ["Why", h("span", { id: "case-strategy-why" }, sentence(whyWords(follows.why)))] : null,
      follows && follows.arm ? ["Experiment arm", h("span", { id: "case-strategy-arm" }, armWords(follows.arm))] : null,
      ...facts,
      follows && follows.anchor_at ? ["Reminders count from", `${dateTime(follows.anchor_at)} (the due date)`] : null,
    ]));
}

function customer(c, contact) {
  const zone = contact.timezone;
  const facts = [
    ["Name", c.customer || "—"],
    ["Email", contact.email || c.customer_email || "—"],
    ["Phone", contact.phone || "—"],
    ["Country", contact.country || "—"],
    ["Time zone", zone || "unknown"],
    ["Local time now", zone ? h("span", { id: "customer-local-time" }, timeOnly(new Date().toISOString(), zone)) : "—"],
  ];
  return h("s-section", { heading: "Customer", id: "customer" },
    dl(facts),
    c.links?.customer ? h("s-link", { href: c.links.customer, target: "_top", id: "customer-link" }, "Open the customer in Shopify") : null);
}

function order(c) {
  const settled = c.settlement;
  return h("s-section", { heading: "Order", id: "order" },
    dl([
      // A written-off amount is no longer chased: it reads as written off, not as owed.
      [c.state === "written_off" ? "Written off" : "Owed", h("span", { id: "amount-owed" }, money(c.amount_owed))],
      ["Order total", money(c.order_total)],
      ["Recovered", h("span", { id: "amount-recovered" }, money(c.recovered))],
      // Paid under a settlement offer: the discount is written off, not recovered.
      settled ? ["Settled", h("span", { id: "settled" }, `${money(settled.paid)} paid for ${money(settled.settles)} under a settlement offer`)] : null,
      c.settled_discount ? ["Discount written off", h("span", { id: "settled-discount" }, money(c.settled_discount))] : null,
      ["Opened", dateTime(c.opened_at)],
      ["Closed", dateTime(c.closed_at)],
    ]),
    c.items && c.items.length
      ? h("ul", { class: "items" }, c.items.map((i) => h("li", {}, `${i.quantity} × ${i.title}`, i.unit_price ? ` (${money(i.unit_price)})` : "")))
      : null,
    c.links?.order ? h("s-link", { href: c.links.order, target: "_top", id: "order-link" }, "Open the order in Shopify") : null);
}

function dl(facts) {
  return h("dl", { class: "facts" }, facts.filter(Boolean).map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

const ACTORS = { recoup: "Recoup", shopify: "Shopify", stripe: "Stripe", customer: "The customer" };

// What the customer said on their own page, until the merchant acts on it.
const REPORTS = {
  already_paid: ["The customer says they already paid", "Reminders are paused. Look for the payment; if it has not arrived, resume the reminders."],
  dispute: ["The customer disputes this order", "Reminders are paused. Contact the customer, then resume or write off."],
  not_mine: ["The customer says they did not place this order", "The case is held for a fraud decision; the customer is not chased."],
};
function customerSays(reminders) {
  if (!reminders) return null;
  const report = REPORTS[reminders.customer_report];
  if (report) {
    return h("s-banner", { tone: "warning", heading: report[0], id: "customer-report" }, h("s-paragraph", {}, report[1]));
  }
  if (reminders.promised_by) {
    return h("s-banner", { tone: "info", heading: `The customer promised to pay by ${date(reminders.promised_by)}`, id: "customer-promise" },
      h("s-paragraph", {}, "Reminders are paused until then; one friendly reminder goes the day before. If it is not paid, the sequence resumes."));
  }
  return null;
}

function timeline(entries) {
  if (!entries.length) return h("s-paragraph", {}, "Nothing yet.");
  return h("ol", { class: "timeline", id: "timeline" }, [...entries].reverse().map((e) => {
    const who = e.actor ? e.actor.name || ACTORS[e.actor.kind] || humanize(e.actor.kind) : humanize(e.source);
    return h("li", { "data-kind": e.kind || "" },
      h("div", { class: "timeline-meta" }, h("time", { datetime: e.at || "" }, dateTime(e.at)), ` · ${who}`),
      h("div", {}, sentence(readable(e.summary)) || humanize(e.kind)),
      e.effect && e.effect !== e.summary ? h("div", { class: "timeline-effect" }, sentence(readable(e.effect))) : null,
      e.note ? h("blockquote", { class: "timeline-note" }, e.note) : null);
  }));
}

// The trail's lines are written lower-case to read inside a sentence; on their own they start a sentence.
function sentence(text) {
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
}

// The trail writes amounts as "USD 1,899.00", days as "2027-01-05" and provider codes as
// "card_declined": on the page they read in the staff member's locale ("$1,899.00",
// "Jan 5, 2027", "card declined"). An amount whose decimals do not fit its currency stays.
function readable(text) {
  if (!text) return text;
  return String(text)
    .replace(/\b([A-Z]{3}) (\d{1,3}(?:,\d{3})*(?:\.\d+)?)\b/g, (found, currency, amount) => {
      const decimals = (amount.split(".")[1] || "").length;
      const minor = decimals === fractionDigits(currency) ? toMinor(amount.replaceAll(",", ""), currency) : null;
      return minor === null ? found : moneyMinor(minor, currency);
    })
    .replace(/\b(\d{4}-\d{2}-\d{2})\b(?![T:\d])/g, (day) => date(day))
    .replace(/\(([a-z]+(?:_[a-z]+)+)\)/g, (_, code) => `(${code.replaceAll("_", " ")})`);
}

// Staff members by user id, as the timeline names them (older records keep only the id).
function staffNames(c) {
  const names = new Map();
  for (const e of c.timeline || []) if (e.actor?.kind === "staff" && e.actor.id && e.actor.name) names.set(String(e.actor.id), e.actor.name);
  return (id) => (id ? names.get(String(id)) || (/^\d+$/.test(String(id)) ? "a staff member" : id) : "the merchant");
}

function referrals(c, staff) {
  if (!(c.referrals && c.referrals.length) && !c.written_off) return null;
  return h("s-section", { heading: "Referrals and write-off" },
    c.written_off ? h("s-paragraph", { id: "written-off" }, `Written off ${dateTime(c.written_off.at)} by ${staff(c.written_off.by)}`,
      c.written_off.reason && !/^written off by /i.test(c.written_off.reason) ? `: ${c.written_off.reason}` : "") : null,
    c.referrals && c.referrals.length
      ? table(["To", "Status", "Referred", { label: "Owed", format: "currency" }, { label: "Recovered", format: "currency" }, "Why"],
        c.referrals.map((r) => [humanize(r.kind), badge(r.status), dateTime(r.referred_at), money(r.owed), money(r.recovered), r.reason || "—"]))
      : null);
}

function screening(data, staff) {
  if (!data || !data.history || !data.history.length) return h("s-paragraph", {}, "Not screened.");
  const last = data.history[data.history.length - 1];
  return h("s-stack", { direction: "block", gap: "small" },
    data.decision ? h("s-paragraph", {}, badge(data.decision === "approved" ? "low" : "high", humanize(data.decision)),
      ` by ${staff(data.decided_by)}`, data.note ? `: ${data.note}` : "") : null,
    h("s-paragraph", {}, badge(last.level, `${humanize(last.level)} · score ${last.score}`), ` ${dateTime(last.at)}`),
    h("ul", { class: "reasons" }, last.reasons.map((r) => h("li", {}, `${r.text} (${r.weight > 0 ? "+" : ""}${r.weight})`))));
}
