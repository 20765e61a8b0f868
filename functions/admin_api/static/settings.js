// Settings: the reminder cadence (step by step, with a live preview of each message), quiet
// hours, the weekly cap and minimum amounts; the fraud check's thresholds and rules; the
// referral policy. Every save is checked by the server; its errors appear beside the field.

import { api, ApiError } from "./api.js";
import { badge, card, h, humanize, replace } from "./dom.js";
import { field, selectOf, showError, showSaved } from "./forms.js";
import { fromMinor, toMinor } from "./format.js";
import { referralCard } from "./referral.js";
import { senderCard } from "./sender.js";
import { stripeCard } from "./stripe.js";

export async function renderSettings(view) {
  const [reminders, fraud, referral, stripe, sender] = await Promise.all([
    api("GET", "/settings/reminders"),
    api("GET", "/settings/fraud"),
    api("GET", "/settings/referral").catch((error) => {
      if (error instanceof ApiError && error.status === 404) return null;
      throw error;
    }),
    api("GET", "/stripe"),
    api("GET", "/settings/sender"),
  ]);
  replace(view,
    h("div", { class: "page-header" }, h("h1", {}, "Settings")),
    h("div", { class: "layout" }, stripeCard(stripe), senderCard(sender), remindersCard(reminders), fraudCard(fraud), referral ? referralCard(referral) : null));
}

// ------------------------------------------------------------------ reminders

