// Templates (/app/templates): every message template, built-in or customised (in which
// languages), and the steps that use it; /app/templates?name=<name>&lang=<code> edits the
// shop's version of one in one language: its parts with line numbers, the variables it may
// use, a live preview as a customer of that language gets it (the email in a sandboxed frame,
// the SMS with its length and segments), worded for the payment situation chosen, and the
// sandbox's verdict before saving.

import { h, replace } from "./dom.js";
import { debounce, ensureStyles, optionList, words } from "./forms.js";

const PART_LABELS = { subject: "Email subject", html: "Email HTML", text: "Email plain text", sms: "SMS" };
const PREVIEW_MS = 400;
// The customers' languages (channels/i18n.py SUPPORTED_LANGUAGES), each in its own words.
const LANGUAGES = [["en", "English"], ["de", "Deutsch"], ["fr", "Français"], ["es", "Español"], ["ja", "日本語"]];
const LANGUAGE_NAMES = Object.fromEntries(LANGUAGES);
const languageList = (codes) => codes.map((code) => LANGUAGE_NAMES[code] || code).join(", ");
// What a message may be worded for (domain/payment_situation.py Situation): the preview
// shows the paragraph each one gets (the courtesy reminder's due date, the cancellation
// notice without a pay link...).
const SITUATIONS = [
  ["payment_failed", "A failed payment, nothing more known"],
  ["card_declined", "Card declined"],
  ["insufficient_funds", "Insufficient funds"],
  ["expired_card", "Expired card"],
  ["incorrect_card", "Incorrect card details"],
  ["card_not_usable", "A card that cannot pay this"],
  ["authentication_required", "Authentication not completed"],
  ["manual_payment_pending", "Bank transfer awaited"],
  ["awaiting_payment", "Payment awaited (cash on delivery, invoice)"],
  ["partially_paid", "Partly paid"],
  ["payment_due_soon", "Courtesy reminder before the due date"],
  ["terms_overdue", "Payment terms overdue"],
  ["promise_due", "A promised payment date has come"],
  ["promise_broken", "A promise not kept"],
  ["instalment_missed", "An instalment missed"],
  ["plan_broken", "A plan ended unpaid"],
  ["order_cancelled", "The order is being cancelled"],
];
// The messages sent outside the steps (the courtesy reminder, the cancellation notice, a
// promise's reminder, a missed instalment's notice) always use the friendly template
// (services/customer_requests.nudge_step): another template is never worded for them.
const ONE_OFF_SITUATIONS = new Set(["payment_due_soon", "order_cancelled", "promise_due", "instalment_missed"]);
const situationsFor = (name) => SITUATIONS.filter(([value]) => name === "friendly" || !ONE_OFF_SITUATIONS.has(value));

export async function render(root, ctx) {
  ensureStyles(root);
  const name = ctx.query.get("name");
  if (name) await renderEditor(root, ctx, name);
  else await renderList(root, ctx);
}

// ------------------------------------------------------------------ the list

async function renderList(root, ctx) {
  const listed = await ctx.api.get("/templates");
  const page = h("s-page", { heading: "Templates" },
    h("s-link", { slot: "breadcrumb-actions", href: "/app/settings" }, "Settings"));
  if (ctx.api.failed(listed)) {
    replace(page, h("s-banner", { tone: "critical", heading: "Templates could not load" }, listed.message));
    root.append(page);
    return;
  }
  const rows = listed.templates.map((t) => h("s-table-row", { "data-template": t.name, clickDelegate: `edit-${t.name}` },
    h("s-table-cell", {}, h("s-link", { id: `edit-${t.name}`, href: `/app/templates?name=${encodeURIComponent(t.name)}` }, words(t.name))),
    h("s-table-cell", {}, t.customised ? h("s-badge", { tone: "info" }, "Customised") : h("s-badge", {}, t.builtin ? "Built-in" : "Your own")),
    h("s-table-cell", { "data-languages": (t.languages || []).join(",") }, t.languages && t.languages.length ? languageList(t.languages) : "—"),
    h("s-table-cell", {}, (t.channels || []).map((c) => (c === "sms" ? "SMS" : words(c))).join(", ") || "—"),
    h("s-table-cell", {}, t.used_by_steps && t.used_by_steps.length ? `Step${t.used_by_steps.length > 1 ? "s" : ""} ${t.used_by_steps.join(", ")}` : "Not used")));
  replace(page,
    h("s-section", {},
      h("s-paragraph", {}, "The words of each reminder. Customise one to change what customers read; the built-in text stays available to go back to."),
      h("s-table", { id: "templates-table" },
        h("s-table-header-row", {}, ["Template", "Status", "Your languages", "Channels", "Used by"].map((t) => h("s-table-header", {}, t))),
        h("s-table-body", {}, rows))));
  root.append(page);
}

