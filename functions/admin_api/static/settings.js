// Settings (/app/settings): reminders, their strategies, instalment plans and the settlement
// offer (parts of the reminder policy), fraud check, referral, sender and Stripe on one page,
// saved together
// through the contextual save bar (PUT /settings, all or nothing). The server's errors land
// on the field they name; when someone else saved meanwhile (409) the admin's edits stay and
// a merge view offers, per changed field, theirs or the saved one.

import { h, replace } from "./dom.js";
import { remindersSection, stepSummary } from "./cadence.js";
import { retriesSummary } from "./retries.js";
import { fraudSection, fraudSummary } from "./fraud.js";
import { referralSection, referralSummary } from "./referral.js";
import { senderSection, senderSummary } from "./sender.js";
import { stripeSection, stripeSummary } from "./stripe.js";
import { plansSection, plansSummary, settlementSection, settlementSummary } from "./plans.js";
import {
  conditionsSummary, strategiesSection, strategiesSummary, strategyLabel, strategyMessage, strategyTools,
} from "./strategies.js";
import {
  changedPaths, clearErrors, ensureStyles, foldable, getPath, pathLabel, same, setPath,
  showFieldError, splitPath, stepMessage, valueText,
} from "./forms.js";

// Each section's document key in its GET/PUT shape; the sender has its own route.
const DOC = { reminders: "policy", fraud: "settings", referral: "policy" };
const TITLES = {
  reminders: "Reminders", strategies: "Strategies", plans: "Instalment plans", settlement: "Settlement offer", fraud: "Fraud check",
  referral: "Referral", sender: "Sender", stripe: "Stripe",
};
// Page sections that edit a part of another section's document: [document, key].
const PARTS = {
  strategies: ["reminders", "strategies"], plans: ["reminders", "instalments"], settlement: ["reminders", "settlement"],
};
const PART_KEYS = Object.fromEntries(Object.entries(PARTS).map(([name, [doc, key]]) => [`${doc}.${key}`, name]));

async function load(ctx) {
  const [all, templates, stripe, sender] = await Promise.all([
    ctx.api.get("/settings"), ctx.api.get("/templates"), ctx.api.get("/stripe"), ctx.api.get("/settings/sender"),
  ]);
  let sections = all;
  if (ctx.api.failed(all)) {
    // A server without the combined route: the sections one by one.
    const [reminders, fraud, referral] = await Promise.all(["reminders", "fraud", "referral"].map((s) => ctx.api.get(`/settings/${s}`)));
    if (ctx.api.failed(reminders) || ctx.api.failed(fraud)) return { problem: ctx.api.failed(reminders) ? reminders : fraud };
    sections = { reminders, fraud, referral: ctx.api.failed(referral) ? null : referral };
  }
  return {
    sections,
    templates: ctx.api.failed(templates) ? null : templates.templates,
    stripe: ctx.api.failed(stripe) ? { connected: false, account: null } : stripe,
    sender: ctx.api.failed(sender) ? null : sender,
  };
}

