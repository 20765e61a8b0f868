// Settings: the Stripe account that takes the shop's payments (Stripe Connect). Connected,
// pay links open a Checkout Session for what is owed; not connected, the order's own page.

import { api, ApiError } from "./api.js";
import { banner, card, h, replace } from "./dom.js";

export function stripeCard(data) {
  const body = h("div", { id: "stripe-connection" });
  const draw = (state, message = null) => replace(body,
    message ? banner(message.tone, message.text) : null,
    state.connected
      ? [
        h("p", {}, "Connected: ", h("code", {}, state.account), ". Pay links open a Stripe Checkout page for what the customer still owes."),
        h("button", { type: "button", class: "button", id: "stripe-disconnect", onclick: disconnect }, "Disconnect Stripe"),
      ]
      : [
        h("p", {}, "Not connected. Pay links open the Shopify order's own payment page; connect the Stripe account that takes this shop's payments to offer Stripe Checkout and to match its payment failures to orders."),
        h("button", { type: "button", class: "button button-primary", id: "stripe-connect", onclick: connect }, "Connect Stripe"),
      ]);

  async function connect() {
    try {
      const { url } = await api("POST", "/stripe/connect");
      window.open(url, "_top"); // Stripe's page cannot load inside the admin's frame
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      draw(data, { tone: "warning", text: error.message });
    }
  }

  async function disconnect() {
    if (!window.confirm(`Disconnect ${data.account}? Recoup stops reading its payments and revokes its access.`)) return;
    try {
      data = await api("POST", "/stripe/disconnect");
      draw(data, { tone: "success", text: "Stripe disconnected." });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      draw(data, { tone: "critical", text: error.message });
    }
  }

  draw(data);
  return card("Stripe", body);
}