function remindersCard(data) {
  const state = { version: data.version, policy: structuredClone(data.policy) };
  const stepsBox = h("div", { id: "steps" });
  const form = h("form", { id: "reminders-form", novalidate: true, onsubmit: (e) => { e.preventDefault(); save(); } });

  function drawSteps() {
    replace(stepsBox, state.policy.steps.map((step, index) => stepEditor(step, index)),
      h("button", { type: "button", class: "button", id: "add-step", disabled: state.policy.steps.length >= data.limits.steps[1], onclick: () => {
        const last = state.policy.steps[state.policy.steps.length - 1];
        state.policy.steps.push({ ...last, delay: "3d", anchor: "previous", tone: last.tone === "final_notice" ? "firm" : last.tone });
        drawSteps();
      } }, "Add step"));
  }

  function stepEditor(step, index) {
    const path = `steps[${index}]`;
    const [amount, unit] = splitDelay(step.delay);
    const preview = h("div", { class: "preview", "data-preview": index });
    const refresh = debounce(() => drawPreview(preview, step, index), 300);
    const set = (key, value) => { step[key] = value; refresh(); };
    const number = h("input", { type: "number", min: "0", step: "1", value: amount, "aria-label": `Step ${index + 1} delay`, name: `delay-${index}`,
      oninput: (e) => set("delay", `${e.target.value}${unitSelect.value}`) });
    const unitSelect = h("select", { "aria-label": `Step ${index + 1} delay unit`, onchange: (e) => set("delay", `${number.value}${e.target.value}`) },
      h("option", { value: "h", selected: unit === "h" }, "hours"), h("option", { value: "d", selected: unit === "d" }, "days"));
    const delayField = h("div", { class: "field", "data-field": `${path}.delay` },
      h("span", { class: "label" }, "Delay"), h("div", { class: "form-row" }, number, unitSelect));
    const move = (to) => {
      const [moved] = state.policy.steps.splice(index, 1);
      state.policy.steps.splice(to, 0, moved);
      drawSteps();
    };
    const box = h("div", { class: "step", "data-step": index },
      h("div", { class: "step-head" }, h("h3", {}, `Step ${index + 1}`),
        h("div", { class: "button-group" },
          h("button", { type: "button", class: "button", "aria-label": `Move step ${index + 1} up`, disabled: index === 0, onclick: () => move(index - 1) }, "↑"),
          h("button", { type: "button", class: "button", "aria-label": `Move step ${index + 1} down`, disabled: index === state.policy.steps.length - 1, onclick: () => move(index + 1) }, "↓"),
          h("button", { type: "button", class: "button", "aria-label": `Remove step ${index + 1}`, disabled: state.policy.steps.length <= data.limits.steps[0],
            onclick: () => { state.policy.steps.splice(index, 1); drawSteps(); } }, "Remove"))),
      h("div", { class: "form-row" },
        delayField,
        field(`${path}.anchor`, "Counted from", selectOf(data.choices.anchor, step.anchor, { onchange: (e) => set("anchor", e.target.value) })),
        field(`${path}.channel`, "Channel", selectOf(data.choices.channel, step.channel, { onchange: (e) => set("channel", e.target.value) })),
        field(`${path}.template`, "Template", h("input", { type: "text", value: step.template, size: 14, oninput: (e) => set("template", e.target.value.trim()) })),
        field(`${path}.tone`, "Tone", selectOf(data.choices.tone, step.tone, { onchange: (e) => set("tone", e.target.value) })),
        h("div", { class: "field", "data-field": `${path}.pay_link` }, h("span", { class: "label" }, "Pay link"),
          h("label", { class: "checkbox" }, h("input", { type: "checkbox", checked: step.pay_link, onchange: (e) => set("pay_link", e.target.checked) }), "Include"))),
      preview);
    drawPreview(preview, step, index);
    return box;
  }

  const quiet = state.policy.quiet_hours;
  const minimums = h("div", { id: "minimums" });
  function drawMinimums() {
    const entries = Object.entries(state.policy.min_amount);
    replace(minimums, entries.map(([currency, minor]) => h("div", { class: "form-row", style: "margin-bottom:8px" },
      field(`min_amount.${currency}`, `Minimum (${currency})`, h("input", { type: "text", inputmode: "decimal", value: fromMinor(minor, currency), size: 10,
        oninput: (e) => { const value = toMinor(e.target.value, currency); state.policy.min_amount[currency] = value ?? e.target.value; } })),
      h("button", { type: "button", class: "button button-plain", onclick: () => { delete state.policy.min_amount[currency]; drawMinimums(); } }, `Remove ${currency}`))),
    h("div", { class: "form-row" },
      h("input", { type: "text", id: "new-currency", placeholder: "EUR", size: 4, maxlength: 3, "aria-label": "Currency code" }),
      h("button", { type: "button", class: "button", onclick: () => {
        const code = document.getElementById("new-currency").value.trim().toUpperCase();
        if (code && !(code in state.policy.min_amount)) { state.policy.min_amount[code] = 0; drawMinimums(); }
      } }, "Add a minimum")));
  }

  async function save() {
    try {
      const saved = await api("PUT", "/settings/reminders", { version: state.version, policy: state.policy });
      state.version = saved.version;
      state.policy = structuredClone(saved.policy);
      drawSteps();
      drawMinimums();
      showSaved(form, `Saved: version ${saved.version}.`);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      showError(form, error);
    }
  }

  drawSteps();
  drawMinimums();
  replace(form,
    h("div", { class: "form-status" }),
    h("h3", {}, "Steps"), stepsBox,
    h("div", { class: "card-section" }, h("h3", {}, "When and how often"),
      h("div", { class: "form-row" },
        field("quiet_hours.start", "Quiet from", h("input", { type: "time", value: quiet.start, oninput: (e) => { quiet.start = e.target.value; } })),
        field("quiet_hours.end", "Quiet until", h("input", { type: "time", value: quiet.end, oninput: (e) => { quiet.end = e.target.value; } })),
        field("timezone_rule", "In the time zone of the", selectOf(data.choices.timezone_rule, state.policy.timezone_rule, { onchange: (e) => { state.policy.timezone_rule = e.target.value; } })),
        field("shop_timezone", "Shop time zone", h("input", { type: "text", value: state.policy.shop_timezone, size: 18, oninput: (e) => { state.policy.shop_timezone = e.target.value.trim(); } })),
        field("weekly_cap", "At most, per customer per 7 days", h("input", { type: "number", min: String(data.limits.weekly_cap[0]), max: String(data.limits.weekly_cap[1]), value: state.policy.weekly_cap,
          oninput: (e) => { state.policy.weekly_cap = e.target.value === "" ? "" : Number(e.target.value); } }), "messages"))),
    h("div", { class: "card-section", "data-field": "min_amount" }, h("h3", {}, "Minimum amounts worth chasing"), minimums),
    h("div", { class: "card-section button-group" },
      h("button", { type: "submit", class: "button button-primary", id: "save-reminders" }, "Save reminders"),
      h("span", { class: "muted" }, `Version ${state.version || "default"}`)));
  return card("Reminders", form);
}

