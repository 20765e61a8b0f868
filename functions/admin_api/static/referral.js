// Settings, Referral: when an unpaid case goes to a collection agency or to legal, to whom,
// and below which amount it is written off instead.

import { h } from "./dom.js";
import { asNumber, bound, optionList } from "./forms.js";
import { fromMinor, toMinor } from "./format.js";

const LIMITS = [
  ["agency_minimum", "Refer to an agency from"],
  ["legal_minimum", "Refer to legal from"],
  ["write_off_below", "Write off below"],
];
const HAND_OVER = [["none", "Not handed over"], ["email", "By email"], ["webhook", "By webhook"]];

export function referralSummary(policy) {
  const currencies = Object.keys(policy.thresholds || {});
  return `Agency ${policy.agency.after_last_step_days} days after the last reminder${currencies.length ? `; limits in ${currencies.join(", ")}` : ""}.`;
}

export function referralSection({ draft, edit, redraw }) {
  const policy = draft.policy;
  const thresholds = Object.entries(policy.thresholds).map(([currency, limits]) =>
    h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(160px, 1fr))", gap: "base" },
      LIMITS.map(([key, label]) => bound("s-text-field", { path: `referral.thresholds.${currency}.${key}`, label: `${label} (${currency})`,
        value: fromMinor(limits[key], currency), read: (text) => toMinor(text, currency) ?? text, onEdit: edit }))));
  return h("s-stack", { direction: "block", gap: "base" },
    thresholds,
    h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(180px, 1fr))", gap: "base" },
      bound("s-number-field", { path: "referral.agency.after_last_step_days", label: "Days after the last reminder", value: policy.agency.after_last_step_days,
        min: "1", max: "365", read: asNumber, onEdit: edit }),
      bound("s-text-field", { path: "referral.tags.agency", label: "Customer tag (agency)", value: policy.tags.agency, onEdit: edit }),
      bound("s-text-field", { path: "referral.tags.legal", label: "Customer tag (legal)", value: policy.tags.legal, onEdit: edit })),
    handOver(policy.agency, "agency", "Hand over to the agency", edit, redraw),
    handOver(policy.legal, "legal", "Hand over to legal", edit, redraw));
}

function handOver(section, kind, title, edit, redraw) {
  const path = `referral.${kind}.hand_over`;
  const current = section.hand_over;
  const channel = current ? current.channel : "none";
  const choose = bound("s-select", { path: `${path}.channel`, label: title, value: channel, onEdit: (_, value) => {
    edit(path, value === "email" ? { channel: "email", address: "", link_expiry_hours: 72 }
      : value === "webhook" ? { channel: "webhook", url: "", secret_ref: "" } : null);
    redraw();
  } }, optionList(HAND_OVER, channel));
  const text = (key, label) => bound("s-text-field", { path: `${path}.${key}`, label, value: current[key] ?? "", onEdit: edit });
  return h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(180px, 1fr))", gap: "base" }, choose,
    channel === "email" ? [text("address", "Email address"),
      bound("s-number-field", { path: `${path}.link_expiry_hours`, label: "Link valid (hours)", value: current.link_expiry_hours, min: "1", max: "168", read: asNumber, onEdit: edit })] : null,
    channel === "webhook" ? [text("url", "HTTPS URL"), text("secret_ref", "Signing secret's name")] : null);
}


