"""The reminder sequence: start it when a case opens, stop it when the case closes, queue
the steps that are due, and send one step (claim, guardrails, render, send, record).

Sending is at-most-once per step: the step is claimed with a conditional write on the
version that was read (a payment bumps it), right before the one provider call, and a
claimed step is never sent twice, even by a redelivered or concurrent job. A send that
certainly did not happen (throttled, no connection) releases the claim so SQS's retry can
send; one whose outcome is unknown (the answer was lost) is recorded as such and counted,
never resent; a refused address is marked undeliverable and the step moves on. A crash after
the send leaves the claim, and a retry after CLAIM_TIMEOUT records the step with an unknown
outcome instead of sending it again. Queueing, scheduling and recording are at-least-once
and idempotent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from recoup import aws, clock, links
from recoup.domain import cadence, guardrails
from recoup.domain.audit import AuditEntry
from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import Dunning, DunningStatus, SentMessage
from recoup.domain.fraud.screening import Gate, Screening
from recoup.domain.referral import FINAL_NOTICE_PERIOD
from recoup.domain.timezones import customer_zone, normalise_phone
from recoup.errors import RecoupError
from recoup.observability import logger, metrics
from recoup.services import sample_sends
from recoup.settings import get_settings
from recoup.store import case_reads, contacts, deliveries, policies, shops
from recoup.store import cases as store

if TYPE_CHECKING:
    from pynamodb.models import Model

    from recoup.store.models import ShopItem

# Passes over one job: each ends the step, or learns something new (a concurrent write to
# re-read, an address found undeliverable); a handful is plenty.
MAX_ROUNDS = 8
# A write after a provider call is retried here, beyond the SDK's own retries, so a throttle
# does not leave the claim unresolved: 0.1 s, doubling, about 3 s in all.
WRITE_ATTEMPTS = 6
WRITE_BACKOFF_SECONDS = 0.1
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


class StepInFlight(RecoupError):
    """Another job claimed this step moments ago and may be sending it: try again later
    (SQS's retry), when it is recorded, or old enough to be recorded as unknown."""


@dataclass(frozen=True, slots=True)
class Delivered:
    channel: str
    provider_id: str
    template: str
    local_time: str  # when it reached the customer, in their zone, and why that zone
    refused_template: str | None = None  # why the shop's override was not used
    outcome: str = "sent"  # "unknown": the provider may or may not have accepted it
    why_unknown: str = ""  # what was lost: the provider's answer, or the sender itself
    notes: str = ""  # channels found undeliverable on the way, for the trail


@dataclass(frozen=True, slots=True)
class StepResult:
    outcome: str  # sent | deferred | skipped | stale | in_flight
    detail: str


@dataclass(frozen=True, slots=True)
class _Outgoing:
    """A rendered message, ready for one provider call."""

    channel: str  # "email" | "sms"
    address: str
    content: bytes | str  # the raw MIME email, or the SMS text
    template: str
    refused_template: str | None


def send_job(body: str) -> StepResult:
    job = json.loads(body)
    if job.get("kind") == sample_sends.JOB_KIND:  # an admin's test message: no case
        sent = sample_sends.send_job(job, now=clock.now())
        return StepResult(sent.outcome, sent.detail)
    result = send_step(str(job["shop"]), str(job["case_id"]), int(job["step"]), now=clock.now())
    if result.outcome == "in_flight":
        # Not done: SQS redelivers after the visibility timeout, and then the step is either
        # recorded (stale) or its claim is old enough to be recorded as unknown.
        raise StepInFlight(result.detail)
    return result


def send_step(shop: str, case_id: str, step: int, *, now: datetime) -> StepResult:
    """Send one step at most once. Everything that can fail before the provider call (reads,
    the guardrails, rendering) happens before the claim, so a failure there leaves nothing
    to undo; the claim, conditioned on the version that was read (any payment or other
    write bumps it), is the last write before the provider call, and the message is the one
    rendered from that version. A conflict re-reads and decides again."""
    undeliverable: dict[str, str] = {}  # channel -> why, learned by this job
    # The case and the reminder policy in one read; the policy holds for the job.
    first, docs = case_reads.case_with_policies(shop, case_id, (policies.REMINDERS,))
    with policies.held(shop, docs):
        for round_ in range(MAX_ROUNDS):
            prior = first if round_ == 0 else store.load(shop, case_id)
            result = _attempt(prior, shop, case_id, step, now, undeliverable)
            if result is not None:
                return result
    raise store.ConcurrentUpdate(f"case {case_id}: step {step + 1} kept meeting other writes")


def _attempt(
    prior: store.StoredCase | None,
    shop: str,
    case_id: str,
    step: int,
    now: datetime,
    undeliverable: dict[str, str],
) -> StepResult | None:
    """One pass over the step with the case as read; None: something changed or was
    learned, go again."""
    if prior is None or prior.dunning is None:
        return StepResult("stale", "no such case or no reminders")
    if not shops.is_installed(shop):
        # Uninstalling stops every sequence; this catches a job queued just before.
        return StepResult("stale", f"{shop} is not installed: nothing is sent")
    dunning = prior.dunning
    if dunning.claimed_step >= step and dunning.next_step == step and dunning.due:
        claimed_at = dunning.claimed_at or now
        if now - claimed_at < CLAIM_TIMEOUT:
            return StepResult("in_flight", f"step {step + 1} is being sent by another job")
        # Claimed long ago, never recorded: that sender stopped after the provider call.
        policy = policies.load(shop, shop_timezone=_shop_zone(shops.get(shop)))
        lost = Delivered("unknown", "", "", "", outcome="unknown", why_unknown="the sender stopped")
        recorded = _record(prior, step, lost, now, policy)
        if recorded.outcome == "sent":  # counted once, by the job that recorded it
            _count_unknown("unknown")
        return recorded
    if not dunning.can_claim(step):
        return StepResult("stale", f"step {step} is not due (next {dunning.next_step})")

    shop_item = shops.get(shop)
    policy = policies.load(shop, shop_timezone=_shop_zone(shop_item))
    case = prior.case
    if step >= len(policy.steps):
        return _finish_sequence(prior, step, now, "the policy has fewer steps now")
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
    customer_key = _customer_key(case)
    reach, sent_at = contacts.before_send(shop, email, phone, customer_key, now=now)
    if email and "email" not in undeliverable and not reach.email_undeliverable:
        from recoup.channels import mime

        problem = mime.address_problem(email)
        if problem is not None:
            # Checked before any provider sees it: SES would refuse it every time.
            _mark_undeliverable(shop, email, "email", problem, now)
            undeliverable["email"] = problem
    known = {
        "email": undeliverable.get("email") or reach.email_undeliverable,
        "sms": undeliverable.get("sms") or reach.sms_undeliverable,
    }
    decision = guardrails.decide(
        guardrails.SendCheck(
            case_open=case.status is CaseStatus.OPEN,
            fraud_hold=_fraud_hold(prior),
            amount_owed=case.amount_owed,
            policy=policy,
            step=policy_step,
            email=email,
            phone_e164=phone,
            email_opted_out=reach.email_opted_out,
            sms_opted_out=reach.sms_opted_out,
            email_suppressed=reach.email_suppressed,
            email_undeliverable=known["email"],
            sms_undeliverable=known["sms"],
            sent_at=sent_at,
            zone=zone,
            now=now,
        )
    )
    if isinstance(decision, guardrails.Defer):
        local = decision.until.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        until = decision.until
        return _hold(
            prior,
            step,
            now,
            "deferred",
            f"step {step + 1} held back: {decision.reason}; moved to {local}",
            lambda d: d.schedule(step, until),
        )
    if isinstance(decision, guardrails.Skip):
        return _skip(prior, step, now, decision.reason, policy)

    outgoing = _compose(
        decision.channel, case, policy_step, step, shop_item, email, phone, zone, now
    )
    try:
        claimed = store.save_dunning(prior, dunning.claim(step, now))  # the at-most-once gate
    except store.ConcurrentUpdate:
        return None  # paid, claimed by another job, or changed: decide again on what is new
    local = now.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    # Why an email-or-SMS step did not go by its first choice.
    notes = "".join(
        f"; {channel} undeliverable ({why})"
        for channel, why in known.items()
        if why
        and channel != outgoing.channel
        and policy_step.channel is cadence.Channel.EMAIL_THEN_SMS
    )
    sent = Delivered(
        outgoing.channel,
        "",
        outgoing.template,
        f"{local}, {zone_reason}",
        outgoing.refused_template,
        notes=notes,
    )
    try:
        provider_id = _transmit(outgoing, case, step)
    except aws.Rejected as refused:
        reason = f"{_PROVIDERS[outgoing.channel]} refused it ({refused.code})"
        _refused(claimed, step, outgoing, reason, now)
        undeliverable[outgoing.channel] = reason
        return None  # the step goes by the other channel if it allows one, else is skipped
    except aws.OutcomeUnknown as lost:
        # It may have gone: never send it again; say so on the trail and raise the alarm.
        _count_unknown(outgoing.channel)
        why = f"the {_PROVIDERS[outgoing.channel]} answer was lost ({lost.code})"
        return _record(
            claimed, step, replace(sent, outcome="unknown", why_unknown=why), now, policy
        )
    except Exception:
        # Certainly not sent (throttled, no connection, refused the request, or failed
        # before the call): give the claim back so SQS's retry can send.
        _release(shop, case_id, step)
        raise
    metrics.add_metric(name=f"Reminder{outgoing.channel.capitalize()}Sent", unit="Count", value=1)
    result = _record(claimed, step, replace(sent, provider_id=provider_id), now, policy)
    if outgoing.channel == "sms":
        _remember_last_shop(outgoing.address, case.shop, now)
    return result


_PROVIDERS = {"email": "SES", "sms": "SNS"}


def _compose(
    channel: str,
    case: Case,
    policy_step: cadence.Step,
    step: int,
    shop_item: ShopItem | None,
    email: str | None,
    phone: str | None,
    zone: Any,
    now: datetime,
) -> _Outgoing:
    """Render the message (and its pay link): everything short of sending it. The shop's
    template override, if refused, falls back to the default and says why."""
    from recoup.channels import mime, render
    from recoup.services import final_notice

    settings = get_settings()
    owed = case.amount_owed
    assert owed is not None  # guardrails skip a case with nothing owed
    address = email if channel == "email" else phone
    assert address is not None
    token = links.sign_unsubscribe(
        case.shop, contacts.contact_hash(address), now=now, secret=settings.link_secrets()[0]
    )
    base = settings.public_base_url()
    snapshot = case.snapshot
    customer = snapshot.customer if snapshot else None
    ctx = render.MessageContext(
        brand_color=(shop_item.brand_color if shop_item else None) or "#1a1a1a",
        logo_url=shop_item.logo_url if shop_item else None,
        shop_name=(shop_item.shop_name if shop_item else None) or case.shop,
        shop_email=shops.reply_address(shop_item),
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
        pay_url=_pay_url(case, now, base) if policy_step.pay_link else None,
        unsubscribe_url=links.unsubscribe_url(base, token),
        help_url=None,
        step_number=step + 1,
        tone=str(policy_step.tone),
        referral_date=(
            (now + REFERRAL_NOTICE).astimezone(zone).date()
            if policy_step.tone is cadence.Tone.FINAL_NOTICE
            else None
        ),
        referral_to=(
            final_notice.what_follows(case, now)
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
        return _Outgoing(channel, address, raw, policy_step.template, rendered.override_error)
    sms = render.render_sms(ctx, parts.get("sms"))
    _note_refused(case, sms.override_error)
    return _Outgoing(channel, address, sms.body, policy_step.template, sms.override_error)


def _transmit(outgoing: _Outgoing, case: Case, step: int) -> str:
    """The provider call, one attempt; returns the provider's message id."""
    from recoup.integrations import ses, sns

    if isinstance(outgoing.content, bytes):
        sender = get_settings().require("sender_address")
        return ses.send_raw(
            outgoing.content,
            from_address=sender,
            to_address=outgoing.address,
            tags={"shop": case.shop.replace(".", "_"), "step": str(step + 1)},
        )
    return sns.send_sms(outgoing.address, outgoing.content)


def _note_refused(case: Case, error: str | None) -> None:
    if error:
        # The message still goes, with the default template; the merchant sees why.
        logger.warning("Shop template refused", extra={"shop": case.shop, "reason": error})
        metrics.add_metric(name="ShopTemplateRefused", unit="Count", value=1)


def _pay_url(case: Case, now: datetime, base: str) -> str:
    """The case's pay link: `<base>/pay/<signed token>`. What it opens is decided on the
    click (`services.pay_links`): a Checkout Session for what is owed then, or the order's
    payment page, so the link works for as long as the case is open."""
    token = links.sign_pay(
        case.shop, case.case_id, now=now, secret=get_settings().link_secrets()[0]
    )
    return links.pay_url(base, token)


def _count_unknown(channel: str) -> None:
    """One send whose outcome is unknown: an alarm watches this metric, on the service
    dimension alone (observability.ALARMED_METRICS); the channel (or "unknown" when the
    sender itself stopped) travels as metadata, for the log line, not as a dimension."""
    with single_metric(
        name="ReminderOutcomeUnknown",
        unit=MetricUnit.Count,
        value=1,
        namespace=metrics.namespace,
        default_dimensions={"service": metrics.service or "recoup"},
    ) as metric:
        metric.add_metadata(key="channel", value=channel)


def _mark_undeliverable(shop: str, address: str, channel: str, reason: str, now: datetime) -> None:
    """Remember on the shop's contact record that this address cannot be reached on this
    channel. Best-effort: the case's trail already says so, and the next job that meets the
    address finds it again."""
    metrics.add_metric(name="ReminderUndeliverable", unit="Count", value=1)
    try:
        contacts.mark_undeliverable(shop, address, channel, reason, now=now)
    except Exception as error:  # noqa: BLE001 - the step goes on without it
        logger.warning(
            "Could not mark a contact undeliverable",
            extra={"shop": shop, "channel": channel, "error": aws.error_code(error)},
        )


def _remember_last_shop(phone: str, shop: str, now: datetime) -> None:
    """The shop a HELP reply names. After the send is recorded and best-effort: a failure
    here must never make the job fail and the SMS go twice."""
    try:
        contacts.update(
            contacts.GLOBAL,
            contacts.contact_sk(phone),
            now=now,
            reason="SMS reminder sent",
            last_shop=shop,
        )
    except Exception as error:  # noqa: BLE001 - HELP then names an earlier shop
        logger.warning(
            "Could not note the last shop to text a number",
            extra={"shop": shop, "error": aws.error_code(error)},
        )


# ---------------------------------------------------------------- recording outcomes


def _persist(
    claimed: store.StoredCase, write: Callable[[store.StoredCase], StepResult]
) -> StepResult:
    """Make a write that resolves a claim land: on a conflict re-read the case and write
    again; on any other failure (a throttle that outlasted the SDK's retries, a lost answer)
    wait and write again. If it still fails, the claim stays: the job's retry finds it and,
    once it is older than CLAIM_TIMEOUT, records the step as unknown, never sending again."""
    current: store.StoredCase | None = claimed
    for attempt in range(WRITE_ATTEMPTS):
        try:
            if current is None:
                current = store.load(claimed.case.shop, claimed.case.case_id)
                if current is None or current.dunning is None:
                    return StepResult("stale", "the case is gone")
            return write(current)
        except store.ConcurrentUpdate:
            current = None
        except Exception as error:
            if attempt == WRITE_ATTEMPTS - 1:
                raise
            logger.warning(
                "Recording a reminder step failed; trying again",
                extra={"case_id": claimed.case.case_id, "error": aws.error_code(error)},
            )
            current = None  # the write may have landed with its answer lost: re-read
            time.sleep(WRITE_BACKOFF_SECONDS * 2**attempt)
    raise store.ConcurrentUpdate(f"case {claimed.case.case_id}: could not record the step")


def _record(
    claimed: store.StoredCase,
    step: int,
    delivered: Delivered,
    now: datetime,
    policy: cadence.ReminderPolicy,
) -> StepResult:
    """Record the message and schedule what follows, re-reading on conflict: the case may
    have been paid while we were sending (then the sequence stops)."""
    channel, provider_id = delivered.channel, delivered.provider_id
    unknown = delivered.outcome == "unknown"

    def write(current: store.StoredCase) -> StepResult:
        case = current.case
        recorded = [m for m in current.dunning_or_raise().sent if m.step == step]
        if recorded:
            ours = bool(provider_id) and recorded[0].provider_id == provider_id
            # Our own write whose answer was lost, or another job's record.
            return StepResult("sent" if ours else "stale", f"step {step + 1} was already recorded")
        owed = case.amount_owed or (case.snapshot.amount_owed if case.snapshot else None)
        message = SentMessage(
            step=step,
            channel=channel,
            at=now,
            provider_id=provider_id or None,
            template=delivered.template,
            amount_minor=owed.minor if owed else 0,
            currency=owed.currency if owed else "",
            outcome=delivered.outcome,
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
        if unknown and channel == "unknown":
            summary = f"step {step + 1}: claimed but its outcome was not recorded; not resent"
        elif unknown:
            summary = (
                f"step {step + 1} sent by {channel} ({owed}), outcome unknown: "
                f"{delivered.why_unknown}; not resent"
            )
        else:
            summary = (
                f"step {step + 1} sent by {channel} ({owed}) at {delivered.local_time}; "
                f"provider id {provider_id}"
            )
            if delivered.refused_template:
                summary += f"; shop template refused ({delivered.refused_template}), default used"
        summary += delivered.notes
        entry = _entry(current, "reminder.sent", summary, _next_words(dunning), now, step)
        customer_key = _customer_key(case)
        # A message that may have gone counts towards the weekly cap like one that did.
        logged = (
            [contacts.message_logged(case.shop, customer_key, now, case.case_id, channel)]
            if customer_key and channel != "unknown"
            else []
        )
        extra: list[Model] = []
        if provider_id and not unknown:
            # SES's and SNS's delivery reports name only this id (services.feedback).
            extra.append(
                deliveries.sent_item(
                    channel, provider_id, shop=case.shop, case_id=case.case_id, step=step, at=now
                )
            )
        store.save_all(
            [store.CaseWrite(case, current, entry, dunning)], now=now, extra=extra, updates=logged
        )
        logger.info("Reminder recorded", extra={"case_id": case.case_id, "step": step + 1})
        return StepResult("sent", summary)

    return _persist(claimed, write)


def _refused(
    claimed: store.StoredCase, step: int, outgoing: _Outgoing, reason: str, now: datetime
) -> None:
    """The provider refused the address for good: give the claim back with the reason on
    the trail (one write), then mark the address undeliverable for the shop."""
    what = "email address" if outgoing.channel == "email" else "phone number"
    summary = (
        f"step {step + 1} not sent by {outgoing.channel}: the {what} is undeliverable ({reason})"
    )

    def write(current: store.StoredCase) -> StepResult:
        dunning = current.dunning_or_raise().release(step)
        entry = _entry(current, "reminder.undeliverable", summary, _next_words(dunning), now, step)
        store.save_all([store.CaseWrite(current.case, current, entry, dunning)], now=now)
        return StepResult("undeliverable", summary)

    _persist(claimed, write)
    logger.info(
        "Reminder address undeliverable", extra={"case_id": claimed.case.case_id, "why": reason}
    )
    _mark_undeliverable(claimed.case.shop, outgoing.address, outgoing.channel, reason, now)


def _release(shop: str, case_id: str, step: int) -> None:
    """Give a claim back after a send that certainly did not happen, so SQS's retry can
    send; if even this cannot be written, the claim is later recorded as unknown."""
    stored = store.load(shop, case_id)
    if stored is None or stored.dunning is None:
        return

    def write(current: store.StoredCase) -> StepResult:
        store.save_dunning(current, current.dunning_or_raise().release(step))
        return StepResult("released", f"step {step + 1} released")

    _persist(stored, write)


def _hold(
    prior: store.StoredCase,
    step: int,
    now: datetime,
    outcome: str,
    summary: str,
    change: Callable[[Dunning], Dunning],
) -> StepResult | None:
    """Record a step not sent (deferred or skipped) on the version that was read; None: it
    changed meanwhile (a payment, another job), and the step is decided again."""
    before = prior.dunning_or_raise()
    if prior.case.status is not CaseStatus.OPEN:
        dunning = before.finish(DunningStatus.STOPPED, f"case {prior.case.status}")
    else:
        dunning = change(before)
    entry = _entry(prior, f"reminder.{outcome}", summary, _next_words(dunning), now, step)
    try:
        store.save_all([store.CaseWrite(prior.case, prior, entry, dunning)], now=now)
    except store.ConcurrentUpdate:
        return None
    logger.info("Reminder held back", extra={"case_id": prior.case.case_id, "why": summary})
    return StepResult(outcome, summary)


def _skip(
    prior: store.StoredCase, step: int, now: datetime, reason: str, policy: cadence.ReminderPolicy
) -> StepResult | None:
    case = prior.case

    def after(dunning: Dunning) -> Dunning:
        if case.dispute_open:
            return dunning.hold("dispute", reason)
        if _fraud_hold(prior):
            return dunning.hold("fraud", reason)
        if case.amount_owed is None or not cadence.chasable(policy, case.amount_owed):
            return dunning.finish(DunningStatus.NOT_CHASED, reason)
        if step + 1 < len(policy.steps) and case.opened_at is not None:
            # This step cannot reach the customer; the next may (another channel).
            due = cadence.step_due_at(policy, step + 1, case.opened_at, now)
            return dunning.schedule(step + 1, due, reason)
        return dunning.spend(now, f"{reason}; waiting for escalation")

    return _hold(prior, step, now, "skipped", f"step {step + 1} not sent: {reason}", after)


def _finish_sequence(
    prior: store.StoredCase, step: int, now: datetime, reason: str
) -> StepResult | None:
    return _hold(prior, step, now, "skipped", reason, lambda d: d.spend(now, reason))


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