function splitDelay(delay) {
  const match = /^(\d+)([hd])$/.exec(delay || "");
  return match ? [match[1], match[2]] : ["", "d"];
}

async function drawPreview(box, step, index) {
  try {
    const shown = await api("POST", "/preview", { step, index });
    const parts = [];
    if (shown.email) {
      parts.push(h("div", {}, h("strong", {}, "Email: "), shown.email.subject));
      // sandbox="" : the email's HTML cannot run scripts, submit forms or navigate the page.
      parts.push(h("iframe", { sandbox: "", title: `Step ${index + 1} email preview`, srcdoc: shown.email.html }));
      if (shown.email.override_error) parts.push(h("p", { class: "field-error" }, shown.email.override_error));
    }
    if (shown.sms) {
      parts.push(h("div", {}, h("strong", {}, "SMS")), h("div", { class: "sms-bubble", "data-sms": index }, shown.sms.body));
    }
    replace(box, parts);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    replace(box, h("p", { class: "muted" }, `No preview: ${error.message}`));
  }
}

function debounce(fn, ms) {
  let timer = null;
  return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
}

// ------------------------------------------------------------------ fraud

function fraudCard(data) {
  const settings = structuredClone(data.settings);
  const form = h("form", { id: "fraud-form", novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    try {
      const saved = await api("PUT", "/settings/fraud", { version: data.version, settings });
      data.version = saved.version;
      showSaved(form, `Saved: version ${saved.version}.`);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      showError(form, error);
    }
  } });
  const number = (value, attrs, set) => h("input", { type: "number", value, ...attrs, oninput: (e) => set(e.target.value === "" ? "" : Number(e.target.value)) });
  const rows = data.rules.map((rule) => {
    const weight = rule.name in settings.weights ? settings.weights[rule.name] : rule.weight;
    return h("tr", { "data-rule": rule.name },
      h("td", {}, h("strong", {}, humanize(rule.name)), h("div", { class: "muted" }, rule.description)),
      h("td", {}, rule.reason),
      h("td", {}, h("div", { class: "field", "data-field": `weights.${rule.name}` },
        number(weight, { min: "-100", max: "100", "aria-label": `Weight of ${rule.name}` }, (value) => {
          if (value === rule.weight) delete settings.weights[rule.name];
          else settings.weights[rule.name] = value;
        }))),
      h("td", {}, rule.locked
        ? badge("high", "Always on")
        : h("label", { class: "checkbox" }, h("input", { type: "checkbox", checked: !settings.disabled.includes(rule.name), "aria-label": `Use ${rule.name}`,
          onchange: (e) => {
            settings.disabled = settings.disabled.filter((n) => n !== rule.name);
            if (!e.target.checked) settings.disabled.push(rule.name);
          } }), "On")));
  });
  replace(form,
    h("div", { class: "form-status" }),
    h("div", { class: "form-row" },
      field("thresholds.review", "Hold for review at score", number(settings.thresholds.review, { min: "1", max: "100" }, (v) => { settings.thresholds.review = v; })),
      field("thresholds.high", "Flag as fraud at score", number(settings.thresholds.high, { min: "1", max: "100" }, (v) => { settings.thresholds.high = v; })),
      field("min_confidence", "Minimum confidence", number(settings.min_confidence, { min: "0", max: "1", step: "0.05" }, (v) => { settings.min_confidence = v; }),
        "Below it, a low score is held for review")),
    h("div", { class: "card-section", "data-field": "disabled" },
      h("table", { class: "data-table", id: "rules" },
        h("thead", {}, h("tr", {}, ["Rule", "Reason given", "Weight", "Use"].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows)),
      settings.rules.length ? h("p", { class: "muted" }, `${settings.rules.length} rules of your own are kept as they are.`) : null),
    h("div", { class: "card-section" }, h("button", { type: "submit", class: "button button-primary", id: "save-fraud" }, "Save fraud settings")));
  return card("Fraud check", form);
}
