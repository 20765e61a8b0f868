// Settings, Sender: who reminders come from. The shop's name and contact email are
// Shopify's (kept current by shop/update); the admin chooses where customers' replies go.

import { h } from "./dom.js";
import { bound } from "./forms.js";

export function senderSummary(sender) {
  return `From ${sender.shop_name} <${sender.sender_address || "not configured"}>; replies to ${sender.replies_go_to || "nowhere yet"}.`;
}

export function senderSection({ meta, draft, edit }) {
  return h("s-stack", { direction: "block", gap: "base" },
    h("s-paragraph", { id: "sender-from" }, `From: ${meta.shop_name} <${meta.sender_address || "not configured"}>. Name and contact email come from your Shopify store details.`),
    h("s-paragraph", { id: "sender-replies" }, `Replies go to: ${meta.replies_go_to || "nowhere: set an address below"}.`),
    bound("s-email-field", { path: "sender.reply_to", label: "Reply-to address", value: draft.reply_to || "", placeholder: meta.contact_email || "",
      details: "Empty: the shop's contact email in Shopify.", read: (v) => v.trim() || null, onEdit: edit }));
}
