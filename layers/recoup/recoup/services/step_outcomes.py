"""What became of a reminder step, written to its case with an audit entry: sent (or sent
with an unknown outcome), undeliverable by one channel, released for a retry, or not sent
(deferred, skipped, the sequence finished).

A write that resolves a claim must land: a claimed step is never sent again, so a claim
left unresolved would stop the sequence. It is retried here on a conflict (the case may
have been paid meanwhile: then the sequence stops) and on any other failure (a throttle
that outlasted the SDK's retries, a lost answer), re-reading each time. If it still fails,
the claim stays: the job's retry finds it and, once it is older than the sender's
CLAIM_TIMEOUT, records the step as unknown, never sending it again. Recording is
at-least-once and idempotent: a step already on the trail is not recorded twice.

Each entry written here carries the correlation id of the job that wrote it (the webhook or
scheduler run it came from), in its body: the chain hashes the whole body, so an entry with
the extra field verifies like any other, and entries written before it are unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from recoup import aws, correlation, observability
from recoup.domain import cadence
from recoup.domain.aggregate import StoredCase
from recoup.domain.audit import AuditEntry
from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import Dunning, DunningStatus, SentMessage
from recoup.domain.fraud.screening import Gate
from recoup.domain.money import Money
from recoup.observability import HeldReason, StepChannel, logger, metrics
from recoup.store import cases as store
from recoup.store import contacts, deliveries

# Tries of a write after a provider call, beyond the SDK's own retries, so a throttle does
# not leave the claim unresolved: 0.1 s between them, doubling, about 3 s in all.
WRITE_ATTEMPTS = 6
WRITE_BACKOFF_SECONDS = 0.1

Result = TypeVar("Result")
Held = tuple[StepChannel, HeldReason]  # a step a guardrail held back, as it is counted


@dataclass(frozen=True, slots=True)
class StepResult:
    outcome: str  # sent | deferred | skipped | stale | in_flight
    detail: str


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
    locale: str = ""  # what the message was written in and worded for (the case file's)
    situation: str = ""


# ---------------------------------------------------------------- after the provider call


def record(
    claimed: StoredCase,
    step: int,
    delivered: Delivered,
    now: datetime,
    policy: cadence.ReminderPolicy,
) -> StepResult:
    """Record the message and schedule what follows; the case may have been paid while we
    were sending (then the sequence stops)."""

    def decide(current: StoredCase | None) -> StepResult | store.Change[StepResult]:
        if current is None or current.dunning is None:
            return StepResult("stale", "the case is gone")
        recorded = [m for m in current.dunning.this_round if m.step == step]
        if recorded:
            ours = bool(delivered.provider_id) and recorded[0].provider_id == delivered.provider_id
            # Our own write whose answer was lost, or another job's record.
            return StepResult("sent" if ours else "stale", f"step {step + 1} was already recorded")
        return _recorded(current, current.dunning, step, delivered, now, policy)

    return land(claimed.case, decide, now, first=claimed)


def _recorded(
    current: StoredCase,
    before: Dunning,
    step: int,
    delivered: Delivered,
    now: datetime,
    policy: cadence.ReminderPolicy,
) -> store.Change[StepResult]:
    case = current.case
    channel, provider_id = delivered.channel, delivered.provider_id
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
        locale=delivered.locale,
        situation=delivered.situation,
    )
    dunning = _after_step(case, before.record(message), step, now, policy)
    summary = _sent_summary(step, delivered, owed)
    entry = _entry(current, "reminder.sent", summary, _next_words(dunning), now, step)
    key = customer_key(case)
    unknown = delivered.outcome == "unknown"
    # A message that may have gone counts towards the weekly cap like one that did.
    logged = (
        [contacts.message_logged(case.shop, key, now, case.case_id, channel)]
        if key and channel != "unknown"
        else []
    )
    # SES's and SNS's delivery reports name only this id (services.feedback).
    extra = (
        [
            deliveries.sent_item(
                channel, provider_id, shop=case.shop, case_id=case.case_id, step=step, at=now
            )
        ]
        if provider_id and not unknown
        else []
    )

    def committed() -> None:
        logger.info("Reminder recorded", extra={"case_id": case.case_id, "step": step + 1})

    return store.Change(
        case,
        entry,
        StepResult("sent", summary),
        dunning=dunning,
        extra=extra,
        updates=logged,
        after=committed,
    )


def _after_step(
    case: Case, dunning: Dunning, step: int, now: datetime, policy: cadence.ReminderPolicy
) -> Dunning:
    """The sequence after a step went: stopped for a closed case, the next step scheduled,
    or spent (waiting for the referral check)."""
    if case.status is not CaseStatus.OPEN:
        return dunning.finish(DunningStatus.STOPPED, f"case {case.status}")
    opened = dunning.starts_from(case.opened_at) if case.opened_at else None
    following = step + 1 < len(policy.steps) and opened is not None
    at = cadence.step_due_at(policy, step + 1, opened, now) if following and opened else None
    if dunning.status in _PAUSED:
        return dunning.moved_on(step + 1, at, now)
    if at is not None:
        return dunning.schedule(step + 1, at)
    return dunning.spend(now, "reminder sequence complete, still unpaid: waiting for escalation")


# A customer's promise, plan or report, or a hold, that landed while a step was being sent.
_PAUSED = (
    DunningStatus.PROMISED,
    DunningStatus.PLANNED,
    DunningStatus.HELD,
    DunningStatus.FLAGGED,
)


def _sent_summary(step: int, delivered: Delivered, owed: Money | None) -> str:
    channel = delivered.channel
    if delivered.outcome == "unknown" and channel == "unknown":
        summary = f"step {step + 1}: claimed but its outcome was not recorded; not resent"
    elif delivered.outcome == "unknown":
        summary = (
            f"step {step + 1} sent by {channel} ({owed}), outcome unknown: "
            f"{delivered.why_unknown}; not resent"
        )
    else:
        summary = (
            f"step {step + 1} sent by {channel} ({owed}) at {delivered.local_time}; "
            f"provider id {delivered.provider_id}"
        )
        if delivered.refused_template:
            summary += f"; shop template refused ({delivered.refused_template}), default used"
    return summary + delivered.notes


def refused(
    claimed: StoredCase, step: int, channel: str, address: str, reason: str, now: datetime
) -> None:
    """The provider refused the address for good: give the claim back with the reason on
    the trail (one write), then mark the address undeliverable for the shop."""
    what = "email address" if channel == "email" else "phone number"
    summary = f"step {step + 1} not sent by {channel}: the {what} is undeliverable ({reason})"

    def decide(current: StoredCase | None) -> StepResult | store.Change[StepResult]:
        if current is None or current.dunning is None:
            return StepResult("stale", "the case is gone")
        dunning = current.dunning.release(step)
        entry = _entry(current, "reminder.undeliverable", summary, _next_words(dunning), now, step)
        return store.Change(
            current.case, entry, StepResult("undeliverable", summary), dunning=dunning
        )

    land(claimed.case, decide, now, first=claimed)
    logger.info(
        "Reminder address undeliverable", extra={"case_id": claimed.case.case_id, "why": reason}
    )
    mark_undeliverable(claimed.case.shop, address, channel, reason, now)


def release(case: Case, step: int, now: datetime) -> None:
    """Give a claim back after a send that certainly did not happen, so SQS's retry can
    send; if even this cannot be written, the claim is later recorded as unknown."""

    def decide(current: StoredCase | None) -> store.Progress[None] | None:
        if current is None or current.dunning is None:
            return None
        return store.Progress(released, dunning=current.dunning.release(step))

    land(case, decide, now)


def released(_written: StoredCase) -> None:
    return None


def land(
    case: Case,
    decide: Callable[[StoredCase | None], store.Decision[Result]],
    now: datetime,
    *,
    first: StoredCase | store.Unread = store.UNREAD,
) -> Result:
    """A write that resolves a claim (a step's, a promise nudge's): tried again on any
    failure, after a backoff."""
    return store.change(
        case.shop,
        case.case_id,
        decide,
        now=now,
        first=first,
        attempts=WRITE_ATTEMPTS,
        transient=(Exception,),
        pause=_backoff,
    )


def _backoff(attempt: int) -> None:
    time.sleep(WRITE_BACKOFF_SECONDS * 2**attempt)


def mark_undeliverable(shop: str, address: str, channel: str, reason: str, now: datetime) -> None:
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


# ---------------------------------------------------------------- before any provider call


def hold(
    prior: StoredCase,
    step: int,
    now: datetime,
    outcome: str,
    summary: str,
    change: Callable[[Dunning], Dunning],
    *,
    held: Held | None = None,
) -> store.Change[StepResult]:
    """A step not sent (deferred or skipped), written on the version that was read; if that
    changed meanwhile (a payment, another job), the step is decided again. `held`: a
    guardrail's hold, counted once the write lands."""
    before = prior.dunning_or_raise()
    if prior.case.status is not CaseStatus.OPEN:
        dunning = before.finish(DunningStatus.STOPPED, f"case {prior.case.status}")
    else:
        dunning = change(before)
    entry = _entry(prior, f"reminder.{outcome}", summary, _next_words(dunning), now, step)

    def committed() -> None:
        logger.info("Reminder held back", extra={"case_id": prior.case.case_id, "why": summary})
        if held is not None:
            observability.reminder_held(*held)

    return store.Change(
        prior.case, entry, StepResult(outcome, summary), dunning=dunning, after=committed
    )


