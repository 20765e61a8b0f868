// Notifications (/app/notifications): where Recoup tells the merchant about cases waiting for
// them (held for review, awaiting a fraud decision or escalation, new referrals): a daily
// digest at a chosen hour and/or a message at once. Saved through the contextual save bar.

import { h, replace } from "./dom.js";
import { bound, clearErrors, ensureStyles, optionList, same, showFieldError } from "./forms.js";

const HOURS = Array.from({ length: 24 }, (_, hour) => [String(hour), `${String(hour).padStart(2, "0")}:00`]);

export async function render(root, ctx) {
  ensureStyles(root);
  const page = h("s-page", { heading: "Notifications", inlineSize: "small" });
  root.append(page);
  const loaded = await ctx.api.get("/settings/notifications");
  if (ctx.api.failed(loaded)) {
    replace(page, h("s-banner", { tone: "critical", heading: "Notifications could not load" }, loaded.message));
    return;
  }
  let version = loaded.version;
  let saved = structuredClone(loaded.notifications);
  let draft = structuredClone(saved);
  const status = h("div", { id: "notifications-status" });

  const edit = (path, value) => {
    draft[path.replace(/^notifications\./, "")] = value;
    root.querySelector(`[data-path="${CSS.escape(path)}"]`)?.removeAttribute("error");
    if (same(saved, draft)) ctx.saveBar.hide();
    else ctx.saveBar.show({ onSave: save, onDiscard: discard });
  };

  function draw() {
    replace(page, status,
      h("s-section", { heading: "Cases waiting for you" },
        h("s-stack", { direction: "block", gap: "base" },
          h("s-paragraph", {}, "Recoup writes when a case needs your decision: held for review, awaiting a fraud decision or an escalation, or referred since the last digest. Each links to the case."),
          bound("s-email-field", { path: "notifications.email", label: "Send to", value: draft.email || "", placeholder: "you@example.com",
            details: "Empty: no notifications are sent.", read: (v) => v.trim() || null, onEdit: edit }),
          bound("s-checkbox", { path: "notifications.daily_digest", label: "A daily digest", value: draft.daily_digest, onEdit: edit }),
          bound("s-select", { path: "notifications.hour", label: "Digest sent at (shop's time)", value: String(draft.hour), read: Number, onEdit: edit },
            optionList(HOURS, String(draft.hour))),
          bound("s-checkbox", { path: "notifications.immediate", label: "An email at once when a case starts waiting", value: draft.immediate, onEdit: edit }))));
  }

  async function save() {
    clearErrors(root);
    replace(status);
    const answer = await ctx.api.put("/settings/notifications", { version, notifications: draft });
    if (ctx.api.failed(answer)) {
      if (answer.status === 409) {
        // Someone saved meanwhile: keep these edits, take the new version, show what is stored.
        const current = answer.body?.current?.notifications || (await ctx.api.get("/settings/notifications"));
        if (!ctx.api.failed(current) && current.version !== undefined) {
          version = current.version;
          saved = structuredClone(current.notifications);
        }
        replace(status, h("s-banner", { tone: "warning", heading: "Someone else saved notifications meanwhile" },
          "Your choices are still on the page. Save again to keep them, or discard to see what is saved now."));
        ctx.toast("Not saved: changed elsewhere", { error: true });
        return false;
      }
      const field = answer.field ? `notifications.${String(answer.field).replace(/^notifications\./, "")}` : null;
      if (!field || !showFieldError(root, field, answer.message)) {
        replace(status, h("s-banner", { tone: "critical", heading: "Not saved" }, answer.message));
      }
      ctx.toast("Not saved", { error: true });
      return false;
    }
    version = answer.version;
    saved = structuredClone(answer.notifications);
    draft = structuredClone(saved);
    draw();
    ctx.toast("Notifications saved");
    return true;
  }

  function discard() {
    draft = structuredClone(saved);
    clearErrors(root);
    replace(status);
    draw();
  }

  draw();
}
