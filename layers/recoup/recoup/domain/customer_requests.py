"""What a customer may ask from their page, and what each request does to the case: a
promise to pay by a date, or a report ("I already paid", "I dispute this", "I didn't place
this order").

Pure. The rules:
- a request is taken only while the case is open and neither referred nor written off;
- a promise date runs from the customer's tomorrow (in their zone) to the shop's limit
  (`ReminderPolicy.promise_max_days`; 0: no promises), one promise in force at a time, and
  none after a promise was broken; it pauses a running sequence, with one nudge at 10:00 the
  day before (none for a promise for tomorrow), and is checked once the promised day is
  over plus a grace day (a payment may take a day to land);
- a report holds a running sequence for the merchant; "not mine" also sends the case to
  fraud review, so a possible victim is never chased;
- a note is at most 1000 characters, stripped, without control characters.

A request's personal data (the note, IP address, user agent) is kept in the reminder
progress (`Dunning.requests`), where erasure redacts it; the audit entry holds a salted
digest of it, which proves the record without revealing it.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from recoup.domain.aggregate import StoredCase
from recoup.domain.cadence import ReminderPolicy
from recoup.domain.case import CaseStatus
from recoup.domain.dunning import CustomerRequest, Dunning, DunningStatus, Promised
from recoup.domain.fraud.result import FraudLevel, FraudResult, Reason
from recoup.domain.fraud.screening import Gate, Screening
from recoup.domain.timezones import zone_of_customer
from recoup.errors import Conflict, InvalidInput

REPORT_KINDS = ("already_paid", "dispute", "not_mine")
PROMISE = "promise"  # the kind of a promise's request record
MAX_NOTE = 1000
# How much of what identifies a request is kept: an IPv6 address is at most 45 characters;
# a user agent is cut (browsers send a few hundred at most).
MAX_IP = 45
MAX_USER_AGENT = 512
NUDGE_TIME = time(10, 0)  # the customer's local time, the day before the promised date
GRACE = timedelta(days=1)  # after the promised day ends, before the promise counts as broken
NOT_MINE_RULE = "customer_not_mine"

# Why the reminders are paused, as the customer's page says it (English key text; the page
# translates by kind).
PAUSED_REASONS = {
    "already_paid": "You told us you already paid",
    "dispute": "You told us you dispute this",
    "not_mine": "You told us you did not place this order",
}
_REPORT_WORDS = {
    "already_paid": "says they already paid",
    "dispute": "disputes what is owed",
    "not_mine": "says they did not place this order",
}
# Direction overrides and isolates: invisible, and able to make a note read differently.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_ALLOWED_CONTROLS = frozenset("\n\r\t")


class RequestRefused(Conflict):
    """The case's state does not take this request now; the message says why."""

    code = "request_refused"


@dataclass(frozen=True, slots=True)
class RequestMeta:
    """How a request reached us: personal data, kept with the request and erasable."""

    ip: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class Promise:
    pay_by: date
    made_at: datetime
    note: str = ""


@dataclass(frozen=True, slots=True)
class CustomerOptions:
    """What the customer's page offers now."""

    promise_latest: date | None  # the latest date a promise may name; None: none offered
    promise: Promise | None  # the promise in force, if any
    reports: tuple[str, ...]  # report kinds the customer may still send
    paused_reason: str | None  # why the reminders wait for the customer's report


# ---------------------------------------------------------------- input


def clean_note(note: str) -> str:
    """The note stripped; InvalidInput (field "note") when too long or holding control
    characters (line breaks and tabs are text)."""
    if not isinstance(note, str):
        raise InvalidInput("must be text", field="note")
    text = note.strip()
    if len(text) > MAX_NOTE:
        raise InvalidInput(f"must be at most {MAX_NOTE} characters", field="note")
    for char in text:
        control = unicodedata.category(char) == "Cc" and char not in _ALLOWED_CONTROLS
        if control or char in _BIDI_CONTROLS:
            raise InvalidInput("must not contain control characters", field="note")
    return text


def clean_meta(meta: RequestMeta) -> RequestMeta:
    """Bounded and printable: what the trail's digest and the record hold."""
    return RequestMeta(_printable(meta.ip, MAX_IP), _printable(meta.user_agent, MAX_USER_AGENT))


def _printable(value: str | None, limit: int) -> str | None:
    if not value:
        return None
    text = "".join(c for c in value if c.isprintable())[:limit].strip()
    return text or None


def check_kind(kind: str) -> str:
    if kind not in REPORT_KINDS:
        raise InvalidInput(f"must be one of {', '.join(REPORT_KINDS)}", field="kind")
    return kind


# ---------------------------------------------------------------- time