// ------------------------------------------------------------------ one template

async function renderEditor(root, ctx, name) {
  const askedLanguage = ctx.query.get("lang") || "en";
  const language = LANGUAGE_NAMES[askedLanguage] ? askedLanguage : "en";
  const lang = `lang=${encodeURIComponent(language)}`;
  const path = `/settings/templates/${encodeURIComponent(name)}?${lang}`;
  const [found, listed] = await Promise.all([ctx.api.get(path), ctx.api.get("/templates")]);
  const page = h("s-page", { heading: `Template: ${words(name)}` },
    h("s-link", { slot: "breadcrumb-actions", href: "/app/templates" }, "Templates"));
  root.append(page);
  if (ctx.api.failed(found)) {
    replace(page, h("s-banner", { tone: "critical", heading: "This template could not load" }, found.message));
    return;
  }
  const listing = ctx.api.failed(listed) ? null : listed;
  const info = listing ? listing.templates.find((t) => t.name === name) : null;
  const variables = found.variables || (listing ? listing.variables : []) || [];
  const kinds = found.kinds || Object.keys(PART_LABELS);
  const builtin = found.builtin_parts || {}; // the shipped text, when the server sends it
  const yourOwn = found.builtin_parts === null; // a template of the shop's own: reset deletes it
  let saved = clean(found.parts || {});
  // What the shop customised: a part left as the shipped text is sent empty, so it stays
  // the shipped one (and later shipped changes reach it).
  const own = (parts) => clean(Object.fromEntries(Object.entries(parts).map(([kind, text]) => [kind, text === builtin[kind] ? "" : text])));
  const draft = {};
  for (const kind of kinds) draft[kind] = saved[kind] ?? (typeof builtin[kind] === "string" ? builtin[kind] : "");
  const startedFrom = { ...draft };
  let lastFocused = null;
  let verdict = null;
  let asked = 0;

  const editors = {};
  const verdictBox = h("div", { id: "template-verdict" });
  const emailSubject = h("s-text", {});
  const smsBox = h("s-stack", { direction: "block", gap: "small", id: "sms-preview" });
  // The SMS's size also right under its editor: on a phone the preview is far below.
  const smsSize = h("s-text", { tone: "subdued", id: "sms-size" });
  // sandbox="" : the email's HTML cannot run scripts, submit forms or navigate the page. One
  // frame, reloaded only when the HTML changes: no flicker while the admin types elsewhere.
  const emailFrame = h("iframe", { class: "email-frame", sandbox: "", title: "Email preview" });
  const emailBox = h("s-stack", { direction: "block", gap: "small", id: "email-preview" }, h("s-heading", {}, "Email"), emailSubject, emailFrame);

  const dirty = () => JSON.stringify(clean(draft)) !== JSON.stringify(clean(startedFrom));
  const syncBar = () => (dirty() ? ctx.saveBar.show({ onSave: save, onDiscard: discard }) : ctx.saveBar.hide());

  for (const kind of kinds) {
    editors[kind] = codeEditor(kind, draft[kind], {
      onInput: (value) => { draft[kind] = value; syncBar(); refresh(); },
      onFocus: (el) => { lastFocused = kind; editors[kind].textarea = el; },
      placeholder: typeof builtin[kind] === "string" ? "Empty: the built-in text is used" : "",
    });
  }

  const insert = (variable) => {
    const kind = lastFocused || (kinds.includes("sms") ? "sms" : kinds[0]);
    const area = editors[kind].textarea;
    const token = `{{ ${variable} }}`;
    const start = area.selectionStart ?? area.value.length;
    const end = area.selectionEnd ?? area.value.length;
    area.value = area.value.slice(0, start) + token + area.value.slice(end);
    area.selectionStart = area.selectionEnd = start + token.length;
    area.focus();
    area.dispatchEvent(new Event("input", { bubbles: true }));
  };

  // Not an edit: choosing another situation only words the preview for it.
  const situation = h("s-select", { id: "preview-situation", label: "Worded for", value: "payment_failed" }, optionList(situationsFor(name), "payment_failed"));
  const preview = async () => {
    const number = ++asked;
    const asking = `${lang}&situation=${encodeURIComponent(situation.value || "payment_failed")}`;
    const answer = await ctx.api.post(`/templates/${encodeURIComponent(name)}/preview?${asking}`, { parts: own(draft) });
    const result = ctx.api.failed(answer)
      ? { ok: false, errors: [{ part: answer.field ? String(answer.field).replace(/^parts\./, "") : null, line: answer.body.line || null, message: answer.message }] }
      : answer;
    // Only the newest draft's answer is drawn; each caller still gets its own.
    if (number === asked) {
      verdict = result;
      drawPreview();
    }
    return result;
  };
  const refresh = debounce(preview, PREVIEW_MS);
  situation.addEventListener("change", () => preview());

  function drawPreview() {
    for (const kind of kinds) editors[kind].mark(verdict.errors.filter((e) => e.part === kind));
    replace(verdictBox, verdict.ok
      ? h("s-banner", { tone: "success", heading: "The sandbox accepts this template" }, "It renders with sample data and can be saved.")
      : h("s-banner", { tone: "critical", heading: `The sandbox refuses this template: ${verdict.errors.length} problem${verdict.errors.length === 1 ? "" : "s"}` },
        h("s-stack", { direction: "block" }, verdict.errors.map((e) => h("s-text", {},
          `${e.part ? PART_LABELS[e.part] || e.part : "Template"}${e.line ? `, line ${e.line}` : ""}: ${e.message}`)))));
    const email = verdict.email;
    // Drawn in place (never moved: a moved frame reloads).
    replace(emailSubject, email ? [h("s-text", { type: "strong" }, "Subject: "), email.subject] : "No email preview.");
    emailFrame.hidden = !email;
    if (email && emailFrame.getAttribute("srcdoc") !== email.html) emailFrame.setAttribute("srcdoc", email.html);
    const sms = verdict.sms;
    replace(smsSize, sms ? `Rendered with sample data: ${smsCounter(sms)}` : "");
    replace(smsBox, h("s-heading", {}, "SMS"), sms
      ? [h("div", { class: "sms-bubble", "data-sms": "" }, sms.text),
        h("s-text", { id: "sms-counter", tone: sms.encoding === "UCS-2" ? "caution" : null, "data-segments": String(sms.segments), "data-encoding": sms.encoding },
          smsCounter(sms)),
        sms.encoding === "UCS-2" ? h("s-text", { tone: "subdued" }, "A character outside the GSM alphabet makes every segment hold 70 characters (67 once split).") : null]
      : h("s-text", { tone: "subdued" }, "No SMS preview."));
  }

  async function save() {
    const checked = await preview();
    if (!checked.ok) {
      ctx.toast("The sandbox refuses this template: not saved", { error: true });
      return false;
    }
    const answer = await ctx.api.put(path, { parts: own(draft) });
    if (ctx.api.failed(answer)) {
      const part = answer.field ? String(answer.field).replace(/^parts\.?/, "") : "";
      verdict = { ...(verdict || {}), ok: false, errors: [{ part: part || null, line: answer.body.line || null, message: answer.message }] };
      drawPreview();
      ctx.toast("Not saved", { error: true });
      return false;
    }
    saved = clean(answer.parts || draft);
    Object.assign(startedFrom, draft);
    if (answer.languages) drawLanguages(answer.languages);
    ctx.toast("Template saved");
    ctx.saveBar.hide();
    return true;
  }

  function discard() {
    for (const kind of kinds) {
      draft[kind] = startedFrom[kind];
      editors[kind].set(startedFrom[kind]);
    }
    ctx.saveBar.hide();
    preview();
  }

  async function reset() {
    const inLanguage = LANGUAGE_NAMES[language];
    const lastOne = yourOwn && languages.length <= 1;
    const sure = await ctx.confirm(lastOne
      ? { heading: `Delete ${words(name)}?`, body: "This template of your own is deleted. A step still using it must use another one first.", confirmLabel: "Delete template", tone: "critical" }
      : yourOwn
        ? { heading: `Delete the ${inLanguage} version of ${words(name)}?`, body: `Your ${inLanguage} text for this template is deleted; customers who read ${inLanguage} get the built-in text of the step's tone in ${inLanguage}. Your other languages stay.`, confirmLabel: "Delete this language", tone: "critical" }
        : {
          heading: `Reset the ${inLanguage} version of ${words(name)} to the built-in text?`,
          body: `Your ${inLanguage} text for this template is deleted; customers who read ${inLanguage} get the built-in text in ${inLanguage} again. Your other languages stay.`,
          confirmLabel: "Reset to built-in", tone: "critical",
        });
    if (!sure) return;
    const answer = await ctx.api.del(`/templates/${encodeURIComponent(name)}?${lang}`);
    if (ctx.api.failed(answer)) return ctx.toast(answer.message, { error: true });
    ctx.saveBar.hide();
    if (lastOne) {
      ctx.toast("Template deleted");
      return ctx.navigate("/app/templates");
    }
    ctx.toast(yourOwn ? `${inLanguage} version deleted` : `${inLanguage} version reset to built-in`);
    replace(root);
    await renderEditor(root, ctx, name);
  }

  // This language's version: the reset and the badge are about it alone.
  const customised = Object.keys(saved).length > 0;
  let languages = found.languages || (info && info.languages) || [];
  const languagesLine = h("s-text", { id: "template-languages" });
  function drawLanguages(codes) {
    languages = codes;
    replace(languagesLine, codes.length
      ? `Your own versions: ${languageList(codes)}. A customer gets the version in their language; in a language you have not customised, the built-in text in that language, never another language's version.`
      : "Not customised in any language: every customer gets the built-in text in their language.");
  }
  drawLanguages(languages);
  // The language beside the name: switching asks first when this version has unsaved edits.
  const picker = h("s-select", { id: "template-language", label: "Language", value: language }, optionList(LANGUAGES, language));
  picker.addEventListener("change", async () => {
    const chosen = picker.value;
    if (chosen === language) return;
    if (dirty()) {
      const leave = await ctx.confirm({
        heading: "Discard your unsaved changes?",
        body: `Your edits to the ${LANGUAGE_NAMES[language]} version are not saved. Switching to ${LANGUAGE_NAMES[chosen]} discards them.`,
        confirmLabel: "Discard and switch", tone: "critical", cancelLabel: "Keep editing",
      });
      if (!leave) {
        picker.value = language;
        return;
      }
      ctx.saveBar.hide();
    }
    await ctx.navigate(`/app/templates?name=${encodeURIComponent(name)}&lang=${encodeURIComponent(chosen)}`);
  });
  replace(page,
    h("s-link", { slot: "breadcrumb-actions", href: "/app/templates" }, "Templates"),
    customised ? h("s-button", { slot: "secondary-actions", id: "reset-template", tone: "critical", onclick: reset }, yourOwn ? (languages.length > 1 ? `Delete ${LANGUAGE_NAMES[language]} version` : "Delete template") : "Reset to built-in") : null,
    h("s-section", {},
      h("s-stack", { direction: "block", gap: "small" },
        h("s-stack", { direction: "inline", gap: "base", alignItems: "end" },
          h("div", { class: "template-language" }, picker),
          h("s-stack", { direction: "inline", gap: "small", alignItems: "center" },
            customised ? h("s-badge", { tone: "info" }, `Customised in ${LANGUAGE_NAMES[language]}`) : h("s-badge", {}, `Built-in ${LANGUAGE_NAMES[language]}`),
            h("s-text", { tone: "subdued" }, info && info.used_by_steps && info.used_by_steps.length ? `Used by step ${info.used_by_steps.join(", ")}` : "Not used by any step"))),
        languagesLine)),
    verdictBox,
    h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(320px, 1fr))", gap: "base" },
      h("s-section", { heading: "Edit" },
        h("s-stack", { direction: "block", gap: "base" },
          kinds.map((kind) => (kind === "sms" ? [editors[kind].box, smsSize] : editors[kind].box)),
          h("s-stack", { direction: "block", gap: "small", id: "template-variables" },
            h("s-heading", {}, "Variables"),
            h("s-text", { tone: "subdued" }, "Click one to insert it where the cursor is."),
            h("s-stack", { direction: "inline", gap: "small" }, variables.map((v) => {
              const variable = typeof v === "string" ? { name: v } : v;
              return h("s-button", { variant: "secondary", "data-variable": variable.name, accessibilityLabel: `Insert ${variable.name}${variable.description ? `: ${variable.description}` : ""}`,
                onclick: () => insert(variable.name) }, `{{ ${variable.name} }}`);
            }))))),
      h("s-section", { heading: "Preview" }, h("s-stack", { direction: "block", gap: "large" }, situation, smsBox, emailBox))));
  await preview();
}

