"""The words of each reminder a case was sent, for its case file: re-rendered, not stored.

Why re-render: the sender records, per message, the step, channel, time, template, amount
and provider id (`dunning.SentMessage`), and the trail says whether a shop's template was
refused; the templates are deterministic (`channels.render`) given those and the order. So
the text is rebuilt from the recorded template and step, the amount and time recorded for the
message, the order as the case holds it, the shop's branding and template overrides, and
what the final notice announced (`domain.final_notice`, from the amount the message stated).

What may differ from what was sent, and each text says so: the signed token of the
unsubscribe link, the pay link and the customer's page link (not reproduced: they would be
working links; each is shown as a placeholder), and anything changed since the message was
sent: the order's items, the shop's branding, template overrides or referral policy, and
the default templates of a later release. The language and the payment situation are those
recorded with the message; a message recorded before they were kept has them chosen again
as the sender chose them then (the order's customer locale, else the shop's; the situation
the case's facts give now), and its source note says so. Pure: the caller gathers the
inputs.

An order on payment terms: its terms' name and due date, in the customer's zone as the
sender reckoned it, come from the order as the case holds it, so a step worded
`terms_overdue` says them as it was sent (unless the order's terms changed since). The
courtesy reminder before the due date (`payment_due_soon`) and the notice of the order's
cancellation (`order_cancelled`) are not steps: like a missed instalment's notice, they are
on the trail and not re-rendered here.

An instalment plan's messages: the step a broken plan resumed at is recorded as
`plan_broken` and re-rendered so (its words need nothing but the amount recorded). The
notice of a missed instalment is not a step (it is on the trail, not among the sent
messages), so it is never re-rendered here; a step recorded as `instalment_missed` (how a
broken plan's step was worded before `plan_broken`) has no plan figures to rebuild and is
re-rendered with the words that situation has without them, as it was sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from recoup.casefile.record import MessageText
from recoup.channels import i18n, render
from recoup.domain import cadence, payment_situation, template_overrides
from recoup.domain.case import Case
from recoup.domain.dunning import SentMessage
from recoup.domain.events import Customer, OrderSnapshot
from recoup.domain.final_notice import what_follows
from recoup.domain.money import Money
from recoup.domain.referral import FINAL_NOTICE_PERIOD, ReferralPolicy
from recoup.domain.timezones import zone_of_customer

UNSUBSCRIBE_PLACEHOLDER = "https://unsubscribe.invalid/link-not-reproduced"
PAY_PLACEHOLDER = "https://pay.invalid/link-not-reproduced"
PAGE_PLACEHOLDER = "https://page.invalid/link-not-reproduced"


@dataclass(frozen=True, slots=True, kw_only=True)
class Branding:
    """The shop as its messages present it."""

    shop_domain: str
    shop_name: str
    contact_email: str | None = None
    brand_color: str | None = None
    logo_url: str | None = None
    locale: str | None = None
    # template name -> {"subject", "html", "text", "sms"} (the shop's overrides)
    templates: Mapping[str, Mapping[str, str | None]] | None = None


def texts(
    case: Case,
    sent: Sequence[SentMessage],
    policy: cadence.ReminderPolicy,
    referral_policy: ReferralPolicy,
    branding: Branding,
    generated_at: datetime,
) -> dict[int, MessageText]:
    """The words of each sent message, by step; a message that cannot be re-rendered (its
    step or tone is unknown now, or the outcome of its send is unknown) gets none."""
    found: dict[int, MessageText] = {}
    for message in sent:
        step = _step_of(message, policy)
        if step is None or message.channel not in _RENDERERS or not message.currency:
            continue
        try:
            found[message.step] = _text(
                case, message, step, policy, referral_policy, branding, generated_at
            )
        except ValueError:
            continue  # what the order holds now no longer renders (e.g. no order name)
    return found


def _step_of(message: SentMessage, policy: cadence.ReminderPolicy) -> cadence.Step | None:
    """The policy step that sent it, if the policy still has it with the same template."""
    if message.step < len(policy.steps) and policy.steps[message.step].template == (
        message.template
    ):
        return policy.steps[message.step]
    return None


def _text(
    case: Case,
    message: SentMessage,
    step: cadence.Step,
    policy: cadence.ReminderPolicy,
    referral_policy: ReferralPolicy,
    branding: Branding,
    generated_at: datetime,
) -> MessageText:
    ctx = _context(case, message, step, policy, referral_policy, branding)
    # The shop's version in the message's language, as the sender chose it.
    language = i18n.language_for(ctx.locale)
    parts = template_overrides.parts_for(branding.templates, message.template, language)
    source = (
        f"re-rendered on {generated_at.date().isoformat()} from template '{message.template}' "
        f"(tone {step.tone}, step {message.step + 1}) with the amount and time recorded for "
        "the message; the unsubscribe, pay and page links carry signed tokens and are "
        "shown as placeholders, and the order, the shop's "
        "branding, templates and referral policy are as they are now; "
        + _language_and_situation(message, ctx)
    )
    return _RENDERERS[message.channel](ctx, parts, source)


def _context(
    case: Case,
    message: SentMessage,
    step: cadence.Step,
    policy: cadence.ReminderPolicy,
    referral_policy: ReferralPolicy,
    branding: Branding,
) -> render.MessageContext:
    """What the template was given when the message was sent, as far as it can be rebuilt."""
    snapshot = case.snapshot
    customer = snapshot.customer if snapshot else None
    zone = _zone(customer, policy)
    owed = Money(message.currency, message.amount_minor)
    final = step.tone is cadence.Tone.FINAL_NOTICE
    follows = what_follows(case, referral_policy, message.at, owed) if final else None
    return render.MessageContext(
        brand_color=branding.brand_color or render.DEFAULT_BRAND_COLOR,
        logo_url=branding.logo_url,
        shop_name=branding.shop_name,
        shop_email=branding.contact_email,
        shop_url=f"https://{branding.shop_domain}",
        customer_first_name=customer.first_name if customer else None,
        customer_last_name=customer.last_name if customer else None,
        locale=message.locale
        or i18n.locale_for(customer.locale if customer else None, branding.locale),
        order_name=(snapshot.order_name if snapshot and snapshot.order_name else case.case_id),
        items=_items(snapshot),
        amount_owed=owed,
        **render.order_figures(snapshot, owed),
        situation=message.situation or str(payment_situation.of(case)),
        pay_url=PAY_PLACEHOLDER if step.pay_link else None,
        # Messages that record their language came with the customer's page link.
        page_url=PAGE_PLACEHOLDER if message.locale else None,
        unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER,
        step_number=message.step + 1,
        tone=str(step.tone),
        referral_date=(message.at + FINAL_NOTICE_PERIOD).astimezone(zone).date() if final else None,
        referral_to=str(follows) if follows is not None else None,
        # The terms' name and due date (the customer's day) a terms message stated.
        **render.terms_fields(snapshot, zone),
    )


def _language_and_situation(message: SentMessage, ctx: render.MessageContext) -> str:
    language = i18n.language_for(ctx.locale)
    said = f"the language ({language}) and the payment situation ({ctx.situation})"
    if message.locale and message.situation:
        return f"{said} are those recorded with the message"
    return f"{said} are derived from the order as it is now (the message predates their record)"


def _zone(customer: Customer | None, policy: cadence.ReminderPolicy) -> ZoneInfo:
    """The zone the final notice's referral date was given in, chosen as the sender chose it."""
    return zone_of_customer(customer, policy)


def _items(snapshot: OrderSnapshot | None) -> tuple[render.ItemLine, ...]:
    return tuple(
        render.ItemLine(i.title, i.quantity, i.unit_price)
        for i in (snapshot.line_items if snapshot else ())
    )


def _email(ctx: render.MessageContext, parts: Mapping[str, str | None], source: str) -> MessageText:
    override = render.EmailOverride(
        subject=parts.get("subject"), html=parts.get("html"), text=parts.get("text")
    )
    email = render.render_email(ctx, override if any(parts.values()) else None)
    return MessageText(body=email.text, subject=email.subject, source=source)


def _sms(ctx: render.MessageContext, parts: Mapping[str, str | None], source: str) -> MessageText:
    sms = render.render_sms(ctx, parts.get("sms"))
    return MessageText(body=sms.body, source=source)


# channel -> its words from the context, the shop's template overrides and the source note;
# a message on any other channel ("unknown": its send's outcome was lost) has no words
_RENDERERS: dict[
    str, Callable[[render.MessageContext, Mapping[str, str | None], str], MessageText]
] = {"email": _email, "sms": _sms}


__all__ = ["PAY_PLACEHOLDER", "UNSUBSCRIBE_PLACEHOLDER", "Branding", "texts"]
