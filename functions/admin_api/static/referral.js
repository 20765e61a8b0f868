// Settings: when an unpaid case is referred to a collection agency or to legal, and where to.

import { api, ApiError } from "./api.js";
import { card, h, replace } from "./dom.js";
import { field, selectOf, showError, showSaved } from "./forms.js";
import { fromMinor, toMinor } from "./format.js";

const LIMITS = [
  ["agency_minimum", "Refer to an agency from"],
  ["legal_minimum", "Refer to legal from"],
  ["write_off_below", "Write off below"],
];

export function referralCard(data) {
  const state = { version: data.version, policy: structuredClone(data.policy) };
  const form = h("form", { id: "referral-form", novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    try {
      const saved = await api("PUT", "/settings/referral", { version: state.version, policy: state.policy });
      state.version = saved.version;
      showSaved(form, `Saved: version ${saved.version}.`);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      showError(form, error);
    }
  } });
  const thresholds = Object.entries(state.policy.thresholds).map(([currency, limits]) => h("tr", {},
    h("th", { scope: "row" }, currency),
    LIMITS.map(([key]) => h("td", {}, h("div", { class: "field", "data-field": `thresholds.${currency}.${key}` },
      h("input", { type: "text", inputmode: "decimal", size: 10, value: fromMinor(limits[key], currency), "aria-label": `${currency} ${key.replaceAll("_", " ")}`,
        oninput: (e) => { limits[key] = toMinor(e.target.value, currency) ?? e.target.value; } }))))));
  replace(form,
    h("div", { class: "form-status" }),
    h("table", { class: "data-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Currency"), LIMITS.map(([, label]) => h("th", {}, label)))),
      h("tbody", {}, thresholds)),
    h("div", { class: "card-section form-row" },
      field("agency.after_last_step_days", "Days after the last reminder", h("input", { type: "number", min: "1", max: "365", value: state.policy.agency.after_last_step_days,
        oninput: (e) => { state.policy.agency.after_last_step_days = e.target.value === "" ? "" : Number(e.target.value); } })),
      field("tags.agency", "Customer tag (agency)", h("input", { type: "text", value: state.policy.tags.agency, oninput: (e) => { state.policy.tags.agency = e.target.value; } })),
      field("tags.legal", "Customer tag (legal)", h("input", { type: "text", value: state.policy.tags.legal, oninput: (e) => { state.policy.tags.legal = e.target.value; } }))),
    handOver(state.policy.agency, "agency", "Hand over to the agency"),
    handOver(state.policy.legal, "legal", "Hand over to legal"),
    h("div", { class: "card-section" }, h("button", { type: "submit", class: "button button-primary", id: "save-referral" }, "Save referral policy")));
  return card("Referral", form);
}

function handOver(section, kind, title) {
  const box = h("div", { class: "form-row" });
  const draw = () => {
    const current = section.hand_over;
    const channel = current ? current.channel : "none";
    const choose = selectOf(["none", "email", "webhook"], channel, { onchange: (e) => {
      const value = e.target.value;
      section.hand_over = value === "email" ? { channel: "email", address: "", link_expiry_hours: 72 }
        : value === "webhook" ? { channel: "webhook", url: "", secret_ref: "" } : null;
      draw();
    } });
    const path = `${kind}.hand_over`;
    const text = (key, label) => field(`${path}.${key}`, label, h("input", { type: "text", size: 28, value: current[key] ?? "", oninput: (e) => { current[key] = e.target.value.trim(); } }));
    replace(box, field(`${path}.channel`, "By", choose),
      channel === "email" ? [text("address", "Email address"),
        field(`${path}.link_expiry_hours`, "Link valid (hours)", h("input", { type: "number", min: "1", max: "168", value: current.link_expiry_hours,
          oninput: (e) => { current.link_expiry_hours = e.target.value === "" ? "" : Number(e.target.value); } }))] : null,
      channel === "webhook" ? [text("url", "HTTPS URL"), text("secret_ref", "Signing secret's name")] : null);
  };
  draw();
  return h("div", { class: "card-section" }, h("h3", {}, title), box);
}
