"""Send one reminder step: read the case, check the guardrails, compose the message, claim
the step, make the one provider call, and record what became of it.

Sending is at-most-once per step: the step is claimed with a conditional write on the
version that was read (a payment bumps it), right before the one provider call, and a
claimed step is never sent twice, even by a redelivered or concurrent job. A send that
certainly did not happen (throttled, no connection) releases the claim so SQS's retry can
send; one whose outcome is unknown (the answer was lost) is recorded as such and counted,
never resent; a refused address is marked undeliverable and the step moves on. A crash after
the send leaves the claim, and a retry after CLAIM_TIMEOUT records the step with an unknown
outcome instead of sending it again. Recording is at-least-once and idempotent
(`services.step_outcomes`).

Counted as they happen: RemindersSent when the provider accepts a step, RemindersFailed when
it refuses the address, its answer is lost or the send fails before it (retried), and
RemindersHeld when a guardrail defers or skips the step (once that write lands). An email
carries the job's correlation id as an SES tag, which SES's events about it repeat.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from recoup import aws, clock, correlation, links, observability
from recoup.channels.compose import FinalNotice, Links, Outgoing, compose, plan_notice
from recoup.domain import cadence, guardrails, one_off
from recoup.domain.aggregate import StoredCase
from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import Dunning
from recoup.domain.one_off import OneOff
from recoup.domain.payment_situation import Situation
from recoup.domain.referral import FINAL_NOTICE_PERIOD
from recoup.domain.timezones import customer_zone, normalise_phone
from recoup.errors import RecoupError
from recoup.observability import Channel as MetricChannel
from recoup.observability import HeldReason, StepChannel, logger, metrics
from recoup.services import customer_requests, final_notice, job_kinds, page_links
from recoup.services.reminder_plan import reminder_policy
from recoup.services.step_outcomes import (
    Delivered,
    StepResult,
    customer_key,
    finish_sequence,
    fraud_hold,
    hold,
    mark_undeliverable,
    record,
    refused,
    release,
    skip,
)
from recoup.settings import get_settings
from recoup.store import case_reads, contacts, policies, shops
from recoup.store import cases as store

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from recoup.store.models import ShopItem

# Passes over one job: each ends the step, or learns something new (a concurrent write to
# re-read, an address found undeliverable); a handful is plenty.
MAX_ROUNDS = 8
# Longer than the sender's Lambda timeout: an older claim with no record is a crashed send.
CLAIM_TIMEOUT = timedelta(minutes=5)
# A final notice tells the customer the date their account will be referred; the referral
# decision never refers it earlier (one period, defined with the referral policy).
REFERRAL_NOTICE = FINAL_NOTICE_PERIOD

_PROVIDERS = {"email": "SES", "sms": "SNS"}


class StepInFlight(RecoupError):
    """Another job claimed this step moments ago and may be sending it: try again later
    (SQS's retry), when it is recorded, or old enough to be recorded as unknown."""


@dataclass(frozen=True, slots=True)
class _Recipient:
    """Where the step may reach the customer, and the zone its quiet hours are kept in."""

    email: str | None
    phone: str | None  # E.164
    zone: ZoneInfo
    zone_reason: str
    key: str | None  # who the shop's message log counts it against


@dataclass(frozen=True, slots=True)
class _Reach:
    """What the contact records and this job know of the customer's addresses."""

    reach: contacts.Reachability
    sent_at: list[datetime]  # the shop's messages to the customer in the last 7 days
    undeliverable: dict[str, str | None]  # channel -> why it cannot be delivered, if known


def send_job(body: str) -> StepResult:
    job = json.loads(body)
    # The two other kinds load their services when one comes: most jobs are steps.
    if job.get("kind") == job_kinds.SAMPLE:  # an admin's test message: no case
        from recoup.services import sample_sends

        sent = sample_sends.send_job(job, now=clock.now())
        return StepResult(sent.outcome, sent.detail)
    if job.get("kind") == job_kinds.MERCHANT_NOTICE:  # a notice to the merchant: no case
        from recoup.services import notifications

        done = notifications.run_job(job, now=clock.now())
        return StepResult(done.outcome, done.detail)
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
    rendered from that version. A conflict re-reads and decides again: each pass over the
    step is one decision of a change of the case (`store.change`). A promise to pay's
    entries in the due index come here too: its nudge and its check."""
    if step == store.PROMISE_CHECK:
        return customer_requests.check_promise(shop, case_id, now=now)
    if step == store.PROMISE_NUDGE:
        return _send_one_off(shop, case_id, one_off.PROMISE_NUDGE, now)
    if step == store.PLAN_NOTICE:
        return _send_one_off(shop, case_id, one_off.PLAN_NOTICE, now)
    if step == store.COURTESY:
        return _send_one_off(shop, case_id, one_off.COURTESY, now)
    if step == store.CANCEL_NOTICE:
        return _send_one_off(shop, case_id, one_off.CANCEL_NOTICE, now)
    undeliverable: dict[str, str] = {}  # channel -> why, learned by this job
    # The case, the reminder policy and the page link in one read; the policy holds for
    # the job, and the link is made once for it.
    first, docs, link = case_reads.for_send(shop, case_id)
    page = page_links.MessageLink(link, read=True)
    with policies.held(shop, docs):
        return store.change(
            shop,
            case_id,
            lambda prior: _pass(prior, shop, step, now, undeliverable, page),
            now=now,
            first=first,
            attempts=MAX_ROUNDS,
        )


def _pass(
    prior: StoredCase | None,
    shop: str,
    step: int,
    now: datetime,
    undeliverable: dict[str, str],
    page: page_links.MessageLink,
) -> store.Decision[StepResult]:
    """One pass over the step with the case as read: a result, a step not sent to write, or
    ReadAgain when something changed or was learned. A step that goes is claimed, sent and
    recorded within the pass (`_send`): the claim is its own conditional write, and each
    write after the provider call lands through `step_outcomes`."""
    if prior is None or prior.dunning is None:
        return StepResult("stale", "no such case or no reminders")
    if not shops.is_installed(shop):
        # Uninstalling stops every sequence; this catches a job queued just before.
        return StepResult("stale", f"{shop} is not installed: nothing is sent")
    dunning = prior.dunning
    # Claimed and not recorded: by a job sending it now, or one that stopped; whatever the
    # sequence's state since (a promise or report may have paused it meanwhile).
    if dunning.claimed_step >= step and dunning.next_step == step and dunning.claimed_at:
        return _claimed_before(prior, dunning, shop, step, now)
    if not dunning.can_claim(step):
        return StepResult("stale", f"step {step} is not due (next {dunning.next_step})")
    shop_item = shops.get(shop)
    policy = reminder_policy(shop, shop_item, dunning)
    if step >= len(policy.steps):
        return finish_sequence(prior, step, now, "the policy has fewer steps now")
    recipient = _recipient(prior.case, policy)
    reach = _reach(shop, recipient, now, undeliverable)
    decision = guardrails.decide(_send_check(prior, policy, step, recipient, reach, now))
    if isinstance(decision, guardrails.Defer):
        held = _held(prior, policy.steps[step], decision.code, decision.channel)
        return _deferred(prior, step, now, decision, recipient.zone, held)
    if isinstance(decision, guardrails.Skip):
        held = _held(prior, policy.steps[step], decision.code)
        return skip(prior, step, now, decision.reason, policy, held=held)
    policy_step = policy.steps[step]
    # The step a broken promise or a broken plan resumed at says so.
    broken = (
        Situation.PROMISE_BROKEN
        if dunning.resumed_after_promise == step
        else Situation.PLAN_BROKEN
        if dunning.resumed_after_plan == step
        else None
    )
    outgoing = _compose(
        decision.channel,
        prior,
        policy_step,
        step,
        shop_item,
        recipient,
        reach,
        now,
        page,
        situation=broken,
    )
    return _send(prior, dunning, step, now, policy, recipient, reach, outgoing, undeliverable)


def _claimed_before(
    prior: StoredCase, dunning: Dunning, shop: str, step: int, now: datetime
) -> StepResult:
    """The step is claimed already: by a job sending it now, or by one that stopped after
    the provider call (never recorded), whose step is recorded with an unknown outcome."""
    claimed_at = dunning.claimed_at or now
    if now - claimed_at < CLAIM_TIMEOUT:
        return StepResult("in_flight", f"step {step + 1} is being sent by another job")
    policy = reminder_policy(shop, shops.get(shop), dunning)
    lost = Delivered("unknown", "", "", "", outcome="unknown", why_unknown="the sender stopped")
    recorded = record(prior, step, lost, now, policy)
    if recorded.outcome == "sent":  # counted once, by the job that recorded it
        _count_unknown("unknown")
    return recorded


def _recipient(case: Case, policy: cadence.ReminderPolicy) -> _Recipient:
    customer = case.snapshot.customer if case.snapshot else None
    country = customer.country if customer else None
    phone = normalise_phone(customer.phone if customer else None, country)
    zone, zone_reason = customer_zone(
        country=country,
        province=customer.province if customer else None,
        phone=phone,
        shop_timezone=policy.shop_timezone,
        rule=policy.timezone_rule,
    )
    email = customer.email if customer else None
    return _Recipient(email, phone, zone, zone_reason, customer_key(case))


def _reach(
    shop: str, recipient: _Recipient, now: datetime, undeliverable: dict[str, str]
) -> _Reach:
    """The contact records and the message log in one read; an email address no provider
    would accept is found here, before any provider sees it (SES would refuse it every
    time), and marked undeliverable."""
    email = recipient.email
    reach, sent_at = contacts.before_send(shop, email, recipient.phone, recipient.key, now=now)
    if email and "email" not in undeliverable and not reach.email_undeliverable:
        from recoup.channels import mime

        problem = mime.address_problem(email)
        if problem is not None:
            mark_undeliverable(shop, email, "email", problem, now)
            undeliverable["email"] = problem
    known = {
        "email": undeliverable.get("email") or reach.email_undeliverable,
        "sms": undeliverable.get("sms") or reach.sms_undeliverable,
    }
    return _Reach(reach, sent_at, known)


def _send_check(
    prior: StoredCase,
    policy: cadence.ReminderPolicy,
    step: int,
    recipient: _Recipient,
    found: _Reach,
    now: datetime,
) -> guardrails.SendCheck:
    case, reach = prior.case, found.reach
    return guardrails.SendCheck(
        case_open=case.status is CaseStatus.OPEN,
        fraud_hold=fraud_hold(prior),
        amount_owed=case.amount_owed,
        policy=policy,
        step=policy.steps[step],
        email=recipient.email,
        phone_e164=recipient.phone,
        email_opted_out=reach.email_opted_out,
        sms_opted_out=reach.sms_opted_out,
        email_suppressed=reach.email_suppressed,
        email_undeliverable=found.undeliverable["email"],
        sms_undeliverable=found.undeliverable["sms"],
        sent_at=found.sent_at,
        zone=recipient.zone,
        now=now,
        preferences=reach.preferences,  # read with the flags, in the same BatchGetItem
    )


def _deferred(
    prior: StoredCase,
    step: int,
    now: datetime,
    decision: guardrails.Defer,
    zone: ZoneInfo,
    held: tuple[StepChannel, HeldReason],
) -> store.Change[StepResult]:
    local = decision.until.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    until = decision.until
    return hold(
        prior,
        step,
        now,
        "deferred",
        f"step {step + 1} held back: {decision.reason}; moved to {local}",
        lambda d: d.schedule(step, until),
        held=held,
    )


def _held(
    prior: StoredCase,
    policy_step: cadence.Step,
    code: guardrails.HoldCode | None,
    chosen: guardrails.SendChannel | None = None,
) -> tuple[StepChannel, HeldReason]:
    """A guardrail's hold as RemindersHeld counts it: the channel it would have used (the
    policy's choice when none was chosen yet) and the reason, a dispute told apart from the
    other fraud holds."""
    channel: StepChannel = chosen or cast(StepChannel, str(policy_step.channel))
    if code == "fraud_review" and prior.case.dispute_open:
        return channel, "dispute"
    # The guardrails' codes are the catalogue's words; one it lacks is counted as "other".
    return channel, cast(HeldReason, code or "other")


def _compose(
    channel: str,
    stored: StoredCase,
    policy_step: cadence.Step,
    step: int,
    shop_item: ShopItem | None,
    recipient: _Recipient,
    found: _Reach,
    now: datetime,
    page: page_links.MessageLink,
    situation: Situation | None = None,
) -> Outgoing:
    """The message with its signed links (and, for a final notice, what it announces):
    everything short of sending it, in the language the customer chose if they did;
    `situation` words it for a moment of the customer's own (a promise due or broken)
    rather than the case's payment situation."""
    case = stored.case
    address = recipient.email if channel == "email" else recipient.phone
    assert address is not None  # the guardrails chose a channel the customer can be reached on
    settings = get_settings()
    token = links.sign_unsubscribe(
        case.shop, contacts.contact_hash(address), now=now, secret=settings.link_secrets()[0]
    )
    base = settings.public_base_url()
    signed = Links(
        unsubscribe=links.unsubscribe_url(base, token),
        pay=_pay_url(case, now, base) if policy_step.pay_link else None,
        page=page.for_message(stored, now),
    )
    return compose(
        channel,
        address,
        case,
        policy_step,
        step,
        shop_item,
        reply_to=shops.reply_address(shop_item),
        links=signed,
        notice=_final_notice(case, policy_step, recipient.zone, now),
        from_address=settings.require("sender_address"),
        situation=situation,
        language=found.reach.preferences.language,
        plan=plan_notice(stored.dunning, recipient.zone),
        zone=recipient.zone,
    )


def _pay_url(case: Case, now: datetime, base: str) -> str:
    """The case's pay link: `<base>/pay/<signed token>`. What it opens is decided on the
    click (`services.pay_links`): a Checkout Session for what is owed then, or the order's
    payment page, so the link works for as long as the case is open."""
    token = links.sign_pay(
        case.shop, case.case_id, now=now, secret=get_settings().link_secrets()[0]
    )
    return links.pay_url(base, token)


def _final_notice(
    case: Case, policy_step: cadence.Step, zone: ZoneInfo, now: datetime
) -> FinalNotice | None:
    """The referral date a final notice states, in the customer's zone, and what follows."""
    if policy_step.tone is not cadence.Tone.FINAL_NOTICE:
        return None
    date = (now + REFERRAL_NOTICE).astimezone(zone).date()
    return FinalNotice(date, final_notice.what_follows(case, now))


def _claim(
    prior: StoredCase, claimed: Dunning, ours: Callable[[Dunning], bool]
) -> StoredCase | store.ReadAgain:
    """Write the claim on the version read. A conflict means paid, claimed by another job or
    changed (decide again), unless this very claim landed and the SDK's retry of it met the
    version it had moved on; another error may come after DynamoDB wrote it (a timeout).
    Either way nothing was sent yet: if the claim is there, it is this job's, and the
    message goes; else the conflict is decided again, the error fails the job (SQS retries
    it)."""
    try:
        return store.save_dunning(prior, claimed)
    except store.ConcurrentUpdate:
        landed = store.claim_landed(prior, ours)
        return store.ReadAgain() if landed is None else landed
    except Exception:
        landed = store.claim_landed(prior, ours)
        if landed is None:
            raise
        return landed


def _send(
    prior: StoredCase,
    dunning: Dunning,
    step: int,
    now: datetime,
    policy: cadence.ReminderPolicy,
    recipient: _Recipient,
    found: _Reach,
    outgoing: Outgoing,
    undeliverable: dict[str, str],
) -> StepResult | store.ReadAgain:
    """Claim the step, make the one provider call and record its outcome."""
    claimed = _claim(
        prior,
        dunning.claim(step, now),  # the at-most-once gate
        lambda held: (held.claimed_step, held.claimed_at) == (step, now),
    )
    if isinstance(claimed, store.ReadAgain):
        return claimed
    local = now.astimezone(recipient.zone).strftime("%Y-%m-%d %H:%M %Z")
    sent = Delivered(
        outgoing.channel,
        "",
        outgoing.template,
        f"{local}, {recipient.zone_reason}",
        outgoing.refused_template,
        notes=_fallback_notes(found, outgoing.channel, policy.steps[step]),
        locale=outgoing.locale,
        situation=outgoing.situation,
    )
    case = prior.case
    try:
        provider_id = _transmit(outgoing, case, step)
    except aws.Rejected as refusal:
        reason = f"{_PROVIDERS[outgoing.channel]} refused it ({refusal.code})"
        refused(claimed, step, outgoing.channel, outgoing.address, reason, now)
        observability.reminder_failed(_metric_channel(outgoing.channel), "refused")
        undeliverable[outgoing.channel] = reason
        return store.ReadAgain()  # the step goes by the other channel if it allows one
    except aws.OutcomeUnknown as lost:
        # It may have gone: never send it again; say so on the trail and raise the alarm.
        _count_unknown(outgoing.channel)
        why = f"the {_PROVIDERS[outgoing.channel]} answer was lost ({lost.code})"
        return record(claimed, step, replace(sent, outcome="unknown", why_unknown=why), now, policy)
    except Exception:
        # Certainly not sent (throttled, no connection, refused the request, or failed
        # before the call): give the claim back so SQS's retry can send.
        observability.reminder_failed(_metric_channel(outgoing.channel), "error")
        release(case, step, now)
        raise
    observability.reminder_sent(_metric_channel(outgoing.channel), step + 1)
    result = record(claimed, step, replace(sent, provider_id=provider_id), now, policy)
    if outgoing.channel == "sms":
        _remember_last_shop(outgoing.address, case.shop, now)
    return result


def _send_one_off(shop: str, case_id: str, one: OneOff, now: datetime) -> StepResult:
    """A message outside the sequence, at most once: the reminder the day before a promised
    date, or the notice of a missed instalment. The same checks as a step (quiet hours,
    opt-outs, the weekly cap), claimed before the one provider call, and recorded."""
    first, docs = case_reads.case_with_policies(shop, case_id, (policies.REMINDERS,))
    with policies.held(shop, docs):
        result = store.change(
            shop,
            case_id,
            lambda prior: _one_off_pass(prior, shop, one, now),
            now=now,
            first=first,
            attempts=MAX_ROUNDS,
        )
    if result.outcome == "in_flight":
        raise StepInFlight(result.detail)  # SQS redelivers; by then recorded or timed out
    return result


def _one_off_pass(
    prior: StoredCase | None, shop: str, one: OneOff, now: datetime
) -> store.Decision[StepResult]:
    dunning = prior.dunning if prior else None
    due_at = one.due_at(dunning) if dunning else None
    if prior is None or dunning is None or due_at is None:
        return StepResult("stale", f"no {one.words} is due")
    if not shops.is_installed(shop):
        return StepResult("stale", f"{shop} is not installed: nothing is sent")
    if one.claimed_at(dunning) is not None:
        return customer_requests.one_off_claimed_before(prior, one, now, CLAIM_TIMEOUT)
    if now < due_at:
        return StepResult("stale", f"the {one.words} is not due yet")
    shop_item = shops.get(shop)
    policy = reminder_policy(shop, shop_item, dunning)
    index, message = customer_requests.nudge_step(dunning, policy)
    recipient = _recipient(prior.case, policy)
    ends = one.window_ends(dunning, recipient.zone)
    if ends is not None and now >= ends:  # a late job (a redrive, an outage): no use now
        return customer_requests.one_off_held(prior, one, "it is too late", None, ends, now)
    reach = _reach(shop, recipient, now, {})
    check = replace(_send_check(prior, policy, index, recipient, reach, now), step=message)
    decision = guardrails.decide(check)
    if not isinstance(decision, guardrails.Send):
        until = decision.until if isinstance(decision, guardrails.Defer) else None
        return customer_requests.one_off_held(prior, one, decision.reason, until, ends, now)
    page = page_links.MessageLink()
    outgoing = _compose(
        decision.channel,
        prior,
        message,
        index,
        shop_item,
        recipient,
        reach,
        now,
        page,
        situation=one.situation,
    )
    claimed = _claim(
        prior,
        one.claim(dunning, now),  # the at-most-once gate
        lambda held: one.claimed_at(held) == now,
    )
    if isinstance(claimed, store.ReadAgain):
        return claimed
    return _transmit_one_off(claimed, one, outgoing, index, now)


def _transmit_one_off(
    claimed: StoredCase, one: OneOff, outgoing: Outgoing, index: int, now: datetime
) -> StepResult:
    channel = outgoing.channel
    try:
        provider_id = _transmit(outgoing, claimed.case, index)
    except aws.Rejected as refusal:
        reason = f"{_PROVIDERS[channel]} refused it ({refusal.code})"
        observability.reminder_failed(_metric_channel(channel), "refused")
        mark_undeliverable(claimed.case.shop, outgoing.address, channel, reason, now)
        return customer_requests.record_one_off(
            claimed, one, channel, "", now, outcome="refused", why=reason
        )
    except aws.OutcomeUnknown as lost:
        _count_unknown(channel)
        why = f"the {_PROVIDERS[channel]} answer was lost ({lost.code})"
        return customer_requests.record_one_off(
            claimed, one, channel, "", now, outcome="unknown", why=why
        )
    except Exception:
        observability.reminder_failed(_metric_channel(channel), "error")
        customer_requests.release_one_off(claimed.case, one, now)
        raise
    result = customer_requests.record_one_off(claimed, one, channel, provider_id, now)
    if channel == "sms":
        # HELP and a free-text opt-out's confirmation name the shop that texted last.
        _remember_last_shop(outgoing.address, claimed.case.shop, now)
    return result


def _fallback_notes(found: _Reach, channel: str, policy_step: cadence.Step) -> str:
    """Why an email-or-SMS step did not go by its first choice, for the trail."""
    if policy_step.channel is not cadence.Channel.EMAIL_THEN_SMS:
        return ""
    return "".join(
        f"; {other} undeliverable ({why})"
        for other, why in found.undeliverable.items()
        if why and other != channel
    )


def _transmit(outgoing: Outgoing, case: Case, step: int) -> str:
    """The provider call, one attempt; returns the provider's message id."""
    from recoup.integrations import ses, sns

    if isinstance(outgoing.content, bytes):
        sender = get_settings().require("sender_address")
        tags = {"shop": case.shop.replace(".", "_"), "step": str(step + 1)}
        flow = correlation.current()
        if flow is not None:
            tags[correlation.MESSAGE_ATTRIBUTE] = flow  # ses.send_raw keeps it to SES's charset
        return ses.send_raw(
            outgoing.content, from_address=sender, to_address=outgoing.address, tags=tags
        )
    return sns.send_sms(outgoing.address, outgoing.content)


def _count_unknown(channel: str) -> None:
    """One send whose outcome is unknown: an alarm watches ReminderOutcomeUnknown, on the
    service dimension alone (observability.ALARMED_METRICS); the channel (or "unknown" when
    the sender itself stopped) and the correlation id travel as metadata, not dimensions.
    RemindersFailed counts it too, by channel ("other" when the sender stopped)."""
    with single_metric(
        name="ReminderOutcomeUnknown",
        unit=MetricUnit.Count,
        value=1,
        namespace=metrics.namespace,
        default_dimensions={"service": metrics.service or "recoup"},
    ) as metric:
        metric.add_metadata(key="channel", value=channel)
        flow = correlation.current()
        if flow is not None:
            metric.add_metadata(key=correlation.METADATA_KEY, value=flow)
    observability.reminder_failed(_metric_channel(channel), "unknown")


def _metric_channel(channel: str) -> MetricChannel:
    """A channel as the catalogue takes it; the catalogue counts any other as "other"."""
    return cast(MetricChannel, channel)


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


__all__ = ["CLAIM_TIMEOUT", "StepInFlight", "StepResult", "send_job", "send_step"]