export async function render(root, ctx) {
  ensureStyles(root);
  const loaded = await load(ctx);
  if (loaded.problem) {
    replace(root, h("s-page", { heading: "Settings" }, h("s-banner", { tone: "critical", heading: "Settings could not load" }, loaded.problem.message)));
    return;
  }
  const meta = {};
  const saved = {};
  const takeSection = (name, shape) => {
    if (!shape) return;
    meta[name] = shape;
    saved[name] = { version: shape.version, doc: structuredClone(shape[DOC[name]]) };
  };
  for (const name of Object.keys(DOC)) takeSection(name, loaded.sections[name]);
  if (loaded.sender) { meta.sender = loaded.sender; saved.sender = { version: null, doc: { reply_to: loaded.sender.reply_to } }; }
  let draft = structuredClone(saved);
  let stripe = loaded.stripe;
  const openSections = new Set(["reminders"]);
  const openSteps = new Set();
  const openStrategies = new Set(); // strategies, their steps and arms unfolded
  const tools = {
    ...strategyTools(),
    reminders: () => draft.reminders.doc,
    showError: (path, message) => showFieldError(root, path, strategyMessage(path, stepMessage(path, message))),
    label: (path) => fieldLabel(path),
  };
  let merge = null; // [{section, path, yours, theirs, meanwhile}] after a 409

  const page = h("s-page", { heading: "Settings", inlineSize: "base" });
  const status = h("div", { id: "settings-status" });
  const mergeBox = h("div", { id: "settings-merge" });

  const dirtySections = () => Object.keys(saved).filter((name) => !same(saved[name].doc, draft[name].doc));

  // "reminders.steps[4].template" -> where it lives in the draft.
  const locate = (path) => {
    const [section, ...rest] = splitPath(path);
    return { section, rest: rest.join(".") };
  };
  const valueAt = (tree, path) => {
    const { section, rest } = locate(path);
    return tree[section] ? (rest ? getPath(tree[section].doc, rest) : tree[section].doc) : undefined;
  };
  const edit = (path, value) => {
    const { section, rest } = locate(path);
    if (!draft[section]) return;
    if (rest) setPath(draft[section].doc, rest, value);
    else draft[section].doc = value;
    const el = root.querySelector(`[data-path="${CSS.escape(path)}"][error]`);
    if (el) el.removeAttribute("error");
    // A step's or a strategy's one-line summary follows its fields.
    const step = /^reminders\.(?:strategies\[\d+\]\.)?steps\[\d+\]/.exec(path);
    const summary = step && root.querySelector(`[data-summary-path="${CSS.escape(step[0])}"]`);
    const edited = step && getPath(draft.reminders.doc, step[0].slice("reminders.".length));
    if (summary && edited) summary.textContent = stepSummary(edited);
    const strategy = /^reminders\.strategies\[(\d+)\]\.when/.exec(path);
    const said = strategy && root.querySelector(`[data-strategy-summary="${strategy[1]}"]`);
    const when = strategy && getPath(draft.reminders.doc, `strategies[${strategy[1]}].when`);
    if (said && when) said.textContent = conditionsSummary(when);
    syncSaveBar();
  };
  const changed = (path) => !same(valueAt(saved, path), valueAt(draft, path));

  function syncSaveBar() {
    if (dirtySections().length) ctx.saveBar.show({ onSave: save, onDiscard: discard });
    else ctx.saveBar.hide();
  }

  // A section's own edits: a part's key of its document, or the document less its parts.
  const own = (tree, name) => {
    const [doc, key] = PARTS[name] || [name, null];
    const found = tree[doc] ? tree[doc].doc : undefined;
    if (found === undefined || found === null) return undefined;
    if (key) return found[key];
    const rest = { ...found };
    for (const [partDoc, partKey] of Object.values(PARTS)) if (partDoc === name) delete rest[partKey];
    return rest;
  };

  function section(name, summary, body, foldableBody = true) {
    const dirty = own(draft, name) !== undefined && !same(own(saved, name), own(draft, name));
    if (!foldableBody) {
      return h("s-section", { heading: TITLES[name], id: `section-${name}` }, body);
    }
    const fold = foldable({ id: `section-${name}`, summary: TITLES[name], open: openSections.has(name), label: "Edit", openLabel: "Hide", body });
    fold.toggle.addEventListener("click", () => { if (fold.body.hidden) openSections.delete(name); else openSections.add(name); });
    return h("s-section", { heading: TITLES[name], id: `section-${name}` },
      h("s-stack", { direction: "inline", gap: "base", justifyContent: "space-between", alignItems: "center" },
        h("s-stack", { direction: "inline", gap: "small", alignItems: "center" },
          h("s-text", { tone: "subdued", "data-section-summary": name }, summary),
          dirty ? h("s-badge", { tone: "info" }, "Unsaved changes") : null),
        fold.toggle),
      fold.body);
  }

  function draw() {
    const sections = [];
    const r = draft.reminders;
    sections.push(section("reminders",
      `${r.doc.steps.length} steps; quiet ${r.doc.quiet_hours.start}–${r.doc.quiet_hours.end}; at most ${r.doc.weekly_cap} a week; ${retriesSummary(r.doc.retries)}.`,
      remindersSection({ meta: meta.reminders, draft: r.doc ? { policy: r.doc } : r, templates: loaded.templates, edit, changed, ctx, redraw: draw, openSteps })));
    sections.push(section("strategies", strategiesSummary(r.doc, meta.reminders),
      strategiesSection({ meta: meta.reminders, policy: r.doc, saved: saved.reminders.doc.strategies, templates: loaded.templates,
        edit, ctx, redraw: draw, open: openStrategies, tools })));
    if (r.doc.instalments) {
      sections.push(section("plans", plansSummary(r.doc.instalments, stripe),
        plansSection({ meta: meta.reminders, policy: r.doc, stripe, edit, redraw: draw, toStripe })));
    }
    if (r.doc.settlement) {
      sections.push(section("settlement", settlementSummary(r.doc.settlement, r.doc.steps),
        settlementSection({ meta: meta.reminders, policy: r.doc, edit, redraw: draw })));
    }
    sections.push(section("fraud", fraudSummary(draft.fraud.doc),
      fraudSection({ meta: meta.fraud, draft: { settings: draft.fraud.doc }, edit })));
    if (draft.referral) {
      sections.push(section("referral", referralSummary(draft.referral.doc),
        referralSection({ draft: { policy: draft.referral.doc }, edit, redraw: draw })));
    }
    if (draft.sender) {
      sections.push(section("sender", senderSummary(meta.sender),
        senderSection({ meta: meta.sender, draft: draft.sender.doc, edit })));
    }
    sections.push(section("stripe", stripeSummary(stripe),
      stripeSection({ data: stripe, ctx, onChange: (next) => { stripe = next; draw(); } }), false));
    replace(page, status, mergeBox, ...sections);
    drawMerge();
  }

  // The plans' "Connect Stripe": the Stripe section, its connect button focused.
  function toStripe() {
    const target = root.querySelector("#section-stripe");
    target?.scrollIntoView?.({ block: "center" });
    root.querySelector("#stripe-connect")?.focus?.();
  }

  // ---------------------------------------------------------------- save

  async function save() {
    clearErrors(root);
    replace(status);
    const body = {};
    for (const name of Object.keys(DOC)) {
      if (saved[name] && !same(saved[name].doc, draft[name].doc)) {
        body[name] = { version: saved[name].version, [DOC[name]]: draft[name].doc };
      }
    }
    if (Object.keys(body).length) {
      const answer = await putSections(body);
      if (ctx.api.failed(answer)) return refused(answer);
      for (const name of Object.keys(body)) {
        const shape = answer[name] || null;
        if (shape) takeSection(name, shape);
        else saved[name] = { version: saved[name].version + 1, doc: structuredClone(draft[name].doc) };
        draft[name] = structuredClone(saved[name]);
      }
    }
    if (saved.sender && !same(saved.sender.doc, draft.sender.doc)) {
      const answer = await ctx.api.put("/settings/sender", { reply_to: draft.sender.doc.reply_to || null });
      if (ctx.api.failed(answer)) {
        draw();
        answer.field = answer.field ? `sender.${answer.field}` : "sender.reply_to";
        return refused(answer);
      }
      meta.sender = answer;
      saved.sender = { version: null, doc: { reply_to: answer.reply_to } };
      draft.sender = structuredClone(saved.sender);
    }
    merge = null;
    draw();
    ctx.toast("Settings saved");
    syncSaveBar();
    return true;
  }

  // One PUT for every changed section; a server without it takes them one by one.
  async function putSections(body) {
    const answer = await ctx.api.put("/settings", body);
    if (!ctx.api.failed(answer) || ![404, 405].includes(answer.status)) return answer;
    const out = {};
    for (const [name, part] of Object.entries(body)) {
      const one = await ctx.api.put(`/settings/${name}`, part);
      if (ctx.api.failed(one)) {
        if (one.status === 409) one.body = { ...one.body, current: { [name]: await ctx.api.get(`/settings/${name}`) } };
        one.field = one.field ? `${name}.${one.field}` : name;
        return one; // still an ApiProblem: `failed` knows it by its class
      }
      out[name] = one;
    }
    return out;
  }

  function refused(problem) {
    if (problem.status === 409 && problem.body && problem.body.current) {
      startMerge(problem.body.current);
      ctx.toast("Someone else saved meanwhile: choose what to keep", { error: true });
      return false;
    }
    const message = strategyMessage(problem.field, stepMessage(problem.field, problem.message));
    // "Reminders · Step 5: no template named …", not the step twice.
    const strategy = strategyLabel(problem.field, draft.reminders.doc, meta.reminders);
    const where = !problem.field ? null
      : /^Step \d+/.test(message) ? strategy || TITLES[locate(problem.field).section] || null : fieldLabel(problem.field);
    replace(status, h("s-banner", { tone: "critical", heading: "Not saved", id: "settings-error" },
      where ? `${where}${/^Step \d+/.test(message) ? " · " : ": "}${message}` : message));
    if (problem.field) showFieldError(root, problem.field, message);
    ctx.toast("Not saved", { error: true });
    return false;
  }

  // "Instalment plans · Most instalments": a part's fields by the page's own words.
  function fieldLabel(path) {
    const strategy = strategyLabel(path, draft.reminders.doc, meta.reminders);
    if (strategy) return strategy;
    // A card retry's field by its label: "Reminders · Wait before retry 2".
    const retry = path.startsWith("reminders.retries.") && root.querySelector(`[data-path="${CSS.escape(path)}"]`);
    if (retry && retry.getAttribute("label")) return `${TITLES.reminders} · ${retry.getAttribute("label")}`;
    const part = Object.keys(PART_KEYS).find((prefix) => path === prefix || path.startsWith(`${prefix}.`));
    if (!part) return pathLabel(path);
    const el = root.querySelector(`[data-path="${CSS.escape(path)}"]`);
    const label = el && el.getAttribute("label");
    const rest = pathLabel(path.slice(part.length + 1));
    return `${TITLES[PART_KEYS[part]]}${label ? ` · ${label}` : rest ? ` · ${rest}` : ""}`;
  }

  function discard() {
    draft = structuredClone(saved);
    merge = null;
    clearErrors(root);
    replace(status);
    draw();
    ctx.saveBar.hide();
    ctx.toast("Changes discarded");
  }

  // ---------------------------------------------------------------- merge after a 409

  function startMerge(current) {
    const rows = [];
    for (const [name, shape] of Object.entries(current)) {
      if (!saved[name] || !shape) continue;
      const base = saved[name].doc;
      const mine = draft[name].doc;
      const theirs = shape[DOC[name]];
      const merged = structuredClone(theirs);
      for (const path of changedPaths(base, mine)) {
        const yours = path ? getPath(mine, path) : mine;
        const now = path ? getPath(theirs, path) : theirs;
        if (path) putValue(merged, path, yours);
        if (!same(yours, now)) {
          rows.push({ section: name, path, full: path ? `${name}.${path}` : name, yours, theirs: now,
            meanwhile: !same(now, path ? getPath(base, path) : base) });
        }
      }
      takeSection(name, shape);
      draft[name] = { version: saved[name].version, doc: merged };
    }
    merge = rows;
    draw();
    syncSaveBar();
  }

  function putValue(doc, path, value) {
    const keys = splitPath(path);
    const parent = keys.length > 1 ? getPath(doc, keys.slice(0, -1).join(".")) : doc;
    if (!parent || typeof parent !== "object") return;
    if (value === undefined) delete parent[keys[keys.length - 1]];
    else parent[keys[keys.length - 1]] = structuredClone(value);
  }

  function drawMerge() {
    if (!merge) { replace(mergeBox); return; }
    const rows = merge.map((row, index) => {
      const choice = h("s-select", { label: pathLabel(row.full), "data-merge-field": row.full, value: "yours" },
        h("s-option", { value: "yours", selected: "" }, `Yours: ${valueText(row.yours)}`),
        h("s-option", { value: "theirs" }, `Saved now: ${valueText(row.theirs)}`));
      choice.addEventListener("change", () => {
        edit(row.full, structuredClone(choice.value === "theirs" ? row.theirs : row.yours));
        merge[index].chosen = choice.value;
      });
      return h("s-stack", { direction: "block", gap: "small" }, choice,
        row.meanwhile ? h("s-text", { tone: "subdued" }, "Also changed by someone else since you opened the page.") : null);
    });
    replace(mergeBox, h("s-banner", { tone: "warning", heading: "Someone else saved these settings while you were editing" },
      h("s-stack", { direction: "block", gap: "base" },
        h("s-paragraph", {}, rows.length
          ? "Your edits are kept. For each field you changed, choose your value or the one saved now, then save."
          : "Your edits are kept and agree with what was saved. Save to store them."),
        rows,
        h("s-stack", { direction: "inline", gap: "small" },
          h("s-button", { variant: "primary", id: "merge-save", onclick: async () => { if (await save()) ctx.saveBar.hide(); } }, "Save with these choices")))));
  }

  draw();
  root.append(page);
  syncSaveBar();
}