def skip(
    prior: StoredCase,
    step: int,
    now: datetime,
    reason: str,
    policy: cadence.ReminderPolicy,
    *,
    held: Held | None = None,
) -> store.Change[StepResult]:
    case = prior.case

    def after(dunning: Dunning) -> Dunning:
        if case.dispute_open:
            return dunning.hold("dispute", reason)
        if fraud_hold(prior):
            return dunning.hold("fraud", reason)
        if case.amount_owed is None or not cadence.chasable(policy, case.amount_owed):
            return dunning.finish(DunningStatus.NOT_CHASED, reason)
        if step + 1 < len(policy.steps) and case.opened_at is not None:
            # This step cannot reach the customer; the next may (another channel).
            opened = dunning.starts_from(case.opened_at)
            due = cadence.step_due_at(policy, step + 1, opened, now)
            return dunning.schedule(step + 1, due, reason)
        return dunning.spend(now, f"{reason}; waiting for escalation")

    summary = f"step {step + 1} not sent: {reason}"
    return hold(prior, step, now, "skipped", summary, after, held=held)


def finish_sequence(
    prior: StoredCase, step: int, now: datetime, reason: str
) -> store.Change[StepResult]:
    return hold(prior, step, now, "skipped", reason, lambda d: d.spend(now, reason))


