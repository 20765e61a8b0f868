// Settings: who reminders come from. The shop's name and contact email are Shopify's (kept
// current by shop/update); the admin chooses where customers' replies go.

import { api, ApiError } from "./api.js";
import { card, h } from "./dom.js";
import { field, showError, showSaved } from "./forms.js";

export function senderCard(data) {
  const replyTo = h("input", { type: "email", name: "reply_to", size: 32, value: data.reply_to || "", placeholder: data.contact_email || "" });
  const facts = h("dl", { class: "facts" },
    h("dt", {}, "From"), h("dd", { id: "sender-from" }, `${data.shop_name} <${data.sender_address || "not configured"}>`),
    h("dt", {}, "Replies go to"), h("dd", { id: "sender-replies" }, data.replies_go_to || "nowhere: set an address below"),
    h("dt", {}, "Shop's time zone"), h("dd", {}, data.timezone || "not known yet"));
  const form = h("form", { id: "sender-form", class: "card-section", novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    try {
      const saved = await api("PUT", "/settings/sender", { reply_to: replyTo.value.trim() || null });
      facts.querySelector("#sender-replies").textContent = saved.replies_go_to || "nowhere: set an address below";
      showSaved(form, saved.reply_to ? "Replies now go to " + saved.reply_to + "." : "Replies go to the shop's contact email.");
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      showError(form, error);
    }
  } },
  field("reply_to", "Reply-to address", replyTo, "Empty: the shop's contact email in Shopify."),
  h("div", { class: "form-status" }),
  h("button", { type: "submit", class: "button button-primary" }, "Save reply-to"));
  return card("Sender", h("p", { class: "muted" }, "Name and contact email come from your Shopify store details."), facts, form);
}