def customer_zone_of(stored: StoredCase, policy: ReminderPolicy) -> ZoneInfo:
    """The customer's zone, as the sender's quiet hours reckon it."""
    snapshot = stored.case.snapshot
    return zone_of_customer(snapshot.customer if snapshot else None, policy)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


# ---------------------------------------------------------------- what is allowed


def refusal(stored: StoredCase) -> str | None:
    """Why the case takes no request at all now; None: it takes them."""
    case = stored.case
    if case.status is not CaseStatus.OPEN or not case.opened or case.merged_into is not None:
        return f"this order is {case.status}: there is nothing to ask"
    referrals = stored.referrals
    if referrals is not None and referrals.written_off is not None:
        return "the shop has closed this account"
    latest = referrals.latest if referrals else None
    if latest is not None and latest.active:
        return "this account was passed on by the shop: please contact the shop"
    return None


def promise_refusal(stored: StoredCase, policy: ReminderPolicy) -> str | None:
    """Why no promise to pay may be made now; None: one may."""
    why = refusal(stored)
    if why is not None:
        return why
    if policy.promise_max_days == 0:
        return "the shop does not take promises to pay"
    dunning = stored.dunning
    if dunning is None:
        return "there are no reminders to pause"
    if dunning.promises_broken:
        return "a promise to pay was already made and not kept: please pay now or contact the shop"
    in_force = dunning.promise_in_force
    if in_force is not None:
        return f"a promise to pay by {in_force.pay_by.isoformat()} is already in force"
    if dunning.status not in (DunningStatus.SCHEDULED, DunningStatus.AWAITING_ESCALATION):
        return "the reminders are paused already"
    return None


def latest_promise_date(today: date, policy: ReminderPolicy) -> date:
    return today + timedelta(days=policy.promise_max_days)


def check_pay_by(pay_by: date, today: date, policy: ReminderPolicy) -> date:
    """`pay_by` if it is from tomorrow up to the shop's limit; else InvalidInput."""
    if not isinstance(pay_by, date) or isinstance(pay_by, datetime):
        raise InvalidInput("must be a date (YYYY-MM-DD)", field="pay_by")
    latest = latest_promise_date(today, policy)
    if pay_by <= today:
        raise InvalidInput("must be from tomorrow on", field="pay_by")
    if pay_by > latest:
        raise InvalidInput(f"must be no later than {latest.isoformat()}", field="pay_by")
    return pay_by


def options(stored: StoredCase, policy: ReminderPolicy, *, now: datetime) -> CustomerOptions:
    dunning = stored.dunning
    today = now.astimezone(customer_zone_of(stored, policy)).date()
    latest = latest_promise_date(today, policy) if promise_refusal(stored, policy) is None else None
    in_force = dunning.promise_in_force if dunning else None
    promise = (
        Promise(in_force.pay_by, in_force.made_at, _note_of(dunning, in_force.request_id))
        if dunning is not None and in_force is not None
        else None
    )
    sent = {r.kind for r in dunning.requests} if dunning else set()
    reports = () if refusal(stored) else tuple(k for k in REPORT_KINDS if k not in sent)
    paused = PAUSED_REASONS.get(dunning.report) if dunning else None
    return CustomerOptions(latest, promise, reports, paused)


def _note_of(dunning: Dunning, request_id: str) -> str:
    return next((r.note for r in dunning.requests if r.id == request_id), "")


# ---------------------------------------------------------------- the requests


@dataclass(frozen=True, slots=True)
class Decided:
    """What a request changes: the reminders, the screening (None: unchanged), and the
    words and digest of its audit entry."""

    dunning: Dunning
    screening: Screening | None
    summary: str
    effect: str
    request: CustomerRequest


def new_request(
    dunning: Dunning | None, kind: str, note: str, meta: RequestMeta, now: datetime, salt: str
) -> CustomerRequest:
    count = len(dunning.requests) if dunning else 0
    return CustomerRequest(
        id=f"r{count + 1}",
        kind=kind,
        at=now,
        note=note,
        ip=meta.ip,
        user_agent=meta.user_agent,
        salt=salt,
    )


