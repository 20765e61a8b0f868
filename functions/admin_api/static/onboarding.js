// Getting started (/app/onboarding): what Recoup still needs before it can recover money
// (each item read live by the server), and a test message of any step to the admin's own
// address or number.

import { h, replace } from "./dom.js";
import { CHANNELS, TONES } from "./cadence.js";
import { ensureStyles, showFieldError, clearErrors } from "./forms.js";

const LABELS = { done: "Done", todo: "To do", warning: "Needs attention", off: "Off" };
const BADGE_TONES = { done: "success", todo: "caution", warning: "warning", off: "neutral" };
const POLL_MS = 2000;
const POLL_TIMES = 15;

export async function render(root, ctx) {
  ensureStyles(root);
  const page = h("s-page", { heading: "Get started", inlineSize: "small" });
  root.append(page);
  const data = await ctx.api.get("/onboarding");
  if (ctx.api.failed(data)) {
    replace(page, h("s-banner", { tone: "critical", heading: "The checklist could not load" }, data.message));
    return;
  }
  let polls = 0;
  let sending = false;
  const form = { step: String(data.steps[0]?.index ?? 0), channel: "email", to: "" };

  function draw(state) {
    const done = state.checks.filter((c) => c.status === "done" || c.status === "off").length;
    const list = h("s-stack", { direction: "block", gap: "base", id: "onboarding" }, state.checks.map((check) =>
      // The status sits beside the title, so a phone gives the explanation the card's full width.
      h("s-box", { padding: "small", "data-check": check.key, "data-status": check.status },
        h("s-stack", { direction: "block", gap: "small-300" },
          h("s-stack", { direction: "inline", gap: "small", alignItems: "center" },
            h("s-text", { type: "strong" }, check.title),
            h("s-badge", { tone: BADGE_TONES[check.status] || "neutral" }, LABELS[check.status] || check.status)),
          h("s-text", { tone: "subdued" }, check.detail)))));
    replace(page,
      h("s-section", { heading: state.complete ? "Everything is ready" : `${done} of ${state.checks.length} done` }, list),
      testSection(state));
    const pending = state.test_message && ["queued", "sending"].includes(state.test_message.status);
    if (pending && polls < POLL_TIMES) {
      polls += 1;
      setTimeout(refresh, POLL_MS);
    }
  }

  async function refresh() {
    if (!page.isConnected) return;
    const next = await ctx.api.get("/onboarding");
    if (!ctx.api.failed(next)) draw(next);
  }

  function testSection(state) {
    const step = h("s-select", { label: "Step", name: "step", value: form.step },
      state.steps.map((s) => h("s-option", { value: String(s.index), selected: String(s.index) === form.step ? "" : null },
        `Step ${s.index + 1} · ${CHANNELS[s.channel] || s.channel} · ${TONES[s.tone] || s.tone}`)));
    const channel = h("s-select", { label: "Send as", name: "channel", value: form.channel },
      h("s-option", { value: "email", selected: form.channel === "email" ? "" : null }, "Email"),
      h("s-option", { value: "sms", selected: form.channel === "sms" ? "" : null }, "SMS"));
    const placeholder = () => (form.channel === "sms" ? "+1 503 555 0100" : state.reply_to || "you@example.com");
    const to = h("s-text-field", { label: "To", name: "to", value: form.to, placeholder: placeholder(), autocomplete: "off",
      details: "Your email, or your mobile number with its country code.", "data-path": "to" });
    step.addEventListener("change", () => { form.step = step.value; });
    channel.addEventListener("change", () => { form.channel = channel.value; to.setAttribute("placeholder", placeholder()); });
    to.addEventListener("input", () => { form.to = to.value; });
    const send = h("s-button", { variant: "primary", id: "send-test", loading: sending ? "" : null, onclick: async () => {
      clearErrors(box);
      sending = true;
      send.setAttribute("loading", "");
      const answer = await ctx.api.post("/test-message", { channel: form.channel, step: Number(form.step), to: form.to.trim() || null });
      sending = false;
      send.removeAttribute("loading");
      if (ctx.api.failed(answer)) {
        if (!answer.field || !showFieldError(box, answer.field, answer.message)) ctx.toast(answer.message, { error: true });
        return;
      }
      polls = 0;
      ctx.toast("Test message queued");
      draw(answer);
    } }, "Send test");
    const last = state.test_message;
    const box = h("s-section", { heading: "Send yourself a test message", id: "test-message-form" },
      h("s-stack", { direction: "block", gap: "base" },
        h("s-paragraph", {}, "Marked as a test, around a sample order; it is on no case and in no figure."),
        h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(180px, 1fr))", gap: "base" }, step, channel, to),
        h("s-stack", { direction: "inline", gap: "base", alignItems: "center" }, send,
          last ? h("s-text", { tone: "subdued", "data-test-status": last.status },
            `Last test: ${words(last.status)}${last.detail ? ` (${last.detail})` : ""}.`) : null)));
    return box;
  }

  draw(data);
}

function words(value) {
  const text = String(value).replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}
