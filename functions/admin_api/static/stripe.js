// Settings, Stripe: the account that takes the shop's payments (Stripe Connect). Connected,
// pay links open a Checkout Session for what is owed; not connected, the order's own page.
// Connecting and disconnecting act at once: they are not part of the page's save.

import { h, replace } from "./dom.js";

export function stripeSummary(state) {
  return state.connected ? `Connected: ${state.account}.` : "Not connected.";
}

export function stripeSection({ data, ctx, onChange }) {
  const body = h("s-stack", { direction: "block", gap: "base", id: "stripe-connection" });
  const draw = (state) => replace(body, state.connected
    ? [
      h("s-paragraph", {}, "Connected: ", h("s-text", { type: "strong" }, state.account), ". Pay links open a Stripe Checkout page for what the customer still owes."),
      h("s-stack", { direction: "inline" }, h("s-button", { id: "stripe-disconnect", tone: "critical", onclick: () => disconnect(state) }, "Disconnect Stripe")),
    ]
    : [
      h("s-paragraph", {}, "Not connected. Pay links open the Shopify order's own payment page. Connect the Stripe account that takes this shop's payments to offer Stripe Checkout and to match its payment failures to orders."),
      h("s-stack", { direction: "inline" }, h("s-button", { id: "stripe-connect", variant: "primary", onclick: connect }, "Connect Stripe")),
    ]);

  async function connect() {
    const answer = await ctx.api.post("/stripe/connect", {});
    if (ctx.api.failed(answer)) return ctx.toast(answer.message, { error: true });
    window.open(answer.url, "_top"); // Stripe's page cannot load inside the admin's frame
  }

  async function disconnect(state) {
    const sure = await ctx.confirm({
      heading: "Disconnect Stripe?",
      body: `Recoup stops reading ${state.account}'s payments and revokes its access. Pay links go back to the Shopify order's page.`,
      confirmLabel: "Disconnect", tone: "critical",
    });
    if (!sure) return;
    const answer = await ctx.api.post("/stripe/disconnect", {});
    if (ctx.api.failed(answer)) return ctx.toast(answer.message, { error: true });
    ctx.toast("Stripe disconnected");
    draw(answer);
    onChange?.(answer);
  }

  draw(data);
  return body;
}
