"""The reminder sequence: start it when a case opens, stop it when the case closes, queue
the steps that are due, and send one step (claim, guardrails, render, send, record).

Sending is at-most-once per step: the step is claimed with a conditional write before the
provider is called, and a claimed step is never sent twice, even by a redelivered or
concurrent job. A provider error before the send releases the claim so SQS's retry can
send; a crash after the send leaves the claim, and the retry records the step as sent with
an unknown outcome instead of sending it again. Queueing, scheduling and recording are
at-least-once and idempotent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from recoup import clock, links
from recoup.domain import cadence, guardrails
from recoup.domain.audit import AuditEntry
from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import Dunning, DunningStatus, SentMessage
from recoup.domain.fraud.screening import Gate, Screening
from recoup.domain.money import Money
from recoup.domain.referral import FINAL_NOTICE_PERIOD
from recoup.domain.timezones import customer_zone, normalise_phone
from recoup.observability import logger, metrics
from recoup.settings import get_settings
from recoup.store import cases as store
from recoup.store import contacts, policies, shops

if TYPE_CHECKING:
    from recoup.store.models import ShopItem

MAX_ATTEMPTS = 5
# Longer than the sender's Lambda timeout: an older claim with no record is a crashed send.
CLAIM_TIMEOUT = timedelta(minutes=5)
# A final notice tells the customer the date their account will be referred; the referral
# decision never refers it earlier (one period, defined with the referral policy).
REFERRAL_NOTICE = FINAL_NOTICE_PERIOD


# ---------------------------------------------------------------- the worker's hook


def on_case_change(
    prior: store.StoredCase | None,
    case: Case,
    screening: Screening | None = None,
    now: datetime | None = None,
) -> Dunning | None:
    """The reminder progress after a platform event changed the case; None: unchanged.
    `screening` is the case's fraud screening after the event, which may hold or flag it."""
    started = _start_or_stop(prior, case)
    if case.status is not CaseStatus.OPEN or screening is None:
        return started
    current = started or (prior.dunning if prior else None)
    if current is None:
        return None
    gated = gate_reminders(current, screening, now or clock.now())
    return gated if gated is not None else started


def gate_reminders(dunning: Dunning, screening: Screening, now: datetime) -> Dunning | None:
    """Hold, flag or resume the sequence as the fraud screening says; None: unchanged."""
    gate = screening.gate
    status = dunning.status
    if status in (DunningStatus.STOPPED, DunningStatus.NOT_CHASED):
        return None
    if gate is Gate.FLAG:
        if status is DunningStatus.FLAGGED:
            return None
        # Flagged high: whether to refer is checked now (confirmed fraud goes to legal).
        return dunning.flag(f"no reminders: {screening.why()}").escalate(now)
    if gate is Gate.HOLD:
        if status in (DunningStatus.SCHEDULED, DunningStatus.FLAGGED):
            return dunning.hold("fraud", f"held for review: {screening.why()}")
        return None
    fraud_held = status is DunningStatus.HELD and dunning.held_by == "fraud"
    if fraud_held or status is DunningStatus.FLAGGED:
        return dunning.resume(now, f"reminders resume: {screening.why()}")
    return None


def _start_or_stop(prior: store.StoredCase | None, case: Case) -> Dunning | None:
    current = prior.dunning if prior else None
    if case.status is not CaseStatus.OPEN:
        if current is not None and current.status is not DunningStatus.STOPPED:
            return current.finish(DunningStatus.STOPPED, f"case {case.status}: reminders stopped")
        return None
    if current is not None or case.opened_at is None:
        return None
    shop = shops.get(case.shop)
    policy = policies.load(case.shop, shop_timezone=_shop_zone(shop))
    owed = case.amount_owed
    if owed is None or not cadence.chasable(policy, owed):
        return Dunning(
            DunningStatus.NOT_CHASED,
            reason=f"{owed} is below the shop's minimum",
            policy_version=policy.version,
        )
    due = cadence.step_due_at(policy, 0, case.opened_at, None)
    return Dunning(DunningStatus.SCHEDULED, next_step=0, next_at=due, policy_version=policy.version)


