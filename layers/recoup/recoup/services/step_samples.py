"""One step of a shop's reminders around a sample order: rendered for the settings page's
preview, or sent as a test message to the admin's own address or number.

The shop's own name, branding, locale and template overrides are rendered exactly as the
sender renders them (`recoup.channels.render`): no customer's data is shown. A test message
is checked, counted and queued by `services.sample_sends`; the answer is the getting-started
checklist, which shows how it went.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from recoup.domain import cadence, template_overrides
from recoup.domain.fields import FieldError, check_keys, is_int, object_at
from recoup.domain.payment_situation import SITUATIONS, Situation
from recoup.errors import ConfigurationError, InvalidInput
from recoup.links import SAMPLE_TOKEN
from recoup.services import message_templates, onboarding, sample_sends
from recoup.settings import get_settings
from recoup.store import policies, shops
from recoup.store.models import ShopItem

if TYPE_CHECKING:
    from recoup.channels import render

_STEP_KEYS = ("delay", "anchor", "channel", "template", "tone", "pay_link")


@dataclass(frozen=True, slots=True)
class StepPreview:
    channel: cadence.Channel
    email: render.RenderedEmail | None
    sms: render.RenderedSms | None


@dataclass(frozen=True, slots=True)
class SampleRequest:
    """The test message the admin asked for; `sample_sends.request` checks each value."""

    channel: object
    step: object
    to: object


def preview(shop: str, request: Mapping[str, Any], *, now: datetime) -> StepPreview:
    """`{"step": {...}}` (a step as edited, `index` optional: its position) or `{"index": n}`
    (the stored policy's step n), with `situation` optional: the payment situation to word it
    for (payment_failed unless given). Raises InvalidInput naming the field."""
    # Jinja2 and babel for the preview alone: the admin's other pages render nothing.
    from recoup.channels import render

    try:
        return _render(shop, request, now)
    except FieldError as exc:
        raise InvalidInput(exc.message, field=exc.field) from None
    except render.MessageTooLong as exc:
        raise InvalidInput(str(exc), field="step", code="message_too_long") from None


def send_test(shop: str, message: SampleRequest, *, now: datetime) -> dict[str, Any]:
    """Queue one test message; the getting-started checklist with it as queued."""
    sample_sends.request(shop, channel=message.channel, step=message.step, to=message.to, now=now)
    return onboarding.checklist(shop)


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


def _render(shop: str, request: Mapping[str, Any], now: datetime) -> StepPreview:
    from recoup.channels import i18n, render

    check_keys(request, "", (), ("step", "index", "situation"), cadence.PolicyError)
    situation = _situation(request.get("situation", str(Situation.PAYMENT_FAILED)))
    item = shops.get(shop)
    index, step = _chosen_step(shop, item, request)
    problem = cadence.template_problem(step, max(index, 0), message_templates.available(item))
    if problem is not None:
        # Never the shipped words in place of a template the shop does not have.
        field = "step.template" if "step" in request else "index"
        raise InvalidInput(problem.message, field=field, code="unknown_template")
    ctx = sample_message_context(shop, item, step, max(index, 0) + 1, now, situation=situation)
    parts = template_overrides.parts_for(
        item.templates if item else None, step.template, i18n.language_for(ctx.locale)
    )
    email = sms = None
    if step.channel in (cadence.Channel.EMAIL, cadence.Channel.EMAIL_THEN_SMS):
        override = render.EmailOverride(
            subject=parts.get("subject"), html=parts.get("html"), text=parts.get("text")
        )
        email = render.render_email(ctx, override)
    if step.channel in (cadence.Channel.SMS, cadence.Channel.EMAIL_THEN_SMS):
        sms = render.render_sms(ctx, parts.get("sms"))
    return StepPreview(step.channel, email, sms)


def _situation(raw: object) -> Situation:
    """The payment situation a preview is worded for, one of `payment_situation.SITUATIONS`."""
    if not isinstance(raw, str) or raw not in SITUATIONS:
        raise cadence.PolicyError("situation", f"must be one of {', '.join(SITUATIONS)}")
    return Situation(raw)


def _chosen_step(
    shop: str, item: ShopItem | None, request: Mapping[str, Any]
) -> tuple[int, cadence.Step]:
    """The step to render and its position (-1: none given)."""
    raw_index = request.get("index")
    index = raw_index if isinstance(raw_index, int) and is_int(raw_index) else -1
    if "step" in request:
        step = parse_step(request["step"])
        if raw_index is not None and not 0 <= index < cadence.MAX_STEPS:
            raise cadence.PolicyError("index", f"must be 0 to {cadence.MAX_STEPS - 1}")
        return index, step
    policy = policies.load(shop, shop_timezone=(item.timezone if item else None) or "UTC")
    if not 0 <= index < len(policy.steps):
        raise cadence.PolicyError(
            "index", f"must be a step of the saved policy, 0 to {len(policy.steps) - 1}"
        )
    return index, policy.steps[index]


def sample_message_context(
    shop: str,
    item: ShopItem | None,
    step: cadence.Step,
    number: int,
    now: datetime,
    *,
    situation: Situation = Situation.PAYMENT_FAILED,
) -> render.MessageContext:
    """Step `number` (from 1) around the sample order, with the links a preview shows,
    worded for `situation` (with the sample payment terms when its words state them)."""
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
        situation=situation,
    )
