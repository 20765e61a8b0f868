// Settings, Fraud check: when an order is held for review or flagged, and which rules count
// (their weights and switches folded away until asked for).

import { h } from "./dom.js";
import { asNumber, bound, foldable, words } from "./forms.js";

export function fraudSummary(settings) {
  return `Held for review from score ${settings.thresholds.review}, flagged as fraud from ${settings.thresholds.high}.`;
}

export function fraudSection({ meta, draft, edit }) {
  const settings = draft.settings;
  const rules = meta.rules || [];
  const ruleRows = rules.map((rule) => {
    const weight = rule.name in settings.weights ? settings.weights[rule.name] : rule.weight;
    const setWeight = (_, value) => {
      const weights = { ...settings.weights };
      if (value === rule.weight || value === "") delete weights[rule.name];
      else weights[rule.name] = value;
      edit("fraud.weights", weights);
    };
    const setOn = (_, on) => {
      const disabled = settings.disabled.filter((n) => n !== rule.name);
      if (!on) disabled.push(rule.name);
      edit("fraud.disabled", disabled);
    };
    return h("s-table-row", { "data-rule": rule.name },
      h("s-table-cell", {}, h("s-stack", { direction: "block" }, h("s-text", { type: "strong" }, words(rule.name)), h("s-text", { tone: "subdued" }, rule.description))),
      h("s-table-cell", {}, bound("s-number-field", { path: `fraud.weights.${rule.name}`, label: `Weight of ${words(rule.name)}`,
        labelAccessibilityVisibility: "exclusive", value: weight, min: "-100", max: "100", read: asNumber, onEdit: setWeight })),
      h("s-table-cell", {}, rule.locked
        ? h("s-badge", { tone: "info" }, "Always on")
        : bound("s-checkbox", { path: `fraud.disabled.${rule.name}`, label: "On", value: !settings.disabled.includes(rule.name), onEdit: setOn })));
  });
  const fold = foldable({ id: "fraud-rules", summary: "the fraud rules", label: `Show the ${rules.length} rules`,
    body: h("s-table", { id: "rules", "data-path": "fraud.disabled" },
      h("s-table-header-row", {}, h("s-table-header", {}, "Rule"), h("s-table-header", { format: "numeric" }, "Weight"), h("s-table-header", {}, "Use")),
      h("s-table-body", {}, ruleRows)) });
  return h("s-stack", { direction: "block", gap: "base" },
    h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(180px, 1fr))", gap: "base" },
      bound("s-number-field", { path: "fraud.thresholds.review", label: "Hold for review from score", value: settings.thresholds.review, min: "1", max: "100", read: asNumber, onEdit: edit }),
      bound("s-number-field", { path: "fraud.thresholds.high", label: "Flag as fraud from score", value: settings.thresholds.high, min: "1", max: "100", read: asNumber, onEdit: edit }),
      bound("s-number-field", { path: "fraud.min_confidence", label: "Minimum confidence", value: settings.min_confidence, min: "0", max: "1", step: "0.05",
        read: asNumber, onEdit: edit, details: "Below it, a low score is held for review" })),
    h("s-stack", { direction: "inline", gap: "base", alignItems: "center" },
      h("s-text", { tone: "subdued" }, `${rules.length} rules, ${settings.disabled.length} switched off${settings.rules.length ? `, ${settings.rules.length} of your own kept as they are` : ""}.`),
      fold.toggle),
    fold.body);
}