# ---------------------------------------------------------------- the sender


@dataclass(frozen=True, slots=True)
class Delivered:
    channel: str
    provider_id: str
    template: str
    local_time: str  # when it reached the customer, in their zone, and why that zone
    refused_template: str | None = None  # why the shop's override was not used


@dataclass(frozen=True, slots=True)
class StepResult:
    outcome: str  # sent | deferred | skipped | stale
    detail: str


def send_job(body: str) -> StepResult:
    job = json.loads(body)
    return send_step(str(job["shop"]), str(job["case_id"]), int(job["step"]), now=clock.now())


def send_step(shop: str, case_id: str, step: int, *, now: datetime) -> StepResult:
    prior = store.load(shop, case_id)
    if prior is None or prior.dunning is None:
        return StepResult("stale", "no such case or no reminders")
    if not shops.is_installed(shop):
        # Uninstalling stops every sequence; this catches a job queued just before.
        return StepResult("stale", f"{shop} is not installed: nothing is sent")
    dunning = prior.dunning
    if dunning.claimed_step >= step and dunning.next_step == step and dunning.due:
        claimed_at = dunning.claimed_at or now
        if now - claimed_at < CLAIM_TIMEOUT:
            return StepResult("stale", f"step {step + 1} is being sent by another job")
        # Claimed long ago, never recorded: that sender stopped after the provider call.
        policy = policies.load(shop, shop_timezone=_shop_zone(shops.get(shop)))
        return _record(prior, step, None, now, policy, unknown=True)
    if not dunning.can_claim(step):
        return StepResult("stale", f"step {step} is not due (next {dunning.next_step})")
    claimed = store.save_dunning(prior, dunning.claim(step, now))  # the at-most-once gate

    shop_item = shops.get(shop)
    policy = policies.load(shop, shop_timezone=_shop_zone(shop_item))
    case = claimed.case
    if step >= len(policy.steps):
        return _finish_sequence(claimed, now, "the policy has fewer steps now")
    policy_step = policy.steps[step]
    customer = case.snapshot.customer if case.snapshot else None
    country = customer.country if customer else None
    phone = normalise_phone(customer.phone if customer else None, country)
    email = customer.email if customer else None
    zone, zone_reason = customer_zone(
        country=country,
        province=customer.province if customer else None,
        phone=phone,
        shop_timezone=policy.shop_timezone,
        rule=policy.timezone_rule,
    )
    reach = contacts.reachability(shop, email, phone)
    customer_key = _customer_key(case)
    decision = guardrails.decide(
        guardrails.SendCheck(
            case_open=case.status is CaseStatus.OPEN,
            fraud_hold=_fraud_hold(claimed),
            amount_owed=case.amount_owed,
            policy=policy,
            step=policy_step,
            email=email,
            phone_e164=phone,
            email_opted_out=reach.email_opted_out,
            sms_opted_out=reach.sms_opted_out,
            email_suppressed=reach.email_suppressed,
            sent_at=contacts.recent_messages(shop, customer_key, now=now) if customer_key else [],
            zone=zone,
            now=now,
        )
    )
    if isinstance(decision, guardrails.Defer):
        local = decision.until.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        return _hold(
            claimed,
            step,
            now,
            "deferred",
            f"step {step + 1} held back: {decision.reason}; moved to {local}",
            lambda d: d.release(step).schedule(step, decision.until),
        )
    if isinstance(decision, guardrails.Skip):
        return _skip(claimed, step, now, decision.reason, policy)

    channel = decision.channel
    try:
        provider_id, refused = _deliver(
            channel, case, policy_step, step, shop_item, email, phone, zone, now
        )
    except Exception:
        # Not sent: give the claim back so SQS's retry can send.
        _release(shop, case_id, step)
        raise
    metrics.add_metric(name=f"Reminder{channel.capitalize()}Sent", unit="Count", value=1)
    local = now.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    delivered = Delivered(
        channel, provider_id, policy_step.template, f"{local}, {zone_reason}", refused
    )
    return _record(claimed, step, delivered, now, policy)


