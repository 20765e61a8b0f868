// Getting started: what Recoup still needs before it can recover money (each item read live
// by the server), and a test message of any step to the admin's own address or number.

import { api, ApiError } from "./api.js";
import { badge, card, h, humanize, replace } from "./dom.js";
import { field, showError } from "./forms.js";

const LABELS = { done: "Done", todo: "To do", warning: "Needs attention", off: "Off" };
const TONES = { done: "paid", todo: "open", warning: "held", off: "stopped" };
const POLL_MS = 2000;
const POLL_TIMES = 15;

export function onboardingCard(data) {
  const heading = h("h2", {});
  const body = h("div", { id: "onboarding" });
  let polls = 0;

  function draw(state) {
    const done = state.checks.filter((c) => c.status === "done" || c.status === "off").length;
    replace(heading, state.complete ? "Set up: everything is ready" : `Get started · ${done} of ${state.checks.length} done`);
    const list = h("ul", { class: "checklist" }, state.checks.map((check) =>
      h("li", { class: `check check-${check.status}`, "data-check": check.key, "data-status": check.status },
        badge(TONES[check.status], LABELS[check.status]),
        h("div", {}, h("strong", {}, check.title), h("p", { class: "muted" }, check.detail)))));
    replace(body, list, testForm(state));
    const pending = state.test_message && ["queued", "sending"].includes(state.test_message.status);
    if (pending && polls < POLL_TIMES) {
      polls += 1;
      setTimeout(refresh, POLL_MS);
    }
  }

  async function refresh() {
    try {
      draw(await api("GET", "/onboarding"));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
    }
  }

  function testForm(state) {
    const channel = h("select", { name: "channel" },
      h("option", { value: "email" }, "Email"), h("option", { value: "sms" }, "SMS"));
    const step = h("select", { name: "step" }, state.steps.map((s) =>
      h("option", { value: String(s.index) }, `Step ${s.index + 1} · ${humanize(s.tone)}`)));
    const to = h("input", { type: "text", name: "to", autocomplete: "off", size: 28, placeholder: state.reply_to || "you@example.com" });
    const hint = h("span", { class: "muted" }, "Your email, or your mobile number with its country code.");
    channel.addEventListener("change", () => {
      to.placeholder = channel.value === "sms" ? "+1 503 555 0100" : (state.reply_to || "you@example.com");
    });
    const form = h("form", { id: "test-message-form", class: "card-section", novalidate: true, onsubmit: async (e) => {
      e.preventDefault();
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        polls = 0;
        draw(await api("POST", "/test-message", { channel: channel.value, step: Number(step.value), to: to.value.trim() || null }));
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        showError(form, error);
        button.disabled = false;
      }
    } },
    h("h3", {}, "Send yourself a test message"),
    h("p", { class: "muted" }, "Marked as a test, around a sample order; it is on no case and in no figure."),
    h("div", { class: "form-row" },
      field("step", "Step", step), field("channel", "Channel", channel), field("to", "To", to, hint)),
    h("div", { class: "form-status" }),
    h("button", { type: "submit", class: "button button-primary" }, "Send test"),
    state.test_message ? h("p", { class: "muted", "data-test-status": state.test_message.status },
      `Last test: ${humanize(state.test_message.status)}${state.test_message.detail ? ` (${state.test_message.detail})` : ""}.`) : null);
    return form;
  }

  draw(data);
  if (data.complete) {
    // Out of the way once everything is ready; still there for the next test message.
    return card(null, h("details", { class: "onboarding-done" }, h("summary", {}, heading), body));
  }
  return card(null, heading, body);
}
