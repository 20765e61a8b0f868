"""Render one reminder step as the customer will see it, for the settings page's preview.

The shop's own name, branding, locale and template overrides, rendered exactly as the sender
renders them (`recoup.channels.render`), around a sample order: no customer's data is shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from recoup.channels import render
from recoup.domain import cadence
from recoup.domain.fields import check_keys, is_int, object_at
from recoup.errors import ConfigurationError
from recoup.links import SAMPLE_TOKEN
from recoup.services import sample_sends
from recoup.settings import get_settings
from recoup.store import policies, shops
from recoup.store.models import ShopItem

_STEP_KEYS = ("delay", "anchor", "channel", "template", "tone", "pay_link")


def render_step(shop: str, request: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """`{"step": {...}}` (a step as edited, `index` optional: its position) or `{"index": n}`
    (the stored policy's step n). Raises `cadence.PolicyError` naming the field."""
    check_keys(request, "", (), ("step", "index"), cadence.PolicyError)
    item = shops.get(shop)
    raw_index = request.get("index")
    index = raw_index if isinstance(raw_index, int) and is_int(raw_index) else -1
    if "step" in request:
        step = parse_step(request["step"])
        if raw_index is not None and not 0 <= index < cadence.MAX_STEPS:
            raise cadence.PolicyError("index", f"must be 0 to {cadence.MAX_STEPS - 1}")
    else:
        policy = policies.load(shop, shop_timezone=(item.timezone if item else None) or "UTC")
        if not 0 <= index < len(policy.steps):
            raise cadence.PolicyError(
                "index", f"must be a step of the saved policy, 0 to {len(policy.steps) - 1}"
            )
        step = policy.steps[index]
    ctx = _context(shop, item, step, max(index, 0) + 1, now)
    parts = ((item.templates or {}) if item else {}).get(step.template) or {}
    out: dict[str, Any] = {"channel": str(step.channel), "email": None, "sms": None}
    if step.channel in (cadence.Channel.EMAIL, cadence.Channel.EMAIL_THEN_SMS):
        override = render.EmailOverride(
            subject=parts.get("subject"), html=parts.get("html"), text=parts.get("text")
        )
        email = render.render_email(ctx, override)
        out["email"] = {
            "subject": email.subject,
            "html": email.html,
            "text": email.text,
            "template": email.template,
            "override_error": email.override_error,
        }
    if step.channel in (cadence.Channel.SMS, cadence.Channel.EMAIL_THEN_SMS):
        sms = render.render_sms(ctx, parts.get("sms"))
        out["sms"] = {
            "body": sms.body,
            "template": sms.template,
            "override_error": sms.override_error,
        }
    return out


def parse_step(raw: object) -> cadence.Step:
    """One step as the policy's JSON holds it; errors name "step.<field>"."""
    obj = object_at(raw, "step", cadence.PolicyError)
    check_keys(obj, "step", _STEP_KEYS, (), cadence.PolicyError)
    try:
        return cadence.Step(
            delay=cadence.parse_delay(obj["delay"]),
            anchor=obj["anchor"],
            channel=obj["channel"],
            template=obj["template"],
            tone=obj["tone"],
            pay_link=obj["pay_link"],
        )
    except cadence.PolicyError as exc:
        raise exc.under("step") from None


def _context(
    shop: str, item: ShopItem | None, step: cadence.Step, number: int, now: datetime
) -> render.MessageContext:
    try:
        base = get_settings().public_base_url()
    except ConfigurationError:
        base = f"https://{shop}"
    return sample_sends.sample_context(
        shop,
        item,
        step,
        number,
        now,
        pay_url=f"{base}/pay/{SAMPLE_TOKEN}" if step.pay_link else None,
        unsubscribe_url=f"{base}/unsubscribe?t={SAMPLE_TOKEN}",
    )
