"""Compose one reminder for its channel: the message context built from the case, the
policy's step, the shop (name, branding, locale, reply-to address, templates) and the
reminder's signed links; rendered with the shop's override of the step's template, or the
default when the override is refused (which is logged, counted and said on the trail); for
email, built into the raw MIME message SES sends. Everything short of sending it: nothing
here reads or writes a table, or signs a link. The renderers (Jinja2, babel) load only when a
message is composed.

The message is written in the customer's language (their stated preference, else the
order's customer locale, else the shop's primary locale, else English: `i18n.locale_for`)
and worded for the case's payment situation (`payment_situation.of`, unless the caller
knows better: a promise due or broken, an instalment missed, a plan broken, a payment due
soon, the order being cancelled). The notice of a missed instalment also states which one,
its amount and date, and the day and time to pay it by (`PlanNotice`, from the plan in the
reminder progress: `plan_notice`); an order on payment terms gives every message the
terms' name and the date they are due on, in the customer's zone (`render.terms_fields`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from recoup.domain import cadence, payment_situation, template_overrides
from recoup.domain.case import Case
from recoup.domain.events import OrderSnapshot
from recoup.domain.money import Money
from recoup.domain.payment_situation import Situation
from recoup.observability import logger, metrics

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from recoup.channels import render
    from recoup.domain.dunning import Dunning
    from recoup.store.models import ShopItem


@dataclass(frozen=True, slots=True)
class Links:
    """The reminder's signed links: where the customer unsubscribes, where they pay (when
    the step carries a pay link) and their own page for the case (when one can be made).
    Every message links the page when there is one; an SMS carries one link only, the page
    rather than the pay link."""

    unsubscribe: str
    pay: str | None = None
    page: str | None = None


@dataclass(frozen=True, slots=True)
class FinalNotice:
    """What a final notice announces: the date the account will be referred, and to whom
    ("agency", "legal", or None: the shop's referral policy would refer it to neither)."""

    referral_date: date
    referral_to: str | None


@dataclass(frozen=True, slots=True)
class PlanNotice:
    """What the notice of a missed instalment states: instalment `number` of `count`, its
    `amount`, the customer's local date it was due on, and when the plan's grace days end
    (`pay_by`, in the customer's zone): paid by then, the plan goes on."""

    number: int
    count: int
    amount: Money
    due_on: date
    pay_by: datetime


def plan_notice(dunning: Dunning | None, zone: ZoneInfo) -> PlanNotice | None:
    """The missed instalment of the plan in force, as its notice states it, the end of its
    grace days in the customer's `zone` (the plan breaks then, at the time of day its charge
    failed: the day and the time are both stated, as the customer's page states them);
    None without a plan in force or a missed instalment."""
    plan = dunning.plan_in_force if dunning is not None else None
    if dunning is None or plan is None:
        return None
    missed = plan.missed
    ends = plan.grace_ends(dunning.plan_grace_days)
    if missed is None or ends is None:
        return None
    return PlanNotice(
        number=missed.number,
        count=len(plan.instalments),
        amount=Money.of(missed.amount_minor, plan.currency),
        due_on=missed.due_on,
        pay_by=ends.astimezone(zone),
    )


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A rendered message, ready for one provider call."""

    channel: str  # "email" | "sms"
    address: str
    content: bytes | str  # the raw MIME email, or the SMS text
    template: str
    refused_template: str | None  # why the shop's override was not used
    locale: str = ""  # the language and formats it was written in ("de-DE")
    situation: str = ""  # the payment situation it was worded for


def compose(
    channel: str,
    address: str,
    case: Case,
    policy_step: cadence.Step,
    step: int,
    shop_item: ShopItem | None,
    *,
    reply_to: str | None,
    links: Links,
    notice: FinalNotice | None,
    from_address: str,
    situation: Situation | None = None,
    language: str | None = None,
    plan: PlanNotice | None = None,
    zone: ZoneInfo | None = None,
) -> Outgoing:
    """Step `step` (from 0) of the case's reminders, to `address` by `channel`, worded for
    `situation` (None: the case's own) in `language` (the customer's stated preference, if
    any); `plan`: the missed instalment a notice worded `instalment_missed` states; `zone`:
    the customer's, which dates are given in (None: UTC)."""
    from recoup.channels import i18n, mime, render

    ctx = message_context(
        case,
        policy_step,
        step,
        shop_item,
        reply_to=reply_to,
        links=links,
        notice=notice,
        situation=situation,
        language=language,
        plan=plan,
        zone=zone,
    )
    # The shop's version in the message's language, else the shipped template in it.
    language_of_message = i18n.language_for(ctx.locale)
    templates = shop_item.templates if shop_item else None
    parts = template_overrides.parts_for(templates, policy_step.template, language_of_message)
    if channel == "email":
        override = render.EmailOverride(
            subject=parts.get("subject"), html=parts.get("html"), text=parts.get("text")
        )
        rendered = render.render_email(ctx, override if any(parts.values()) else None)
        _note_refused(case, rendered.override_error)
        raw = mime.build_email(
            rendered,
            from_address=from_address,
            from_name=ctx.shop_name,
            to_address=address,
            reply_to=ctx.shop_email,
            list_unsubscribe_url=ctx.unsubscribe_url,
            list_unsubscribe_mailto=None,
            message_id_domain=from_address.rsplit("@", 1)[1],
        )
        return Outgoing(
            channel,
            address,
            raw,
            policy_step.template,
            rendered.override_error,
            ctx.locale,
            ctx.situation,
        )
    sms = render.render_sms(ctx, parts.get("sms"))
    _note_refused(case, sms.override_error)
    return Outgoing(
        channel,
        address,
        sms.body,
        policy_step.template,
        sms.override_error,
        ctx.locale,
        ctx.situation,
    )


def message_context(
    case: Case,
    policy_step: cadence.Step,
    step: int,
    shop_item: ShopItem | None,
    *,
    reply_to: str | None,
    links: Links,
    notice: FinalNotice | None,
    situation: Situation | None = None,
    language: str | None = None,
    plan: PlanNotice | None = None,
    zone: ZoneInfo | None = None,
) -> render.MessageContext:
    """What the step's templates may say about this case (`situation` None: derived from
    the case; `language`: the customer's stated preference, put before their locale;
    `plan`: the missed instalment, stated only by a message worded `instalment_missed`,
    and only when it fits what is owed; `zone`: the customer's, the day the order's payment
    terms are due on is theirs, UTC when None)."""
    from recoup.channels import i18n, render

    owed = case.amount_owed
    assert owed is not None  # the guardrails skip a case with nothing owed
    snapshot = case.snapshot
    customer = snapshot.customer if snapshot else None
    worded = _worded(case, situation)
    return render.MessageContext(
        brand_color=(shop_item.brand_color if shop_item else None) or render.DEFAULT_BRAND_COLOR,
        logo_url=shop_item.logo_url if shop_item else None,
        shop_name=(shop_item.shop_name if shop_item else None) or case.shop,
        shop_email=reply_to,
        shop_url=f"https://{case.shop}",
        customer_first_name=customer.first_name if customer else None,
        customer_last_name=customer.last_name if customer else None,
        locale=i18n.locale_for(
            language,
            customer.locale if customer else None,
            shop_item.locale if shop_item else None,
        ),
        order_name=(snapshot.order_name if snapshot and snapshot.order_name else case.case_id),
        items=_items(snapshot),
        amount_owed=owed,
        **render.order_figures(snapshot, owed),
        pay_url=links.pay,
        page_url=links.page,
        unsubscribe_url=links.unsubscribe,
        help_url=None,
        step_number=step + 1,
        tone=str(policy_step.tone),
        referral_date=notice.referral_date if notice else None,
        referral_to=notice.referral_to if notice else None,
        situation=str(worded),
        plan=_stated(plan, worded, owed),
        **render.terms_fields(snapshot, zone),
    )


def _worded(case: Case, situation: Situation | None) -> Situation:
    return situation if situation is not None else payment_situation.of(case)


def _stated(plan: PlanNotice | None, situation: Situation, owed: Money) -> PlanNotice | None:
    """The plan's facts when the message states them: a missed instalment's notice, for an
    instalment in the currency owed and no more than it (else its words without them)."""
    if plan is None or situation != Situation.INSTALMENT_MISSED:
        return None
    if plan.amount.currency != owed.currency or not 0 < plan.amount.minor <= owed.minor:
        return None
    return plan


def _items(snapshot: OrderSnapshot | None) -> tuple[render.ItemLine, ...]:
    from recoup.channels import render

    lines = snapshot.line_items if snapshot else ()
    return tuple(render.ItemLine(i.title, i.quantity, i.unit_price) for i in lines)


def _note_refused(case: Case, error: str | None) -> None:
    if error:
        # The message still goes, with the default template; the merchant sees why.
        logger.warning("Shop template refused", extra={"shop": case.shop, "reason": error})
        metrics.add_metric(name="ShopTemplateRefused", unit="Count", value=1)


__all__ = [
    "FinalNotice",
    "Links",
    "Outgoing",
    "PlanNotice",
    "compose",
    "message_context",
    "plan_notice",
]