def promise(
    stored: StoredCase,
    policy: ReminderPolicy,
    pay_by: date,
    request: CustomerRequest,
    now: datetime,
) -> Decided:
    """The promise made: RequestRefused or InvalidInput (field "pay_by") when not allowed."""
    why = promise_refusal(stored, policy)
    if why is not None:
        raise RequestRefused(why)
    dunning = stored.dunning
    assert dunning is not None  # promise_refusal says so otherwise
    zone = customer_zone_of(stored, policy)
    today = now.astimezone(zone).date()
    check_pay_by(pay_by, today, policy)
    eve = pay_by - timedelta(days=1)
    nudge = datetime.combine(eve, NUDGE_TIME, tzinfo=zone).astimezone(UTC) if eve > today else None
    promised = Promised(
        pay_by=pay_by,
        made_at=now,
        check_at=_local_midnight(pay_by + timedelta(days=1), zone) + GRACE,
        nudge_at=nudge,
        request_id=request.id,
    )
    summary = f"the customer promised to pay by {pay_by.isoformat()}" + _noted(request)
    when = f"a reminder on {eve.isoformat()} at 10:00 their time" if nudge else "no reminder"
    effect = f"reminders paused until then ({when}); checked {promised.check_at:%Y-%m-%d %H:%M} UTC"
    return Decided(dunning.promised(promised, request), None, summary, effect, request)


def report(stored: StoredCase, kind: str, request: CustomerRequest, now: datetime) -> Decided:
    """The report made: RequestRefused when the case takes none, or this kind was sent."""
    why = refusal(stored)
    if why is not None:
        raise RequestRefused(why)
    dunning = stored.dunning or Dunning(DunningStatus.NOT_CHASED, reason="no reminders")
    if any(r.kind == kind for r in dunning.requests):
        raise RequestRefused("you told us this already; the shop will be in touch")
    words = _REPORT_WORDS[kind]
    held = dunning.reported(kind, request, f"the customer {words}: waiting for the merchant")
    screening = _under_review(stored.screening, now) if kind == "not_mine" else None
    effect = "reminders paused; the merchant is told"
    if kind == "not_mine":
        effect = "reminders stopped; held for fraud review; the merchant is told at once"
    return Decided(held, screening, f"the customer {words}" + _noted(request), effect, request)


def _under_review(screening: Screening | None, now: datetime) -> Screening | None:
    """The screening's gate made "review" until the merchant decides again (an earlier
    approval no longer covers it); a case flagged as fraud stays flagged."""
    if screening is not None and screening.gate is Gate.FLAG:
        return None
    base = screening or Screening()
    current = base.current
    reason = Reason(
        NOT_MINE_RULE, 0, "the customer says they did not place this order", FraudLevel.REVIEW
    )
    result = FraudResult(
        score=current.score if current else 0,
        level=FraudLevel.REVIEW,
        reasons=(reason, *(r for r in (current.reasons if current else ()) if r != reason)),
        confidence=current.confidence if current else 1.0,
        notes=current.notes if current else (),
        ruleset=current.ruleset if current else "",
    )
    scored = base.scored(now, result, base.inputs_digest)
    return replace(scored, decision=None, decided_at=None, decided_by=None, note="")


def _noted(request: CustomerRequest) -> str:
    return ", with a note" if request.note else ""


def request_digest(request: CustomerRequest) -> str:
    """The audit entry's proof of the request record: SHA-256 over its salt and content."""
    content = {
        "id": request.id,
        "kind": request.kind,
        "at": request.at.isoformat(),
        "note": request.note,
        "ip": request.ip,
        "user_agent": request.user_agent,
    }
    body = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((request.salt + "\n" + body).encode()).hexdigest()


# ---------------------------------------------------------------- the promise's course


def nudge_window_ends(promised: Promised, zone: ZoneInfo) -> datetime:
    """After this the nudge is no use: it says the payment is due tomorrow, so it must go
    before the promised day begins in the customer's zone; later, it is passed over."""
    return _local_midnight(promised.pay_by, zone)


def broken(dunning: Dunning, policy: ReminderPolicy, opened_at: datetime, now: datetime) -> Dunning:
    """The promise broken: the sequence resumes at its next unsent step, due now (or at its
    own time if later), worded as a broken promise; with no step left, escalation."""
    from recoup.domain.cadence import step_due_at

    promised = dunning.promise_in_force
    day = promised.pay_by.isoformat() if promised else "the promised date"
    step = dunning.next_unsent()
    if step is None or step >= len(policy.steps):
        return dunning.break_promise(None, None, now, f"promise to pay by {day} broken")
    last_sent = dunning.sent[-1].at if dunning.sent else None
    at = step_due_at(policy, step, opened_at, last_sent)
    reason = f"promise to pay by {day} broken: step {step + 1} resumes"
    return dunning.break_promise(step, at, now, reason)


__all__ = [
    "MAX_NOTE",
    "PAUSED_REASONS",
    "REPORT_KINDS",
    "CustomerOptions",
    "Decided",
    "Promise",
    "RequestMeta",
    "RequestRefused",
    "broken",
    "check_kind",
    "check_pay_by",
    "clean_meta",
    "clean_note",
    "customer_zone_of",
    "new_request",
    "nudge_window_ends",
    "options",
    "promise",
    "promise_refusal",
    "refusal",
    "report",
    "request_digest",
]
