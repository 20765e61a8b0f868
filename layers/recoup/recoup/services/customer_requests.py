"""The customer's requests from their page, each one change of the case: a promise to pay
by a date, or a report ("I already paid", "I dispute this", "I didn't place this order");
and the promise's course afterwards, run by the sender from the due index: its nudge the
day before (claimed, sent at most once, recorded) and its check once the date has passed.

The rules are `domain.customer_requests`'. A request lands in one transaction with its audit
entry (source "customer", a salted digest of the request, no personal data) and, through
the waiting marker (`store.waiting`), the merchant's notice: a report makes the case wait
for the merchant ("not mine" at once, like a fraud decision).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta

from recoup import correlation
from recoup.domain import cadence
from recoup.domain import customer_requests as rules
from recoup.domain.aggregate import StoredCase
from recoup.domain.audit import AuditEntry
from recoup.domain.case import Case, CaseStatus
from recoup.domain.customer_requests import CustomerOptions, Decided, RequestMeta
from recoup.domain.dunning import Dunning
from recoup.domain.one_off import OneOff
from recoup.errors import NotFound
from recoup.observability import logger
from recoup.services.reminder_plan import followed, reminder_policy
from recoup.services.step_outcomes import StepResult, customer_key, land, released
from recoup.store import cases as store
from recoup.store import contacts, shops


class UnknownCase(NotFound):
    """No such case in this shop."""


# ---------------------------------------------------------------- the page's requests


def options(
    stored: StoredCase, policy: cadence.ReminderPolicy, *, now: datetime
) -> CustomerOptions:
    """What the customer's page offers for this case now."""
    return rules.options(stored, policy, now=now)


def promise(
    shop: str, case_id: str, *, pay_by: date, note: str, meta: RequestMeta, now: datetime
) -> StoredCase:
    """The customer promises to pay by `pay_by` (their local date): the reminders pause
    until then. InvalidInput (field "pay_by" or "note"), RequestRefused, UnknownCase."""
    text = rules.clean_note(note)
    how = rules.clean_meta(meta)
    salt = secrets.token_hex(16)
    policy = reminder_policy(shop, shops.get(shop))

    def decide(stored: StoredCase | None) -> store.Change[bool]:
        found = _found(stored, case_id)
        request = rules.new_request(found.dunning, rules.PROMISE, text, how, now, salt)
        return _change(
            found,
            "customer.promise",
            rules.promise(found, followed(policy, found.dunning), pay_by, request, now),
        )

    return _applied(shop, case_id, decide, now)


def report(
    shop: str, case_id: str, kind: str, *, note: str, meta: RequestMeta, now: datetime
) -> StoredCase:
    """The customer reports `kind` (REPORT_KINDS): the reminders pause and the merchant is
    told; "not_mine" also sends the case to fraud review. InvalidInput (field "kind" or
    "note"), RequestRefused, UnknownCase."""
    rules.check_kind(kind)
    text = rules.clean_note(note)
    how = rules.clean_meta(meta)
    salt = secrets.token_hex(16)

    def decide(stored: StoredCase | None) -> store.Change[bool]:
        found = _found(stored, case_id)
        request = rules.new_request(found.dunning, kind, text, how, now, salt)
        return _change(found, f"customer.{kind}", rules.report(found, kind, request, now))

    return _applied(shop, case_id, decide, now)


def _found(stored: StoredCase | None, case_id: str) -> StoredCase:
    if stored is None or stored.case.merged_into is not None or not stored.case.opened:
        raise UnknownCase(f"no case {case_id} in this shop")
    return stored


def _change(stored: StoredCase, kind: str, decided: Decided) -> store.Change[bool]:
    request = decided.request
    entry = entry_for(
        stored,
        kind,
        decided.summary,
        decided.effect,
        request.at,
        event_id=f"customer:{kind}:{stored.case.case_id}:{request.id}",
        extra={"request_id": request.id, "request_digest": rules.request_digest(request)},
    )

    def committed() -> None:
        logger.info("Customer request", extra={"case_id": stored.case.case_id, "kind": kind})

    return store.Change(
        stored.case,
        entry,
        True,
        dunning=decided.dunning,
        screening=decided.screening,
        after=committed,
    )