# ---------------------------------------------------------------- shared by the sender


def fraud_hold(stored: StoredCase) -> bool:
    """Reminders may not go: a dispute, an early fraud warning, or the screening's gate."""
    case, screening = stored.case, stored.screening
    if case.fraud_warning or case.dispute_open:
        return True
    return screening is not None and screening.gate is not Gate.RUN


def customer_key(case: Case) -> str | None:
    """Who the shop's message log counts the message against."""
    customer = case.snapshot.customer if case.snapshot else None
    if customer is None:
        return None
    return customer.customer_id or customer.email or customer.phone


def _next_words(dunning: Dunning) -> str:
    if dunning.due and dunning.next_at is not None:
        return f"step {dunning.next_step + 1} due {dunning.next_at.strftime('%Y-%m-%d %H:%M')} UTC"
    return dunning.reason or str(dunning.status)


def _entry(
    prior: StoredCase, kind: str, summary: str, effect: str, now: datetime, step: int
) -> AuditEntry:
    entry = store.recoup_entry(
        prior,
        source="recoup",
        kind=kind,
        event_id=f"recoup:{kind}:{prior.case.case_id}:{step}:{now.isoformat()}",
        summary=summary,
        effect=effect,
        now=now,
    )
    flow = correlation.current()
    if flow is None:
        return entry
    body = {**entry.body, "correlation_id": flow}
    return AuditEntry.following(prior.audit_seq, entry.prev_hash, body)