// "152 / 160 · 1 segment · GSM-7"; split: "161 / 306 · 2 segments · GSM-7".
export function smsCounter(sms) {
  const room = sms.per_segment * Math.max(sms.segments, 1);
  return `${sms.length} / ${room} · ${sms.segments} segment${sms.segments === 1 ? "" : "s"} · ${sms.encoding}`;
}

function clean(parts) {
  const out = {};
  for (const [kind, text] of Object.entries(parts)) if (typeof text === "string" && text !== "") out[kind] = text;
  return out;
}

// A text area with line numbers: Polaris has no code editor, so a plain textarea beside a
// gutter (it grows with its text, so the numbers stay beside their lines).
function codeEditor(kind, value, { onInput, onFocus, placeholder }) {
  const id = `part-${kind}`;
  const gutter = h("pre", { class: "gutter", "aria-hidden": "true" });
  const note = h("div", { id: `${id}-errors` });
  const textarea = h("textarea", { id, name: kind, wrap: "off", spellcheck: "false", placeholder, "aria-describedby": `${id}-errors` });
  textarea.value = value;
  let bad = new Set();
  const drawGutter = () => {
    const count = textarea.value.split("\n").length;
    textarea.rows = Math.max(kind === "subject" ? 1 : 4, count) + (kind === "subject" ? 0 : 1);
    replace(gutter, Array.from({ length: count }, (_, i) => (bad.has(i + 1) ? h("span", { class: "bad" }, String(i + 1)) : String(i + 1)))
      .flatMap((n, i) => (i ? ["\n", n] : [n])));
  };
  textarea.addEventListener("input", () => { drawGutter(); onInput(textarea.value); });
  textarea.addEventListener("focus", () => onFocus(textarea));
  const wrap = h("div", { class: "code-editor", "data-path": `parts.${kind}` }, gutter, textarea);
  const box = h("s-stack", { direction: "block", gap: "small-200", "data-part": kind },
    h("label", { for: id }, h("s-text", { type: "strong" }, PART_LABELS[kind] || words(kind))), wrap, note);
  const editor = {
    box, textarea,
    set(text) { textarea.value = text; drawGutter(); },
    mark(errors) {
      bad = new Set(errors.map((e) => e.line).filter(Boolean));
      wrap.classList.toggle("has-error", errors.length > 0);
      if (errors.length) textarea.setAttribute("aria-invalid", "true");
      else textarea.removeAttribute("aria-invalid");
      replace(note, errors.map((e) => h("s-text", { tone: "critical", role: "alert", "data-line": e.line ? String(e.line) : "" },
        e.line ? `Line ${e.line}: ${e.message}` : e.message)));
      drawGutter();
    },
  };
  drawGutter();
  return editor;
}