def _applied(
    shop: str,
    case_id: str,
    decide: Callable[[StoredCase | None], store.Decision[bool]],
    now: datetime,
) -> StoredCase:
    changed: bool = store.change(shop, case_id, decide, now=now)
    written = store.load(shop, case_id)
    assert changed and written is not None  # just written
    return written


# ---------------------------------------------------------------- the promise's check


def check_promise(shop: str, case_id: str, *, now: datetime) -> StepResult:
    """The promised date has passed (with its grace day) and the case is still open: the
    promise is broken, on the trail, and the sequence resumes where it paused."""
    policy = reminder_policy(shop, shops.get(shop))

    def decide(stored: StoredCase | None) -> StepResult | store.Change[StepResult]:
        dunning = stored.dunning if stored else None
        promised = dunning.promise_in_force if dunning else None
        if stored is None or dunning is None or promised is None:
            return StepResult("stale", "no promise to pay in force")
        if stored.case.status is not CaseStatus.OPEN:
            return StepResult("stale", f"case {stored.case.status}")
        if now < promised.check_at:
            return StepResult("stale", "the promise is not due for its check yet")
        opened = dunning.starts_from(stored.case.opened_at or now)
        after = rules.broken(dunning, followed(policy, dunning), opened, now)
        summary = f"the promise to pay by {promised.pay_by.isoformat()} was not kept"
        entry = entry_for(
            stored,
            "customer.promise_broken",
            summary,
            next_words(after),
            now,
            event_id=f"recoup:promise_broken:{stored.case.case_id}:{promised.request_id}",
            source="recoup",
        )
        return store.Change(stored.case, entry, StepResult("promise_broken", summary), after)

    return store.change(shop, case_id, decide, now=now)


# ---------------------------------------------------------------- the promise's nudge


def nudge_step(dunning: Dunning, policy: cadence.ReminderPolicy) -> tuple[int, cadence.Step]:
    """The nudge as a step: by the channel of the step the sequence paused at (the last, if
    it was spent), friendly, with a pay link. The index is the paused step's: the step
    number a template shows, and the step whose send checks (quiet hours, opt-outs) apply."""
    index = min(dunning.next_step, len(policy.steps) - 1)
    paused = policy.steps[index]
    friendly = replace(paused, template="friendly", tone=cadence.Tone.FRIENDLY, pay_link=True)
    return index, friendly


def one_off_claimed_before(
    prior: StoredCase, one: OneOff, now: datetime, claim_timeout: timedelta
) -> StepResult | store.Change[StepResult]:
    """The message is claimed already: by a job sending it now (in flight), or by one that
    stopped after the provider call, whose message is recorded with an unknown outcome."""
    claimed_at = one.claimed_at(prior.dunning_or_raise())
    if claimed_at is not None and now - claimed_at < claim_timeout:
        return StepResult("in_flight", f"the {one.words} is being sent by another job")
    summary = f"{one.words}: claimed but its outcome was not recorded; not resent"
    return _one_off_recorded(prior, one, summary, now, channel=None, outcome="unknown")


def one_off_held(
    prior: StoredCase,
    one: OneOff,
    reason: str,
    until: datetime | None,
    zone_end: datetime | None,
    now: datetime,
) -> store.Change[StepResult]:
    """The message may not go now: deferred to `until` if that is still before it is of no
    use (`zone_end`; None: no limit), else passed over, with the reason on the trail."""
    dunning = prior.dunning_or_raise()
    if until is not None and (zone_end is None or until < zone_end):
        moved = one.move(dunning, until)
        summary = f"{one.words} held back: {reason}; moved to {until:%Y-%m-%d %H:%M} UTC"
        outcome = "deferred"
    else:
        moved = one.move(dunning, None)
        summary = f"{one.words} not sent: {reason}"
        outcome = "skipped"
    entry = entry_for(
        prior,
        f"customer.{one.kind}_{outcome}",
        summary,
        next_words(moved),
        now,
        event_id=f"recoup:{one.kind}_{outcome}:{prior.case.case_id}:{now.isoformat()}",
        source="recoup",
    )
    return store.Change(prior.case, entry, StepResult(outcome, summary), moved)