def _deliver(
    channel: str,
    case: Case,
    policy_step: cadence.Step,
    step: int,
    shop_item: ShopItem | None,
    email: str | None,
    phone: str | None,
    zone: Any,
    now: datetime,
) -> tuple[str, str | None]:
    """Render and send; returns the provider's message id and, if the shop's template
    override was refused (the default was used), why."""
    from recoup.channels import mime, render
    from recoup.integrations import ses, sns

    settings = get_settings()
    owed = case.amount_owed
    assert owed is not None  # guardrails skip a case with nothing owed
    address = email if channel == "email" else phone
    assert address is not None
    token = links.sign_unsubscribe(
        case.shop, contacts.contact_hash(address), now=now, secret=settings.link_secrets()[0]
    )
    base = settings.require("public_url")
    snapshot = case.snapshot
    customer = snapshot.customer if snapshot else None
    ctx = render.MessageContext(
        brand_color=(shop_item.brand_color if shop_item else None) or "#1a1a1a",
        logo_url=shop_item.logo_url if shop_item else None,
        shop_name=(shop_item.shop_name if shop_item else None) or case.shop,
        shop_email=shop_item.contact_email if shop_item else None,
        shop_url=f"https://{case.shop}",
        customer_first_name=customer.first_name if customer else None,
        locale=(customer.locale if customer and customer.locale else None)
        or (shop_item.locale if shop_item and shop_item.locale else "en"),
        order_name=(snapshot.order_name if snapshot and snapshot.order_name else case.case_id),
        items=tuple(
            render.ItemLine(i.title, i.quantity, i.unit_price)
            for i in (snapshot.line_items if snapshot else ())
        ),
        amount_owed=owed,
        order_total=snapshot.order_total if snapshot else None,
        pay_url=_pay_url(case, owed, step, shop_item, base) if policy_step.pay_link else None,
        unsubscribe_url=links.unsubscribe_url(base, token),
        help_url=None,
        step_number=step + 1,
        tone=str(policy_step.tone),
        referral_date=(
            (now + REFERRAL_NOTICE).astimezone(zone).date()
            if policy_step.tone is cadence.Tone.FINAL_NOTICE
            else None
        ),
    )
    parts = ((shop_item.templates or {}) if shop_item else {}).get(policy_step.template) or {}
    if channel == "email":
        override = render.EmailOverride(
            subject=parts.get("subject"), html=parts.get("html"), text=parts.get("text")
        )
        rendered = render.render_email(ctx, override if any(parts.values()) else None)
        _note_refused(case, rendered.override_error)
        raw = mime.build_email(
            rendered,
            from_address=settings.require("sender_address"),
            from_name=ctx.shop_name,
            to_address=address,
            reply_to=ctx.shop_email,
            list_unsubscribe_url=ctx.unsubscribe_url,
            list_unsubscribe_mailto=None,
            message_id_domain=settings.require("sender_address").rsplit("@", 1)[1],
        )
        message_id = ses.send_raw(
            raw,
            from_address=settings.require("sender_address"),
            to_address=address,
            tags={"shop": case.shop.replace(".", "_"), "step": str(step + 1)},
        )
        return message_id, rendered.override_error
    sms = render.render_sms(ctx, parts.get("sms"))
    _note_refused(case, sms.override_error)
    message_id = sns.send_sms(address, sms.body)
    contacts.update(
        contacts.GLOBAL,
        contacts.contact_sk(address),
        now=now,
        reason="SMS reminder sent",
        last_shop=case.shop,
    )
    return message_id, sms.override_error


def _note_refused(case: Case, error: str | None) -> None:
    if error:
        # The message still goes, with the default template; the merchant sees why.
        logger.warning("Shop template refused", extra={"shop": case.shop, "reason": error})
        metrics.add_metric(name="ShopTemplateRefused", unit="Count", value=1)


