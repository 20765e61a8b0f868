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
from recoup.domain.money import Money
from recoup.errors import ConfigurationError
from recoup.services.reminders import REFERRAL_NOTICE
from recoup.settings import get_settings
from recoup.store import cases as case_store
from recoup.store import policies, shops
from recoup.store.models import ShopItem

_STEP_KEYS = ("delay", "anchor", "channel", "template", "tone", "pay_link")
SAMPLE_ORDER = "#1001"
SAMPLE_CUSTOMER = "Alex"
SAMPLE_CURRENCY = "USD"


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
    currency = _shop_currency(shop)
    try:
        base = get_settings().public_base_url()
    except ConfigurationError:
        base = f"https://{shop}"
    return render.MessageContext(
        shop_name=(item.shop_name if item else None) or shop,
        shop_email=item.contact_email if item else None,
        shop_url=f"https://{shop}",
        brand_color=(item.brand_color if item else None) or render.DEFAULT_BRAND_COLOR,
        logo_url=item.logo_url if item else None,
        customer_first_name=SAMPLE_CUSTOMER,
        locale=(item.locale if item else None) or "en",
        order_name=SAMPLE_ORDER,
        items=(
            render.ItemLine("Wireless headphones", 1, Money.parse("199", currency)),
            render.ItemLine("USB-C cable", 2, Money.parse("25", currency)),
        ),
        amount_owed=Money.parse("249", currency),
        order_total=Money.parse("249", currency),
        pay_url=f"https://{shop}/pay/sample" if step.pay_link else None,
        unsubscribe_url=f"{base}/unsubscribe?t=sample",
        step_number=number,
        tone=str(step.tone),
        referral_date=(now + REFERRAL_NOTICE).date()
        if step.tone is cadence.Tone.FINAL_NOTICE
        else None,
    )


def _shop_currency(shop: str) -> str:
    """The currency of the shop's first case, so the sample looks like its orders."""
    for stored in case_store.tracked_cases(shop, page_size=1):
        owed = stored.case.amount_owed or stored.case.recovered
        if owed is not None:
            return owed.currency
        break
    return SAMPLE_CURRENCY