def record_one_off(
    claimed: StoredCase,
    one: OneOff,
    channel: str,
    provider_id: str,
    now: datetime,
    *,
    outcome: str = "sent",
    why: str = "",
) -> StepResult:
    """The message after its provider call: on the trail, counted towards the weekly cap,
    and never sent again (also when its outcome is unknown). Written until it lands."""
    if outcome == "unknown":
        summary = f"{one.words} sent by {channel}, outcome unknown: {why}; not resent"
    elif outcome == "refused":
        summary = f"{one.words} not sent by {channel}: {why}"
    else:
        summary = f"{one.words} sent by {channel}; provider id {provider_id}"

    def decide(current: StoredCase | None) -> StepResult | store.Change[StepResult]:
        dunning = current.dunning if current else None
        if current is None or dunning is None or one.claimed_at(dunning) is None:
            return StepResult("stale", f"the {one.words} was recorded already")
        logged = channel if outcome != "refused" else None
        return _one_off_recorded(current, one, summary, now, channel=logged, outcome=outcome)

    return land(claimed.case, decide, now, first=claimed)


def _one_off_recorded(
    current: StoredCase,
    one: OneOff,
    summary: str,
    now: datetime,
    *,
    channel: str | None,
    outcome: str,
) -> store.Change[StepResult]:
    dunning = one.move(current.dunning_or_raise(), None)
    case = current.case
    key = customer_key(case)
    # A message that may have gone counts towards the weekly cap like one that did.
    logged = (
        [contacts.message_logged(case.shop, key, now, case.case_id, channel)]
        if key and channel
        else []
    )
    entry = entry_for(
        current,
        f"customer.{one.kind}",
        summary,
        next_words(dunning),
        now,
        event_id=f"recoup:{one.kind}:{case.case_id}:{now.isoformat()}",
        source="recoup",
    )
    result = StepResult("sent" if outcome != "refused" else "skipped", summary)
    return store.Change(case, entry, result, dunning=dunning, updates=logged)


def release_one_off(case: Case, one: OneOff, now: datetime) -> None:
    """Give the message's claim back after a send that certainly did not happen."""

    def decide(current: StoredCase | None) -> store.Progress[None] | None:
        if current is None or current.dunning is None:
            return None
        return store.Progress(released, dunning=one.release(current.dunning))

    land(case, decide, now)


# ---------------------------------------------------------------- the trail


def entry_for(
    stored: StoredCase,
    kind: str,
    summary: str,
    effect: str,
    now: datetime,
    *,
    event_id: str,
    source: str = "customer",
    extra: dict[str, object] | None = None,
) -> AuditEntry:
    entry = store.recoup_entry(
        stored, source=source, kind=kind, event_id=event_id, summary=summary, effect=effect, now=now
    )
    body = {**entry.body, **(extra or {})}
    flow = correlation.current()
    if flow is not None:
        body["correlation_id"] = flow
    return AuditEntry.following(stored.audit_seq, entry.prev_hash, body)


def next_words(dunning: Dunning) -> str:
    if dunning.due and dunning.next_at is not None:
        return f"step {dunning.next_step + 1} due {dunning.next_at:%Y-%m-%d %H:%M} UTC"
    due = dunning.promise_due
    if due is not None:
        what = "reminder of the promise" if due[1] else "promise checked"
        return f"{what} {due[0]:%Y-%m-%d %H:%M} UTC"
    planned = dunning.plan_due
    if planned is not None:
        what = _PLAN_WORK.get(planned[1], planned[1])
        return f"{what} {planned[0]:%Y-%m-%d %H:%M} UTC"
    return dunning.reason or str(dunning.status)


_PLAN_WORK = {
    "notice": "notice of the missed instalment",
    "charge": "next instalment charged",
    "grace": "plan broken unless the missed instalment is paid by",
    "card": "plan lapses unless the card is saved by",
}


__all__ = [
    "UnknownCase",
    "check_promise",
    "entry_for",
    "next_words",
    "nudge_step",
    "one_off_claimed_before",
    "one_off_held",
    "options",
    "promise",
    "record_one_off",
    "release_one_off",
    "report",
]