def _pay_url(
    case: Case, owed: Money, step: int, shop_item: ShopItem | None, base: str
) -> str | None:
    """A Stripe Checkout Session for what is still owed when the shop connected Stripe and
    the platform key is configured; otherwise the order's own Shopify payment page."""
    api_key = get_settings().stripe_api_key()
    account = shop_item.stripe_account if shop_item else None
    if api_key and account:
        from recoup.integrations import stripe

        name = case.snapshot.order_name if case.snapshot and case.snapshot.order_name else ""
        return stripe.create_checkout_session(
            api_key=api_key,
            account=account,
            amount=owed,
            description=f"{name or 'Order'} ({case.shop})",
            shop=case.shop,
            case_id=case.case_id,
            return_url=f"https://{case.shop}",
            idempotency_key=f"recoup:{case.shop}:{case.case_id}:step{step}",
        )
    return case.snapshot.pay_url if case.snapshot else None


# ---------------------------------------------------------------- recording outcomes


def _record(
    claimed: store.StoredCase,
    step: int,
    sent: Delivered | None,
    now: datetime,
    policy: cadence.ReminderPolicy,
    *,
    unknown: bool = False,
) -> StepResult:
    """Record the message and schedule what follows, re-reading on conflict: the case may
    have been paid while we were sending (then the sequence stops)."""
    delivered = sent or Delivered("unknown", "", "", "")
    channel, provider_id = delivered.channel, delivered.provider_id
    current = claimed
    for _ in range(MAX_ATTEMPTS):
        case = current.case
        if any(message.step == step for message in current.dunning_or_raise().sent):
            return StepResult("stale", f"step {step + 1} was already recorded")
        owed = case.amount_owed or (case.snapshot.amount_owed if case.snapshot else None)
        message = SentMessage(
            step=step,
            channel=channel,
            at=now,
            provider_id=provider_id or None,
            template=delivered.template,
            amount_minor=owed.minor if owed else 0,
            currency=owed.currency if owed else "",
        )
        dunning = current.dunning_or_raise().record(message)
        if case.status is not CaseStatus.OPEN:
            dunning = dunning.finish(DunningStatus.STOPPED, f"case {case.status}")
        elif step + 1 < len(policy.steps) and case.opened_at is not None:
            dunning = dunning.schedule(
                step + 1, cadence.step_due_at(policy, step + 1, case.opened_at, now)
            )
        else:
            dunning = dunning.spend(
                now, "reminder sequence complete, still unpaid: waiting for escalation"
            )
        if unknown:
            summary = f"step {step + 1}: claimed but its outcome was not recorded; not resent"
        else:
            summary = (
                f"step {step + 1} sent by {channel} ({owed}) at {delivered.local_time}; "
                f"provider id {provider_id}"
            )
            if delivered.refused_template:
                summary += f"; shop template refused ({delivered.refused_template}), default used"
        entry = _entry(current, "reminder.sent", summary, _next_words(dunning), now, step)
        customer_key = _customer_key(case)
        extra = (
            [contacts.message_item(case.shop, customer_key, now, case.case_id, channel)]
            if customer_key and not unknown
            else []
        )
        try:
            store.save_all([store.CaseWrite(case, current, entry, dunning)], now=now, extra=extra)
        except store.ConcurrentUpdate:
            reloaded = store.load(case.shop, case.case_id)
            if reloaded is None:
                raise
            current = reloaded
            continue
        logger.info("Reminder recorded", extra={"case_id": case.case_id, "step": step + 1})
        return StepResult("sent", summary)
    raise store.ConcurrentUpdate(f"case {claimed.case.case_id}: could not record step {step}")


def _hold(
    claimed: store.StoredCase,
    step: int,
    now: datetime,
    outcome: str,
    summary: str,
    change: Callable[[Dunning], Dunning],
) -> StepResult:
    """Record a step not sent (deferred or skipped), re-reading on conflict so the claim is
    always resolved: a claim left behind would later pass for a send whose outcome is lost."""
    current = claimed
    for _ in range(MAX_ATTEMPTS):
        before = current.dunning_or_raise()
        if current.case.status is not CaseStatus.OPEN:
            dunning = before.finish(DunningStatus.STOPPED, f"case {current.case.status}")
        else:
            dunning = change(before)
        entry = _entry(current, f"reminder.{outcome}", summary, _next_words(dunning), now, step)
        try:
            store.save_all([store.CaseWrite(current.case, current, entry, dunning)], now=now)
        except store.ConcurrentUpdate:
            reloaded = store.load(claimed.case.shop, claimed.case.case_id)
            if reloaded is None:
                raise
            current = reloaded
            continue
        logger.info("Reminder held back", extra={"case_id": current.case.case_id, "why": summary})
        return StepResult(outcome, summary)
    raise store.ConcurrentUpdate(f"case {claimed.case.case_id}: could not record step {step}")


def _skip(
    claimed: store.StoredCase, step: int, now: datetime, reason: str, policy: cadence.ReminderPolicy
) -> StepResult:
    case = claimed.case

    def after(dunning: Dunning) -> Dunning:
        if case.dispute_open:
            return dunning.hold("dispute", reason)
        if _fraud_hold(claimed):
            return dunning.hold("fraud", reason)
        if case.amount_owed is None or not cadence.chasable(policy, case.amount_owed):
            return dunning.finish(DunningStatus.NOT_CHASED, reason)
        if step + 1 < len(policy.steps) and case.opened_at is not None:
            # This step cannot reach the customer; the next may (another channel).
            due = cadence.step_due_at(policy, step + 1, case.opened_at, now)
            return dunning.schedule(step + 1, due, reason)
        return dunning.spend(now, f"{reason}; waiting for escalation")

    return _hold(claimed, step, now, "skipped", f"step {step + 1} not sent: {reason}", after)


def _finish_sequence(claimed: store.StoredCase, now: datetime, reason: str) -> StepResult:
    step = claimed.dunning_or_raise().next_step
    return _hold(
        claimed,
        step,
        now,
        "skipped",
        reason,
        lambda d: d.spend(now, reason),
    )


def _release(shop: str, case_id: str, step: int) -> None:
    for _ in range(MAX_ATTEMPTS):
        current = store.load(shop, case_id)
        if current is None or current.dunning is None:
            return
        try:
            store.save_dunning(current, current.dunning.release(step))
            return
        except store.ConcurrentUpdate:
            continue


def _next_words(dunning: Dunning) -> str:
    if dunning.due and dunning.next_at is not None:
        return f"step {dunning.next_step + 1} due {dunning.next_at.strftime('%Y-%m-%d %H:%M')} UTC"
    return dunning.reason or str(dunning.status)


def _entry(
    prior: store.StoredCase, kind: str, summary: str, effect: str, now: datetime, step: int
) -> AuditEntry:
    return store.recoup_entry(
        prior,
        source="recoup",
        kind=kind,
        event_id=f"recoup:{kind}:{prior.case.case_id}:{step}:{now.isoformat()}",
        summary=summary,
        effect=effect,
        now=now,
    )


def _fraud_hold(stored: store.StoredCase) -> bool:
    """Reminders may not go: a dispute, an early fraud warning, or the screening's gate."""
    case, screening = stored.case, stored.screening
    if case.fraud_warning or case.dispute_open:
        return True
    return screening is not None and screening.gate is not Gate.RUN


def _customer_key(case: Case) -> str | None:
    customer = case.snapshot.customer if case.snapshot else None
    if customer is None:
        return None
    return customer.customer_id or customer.email or customer.phone


def _shop_zone(shop_item: ShopItem | None) -> str:
    return (shop_item.timezone if shop_item and shop_item.timezone else None) or "UTC"
