"""May this reminder go now? The check the sender makes right before sending a step.

`decide` is pure: everything it needs is in a `SendCheck`, including the current time. It
answers `Send` (on which channel), `Defer` (until when, and why) or `Skip` (why), applying
the rules in a fixed order: case open, fraud hold, amount, channel, weekly cap, quiet hours.

The customer's contact preferences (`domain/preferences.py`) join in: a channel they turned
off counts as an opt-out of it, both off skips every step, their preferred channel goes first
when the step allows either, and the times they asked not to be contacted defer a send like
quiet hours do (to the later end of both). The reasons name the preference that decided.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, TypeAlias
from zoneinfo import ZoneInfo

from recoup.domain.cadence import WEEK, Channel, QuietHours, ReminderPolicy, Step
from recoup.domain.money import Money
from recoup.domain.preferences import AvoidWindow, ContactPreferences

SendChannel: TypeAlias = Literal["email", "sms"]
# Why a step is held back, one stable word per rule, for counting (the words of
# recoup.observability's HeldReason; a test holds the two together).
HoldCode: TypeAlias = Literal[
    "case_closed",
    "fraud_review",
    "amount_unknown",
    "nothing_owed",
    "below_minimum",
    "no_address",
    "opted_out",
    "suppressed",
    "undeliverable",
    "weekly_cap",
    "quiet_hours",
]

_E164 = re.compile(r"\+[1-9]\d{6,14}")
_SCAN_STEP = timedelta(hours=6)
# How far ahead a free moment (outside quiet hours and the customer's avoided windows, both
# weekly at most) is looked for: past a week and a day there is none.
_FREE_HORIZON_DAYS = 9


@dataclass(frozen=True, slots=True, kw_only=True)
class SendCheck:
    """Everything the decision depends on, as the sender sees it right now."""

    case_open: bool
    fraud_hold: bool  # held for fraud review, or flagged (dispute, early fraud warning)
    amount_owed: Money | None
    policy: ReminderPolicy
    step: Step
    email: str | None
    phone_e164: str | None
    email_opted_out: bool
    sms_opted_out: bool
    email_suppressed: bool  # on the bounce or complaint list
    # Why the address or number cannot be delivered to at all (refused by the provider or
    # not a valid address); None: deliverable as far as we know. Treated like suppression.
    email_undeliverable: str | None = None
    sms_undeliverable: str | None = None
    # This customer's messages, any channel, any case of the shop; the last 7 days suffice.
    sent_at: Sequence[datetime]
    zone: ZoneInfo  # the customer's zone (recoup.domain.timezones.customer_zone)
    now: datetime
    preferences: ContactPreferences = field(default_factory=ContactPreferences)

    def __post_init__(self) -> None:
        object.__setattr__(self, "now", _utc(self.now, "now"))
        object.__setattr__(self, "sent_at", tuple(_utc(at, "sent_at") for at in self.sent_at))


@dataclass(frozen=True, slots=True)
class Send:
    channel: SendChannel


@dataclass(frozen=True, slots=True)
class Defer:
    until: datetime  # UTC
    reason: str
    # `decide` sets both; decisions compare by what they say (until, reason).
    code: HoldCode | None = field(default=None, compare=False)
    channel: SendChannel | None = field(default=None, compare=False)  # the one it would use

    def __post_init__(self) -> None:
        object.__setattr__(self, "until", _utc(self.until, "until"))


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str
    code: HoldCode | None = field(default=None, compare=False)  # `decide` sets it


Decision: TypeAlias = Send | Defer | Skip


def decide(check: SendCheck) -> Decision:
    """Send, defer or skip this step now. The rules, in order: the case must be open and not
    held for fraud; the amount owed known and at least the shop's minimum; some channel the
    step allows usable (not opted out, turned off, suppressed or undeliverable; the
    customer's preferred one first); the weekly cap not reached; and neither quiet hours
    where the customer is nor a time they asked not to be contacted.
    """
    if not check.case_open:
        return Skip("case is no longer open", "case_closed")
    if check.fraud_hold:
        return Skip("held for fraud review", "fraud_review")
    owed = check.amount_owed
    if owed is None:
        return Skip("the amount owed is unknown", "amount_unknown")
    if owed.minor <= 0:
        return Skip(f"owes nothing ({owed})", "nothing_owed")
    minimum = check.policy.minimum(owed.currency)
    if owed.minor < minimum.minor:
        return Skip(f"owes {owed}, below the shop's minimum of {minimum}", "below_minimum")

    if check.preferences.no_messages:
        # Counted as an opt-out: the customer turned off every channel.
        return Skip(_NO_MESSAGES, "opted_out")
    channel = _channel(check)
    if isinstance(channel, Skip):
        return channel
    return _when(check, channel)


_NO_MESSAGES = "customer asked for no messages (email and SMS off in their contact preferences)"


def _when(check: SendCheck, channel: SendChannel) -> Decision:
    """Send now, or defer for the weekly cap, quiet hours or the customer's avoided times."""
    quiet = check.policy.quiet_hours
    zone = check.zone
    avoid = check.preferences.avoid
    cap = check.policy.weekly_cap
    recent = sorted(at for at in check.sent_at if at > check.now - WEEK)
    if len(recent) >= cap:
        # The count drops below the cap once all but cap - 1 of these are a week old.
        frees_at = recent[len(recent) - cap] + WEEK
        free = next_free(frees_at, zone, quiet, avoid)
        if free is None:
            return Skip(_no_free_time(zone, avoid), "quiet_hours")
        until = free[0]
        local = until.astimezone(zone)
        return Defer(
            until,
            f"weekly cap of {cap} message{'s' if cap != 1 else ''} reached "
            f"({len(recent)} in the last 7 days); "
            f"next possible at {local:%Y-%m-%d %H:%M} {_zone_name(zone)}",
            "weekly_cap",
            channel,
        )

    free = next_free(check.now, zone, quiet, avoid)
    if free is None:
        return Skip(_no_free_time(zone, avoid), "quiet_hours")
    until, avoided = free
    if until == check.now:
        return Send(channel)
    local = until.astimezone(zone)
    if not avoided:
        reason = f"quiet hours in {_zone_name(zone)} until {local:%H:%M}"
        return Defer(until, reason, "quiet_hours", channel)
    # Counted with quiet hours (a customer's own quiet time); the reason tells them apart.
    quiet_first = quiet.contains(check.now.astimezone(zone).time())
    reason = (
        ("quiet hours, then " if quiet_first else "")
        + "the customer asked not to be contacted "
        + ", ".join(w.describe() for w in avoided)
        + f" ({_zone_name(zone)}); next possible at {local:%Y-%m-%d %H:%M}"
    )
    return Defer(until, reason, "quiet_hours", channel)


def _no_free_time(zone: ZoneInfo, avoid: Sequence[AvoidWindow]) -> str:
    return (
        "the times the customer asked not to be contacted ("
        + ", ".join(w.describe() for w in avoid)
        + f", {_zone_name(zone)}) and the shop's quiet hours leave no time to send"
    )


def next_free(
    now: datetime, zone: ZoneInfo, quiet: QuietHours, avoid: Sequence[AvoidWindow]
) -> tuple[datetime, tuple[AvoidWindow, ...]] | None:
    """The first instant from `now` (UTC) outside both quiet hours and the customer's avoided
    windows in `zone`, with the windows that held it back (none: quiet hours alone, or
    `now` itself); None when they leave no time within a week.

    Found like `next_allowed`'s end: a blocked stretch ends at a wall time that ends a
    quiet period or a window (resolved on the local calendar, so across clock changes an
    end the clocks skip is the first instant after the gap, and one they repeat is its
    first occurrence still ahead), or at a clock change that throws the wall clock out of
    them first."""
    at = _utc(now, "now")
    if not avoid:
        return next_allowed(at, zone, quiet), ()

    def holding(instant: datetime) -> list[AvoidWindow]:
        local = instant.astimezone(zone)
        return [w for w in avoid if w.contains(local)]

    def blocked(instant: datetime) -> bool:
        local = instant.astimezone(zone)
        return quiet.contains(local.time()) or any(w.contains(local) for w in avoid)

    if not blocked(at):
        return at, ()
    held = {w: None for w in holding(at)}  # in order, once each
    today = at.astimezone(zone).date()
    ends = {w.end for w in avoid} | ({quiet.end} if quiet.span else set())
    candidates = sorted(
        instant
        for days in range(-1, _FREE_HORIZON_DAYS)
        for end in ends
        for instant in _instants(today + timedelta(days=days), end, zone)
        if instant > at
    )
    free = None
    for candidate in candidates:
        if not blocked(candidate):
            free = candidate
            break
        held.update({w: None for w in holding(candidate)})
    if free is None:
        return None
    for change in _transitions(at, free, zone):
        if not blocked(change):
            free = change
            break
    return free, tuple(held)


def next_allowed(now: datetime, zone: ZoneInfo, quiet: QuietHours) -> datetime:
    """`now` (in UTC) when it is outside quiet hours in `zone`; else the end of the quiet
    period: the first instant the local wall clock reads a time outside them, in UTC.

    Quiet hours are wall-clock times, so the end is found on the local calendar and then
    resolved to an instant: an end time the clocks skip (spring forward) resolves to the
    first instant after the gap; an end time that happens twice (fall back) to the first of
    its occurrences still ahead. An end that lands in quiet hours again (a clock change ate
    the day's allowed window) moves on to the next day's; a clock change that throws the
    wall clock back out of quiet hours before their end ends them there.
    """
    at = _utc(now, "now")
    if not quiet.contains(at.astimezone(zone).time()):
        return at
    today = at.astimezone(zone).date()
    end = next(
        (
            instant
            for days in range(-1, 8)
            for instant in _instants(today + timedelta(days=days), quiet.end, zone)
            if instant >= at and not quiet.contains(instant.astimezone(zone).time())
        ),
        None,
    )
    if end is None:
        # Unreachable with a valid QuietHours (at least an hour a day is allowed, and no
        # zone changes its clocks on eight days in a row): refuse rather than send at night.
        raise ValueError(f"no time outside quiet hours in {_zone_name(zone)} within a week")
    # Leaving quiet hours without reaching their end takes a clock change.
    for change in _transitions(at, end, zone):
        if not quiet.contains(change.astimezone(zone).time()):
            return change
    return end


def _channel(check: SendCheck) -> SendChannel | Skip:
    email_problem = _email_problem(check)
    sms_problem = _sms_problem(check)
    wanted = check.step.channel
    if wanted is Channel.EMAIL:
        return "email" if email_problem is None else Skip(*_customer(email_problem))
    if wanted is Channel.SMS:
        return "sms" if sms_problem is None else Skip(*_customer(sms_problem))
    # Either channel: the customer's preferred one first, else email first.
    first: tuple[SendChannel, _Problem | None] = ("email", email_problem)
    second: tuple[SendChannel, _Problem | None] = ("sms", sms_problem)
    if check.preferences.preferred == "sms":
        first, second = second, first
    for chosen, problem in (first, second):
        if problem is None:
            return chosen
    first_problem, second_problem = first[1], second[1]
    assert first_problem is not None and second_problem is not None
    # Counted by the first choice's problem; the reason names both.
    return Skip(f"customer {first_problem[1]} and {second_problem[1]}", first_problem[0])


_Problem: TypeAlias = tuple[HoldCode, str]


def _customer(problem: _Problem) -> tuple[str, HoldCode]:
    code, words = problem
    return f"customer {words}", code


def _email_problem(check: SendCheck) -> _Problem | None:
    if not check.email or not check.email.strip():
        return "no_address", "has no email address"
    if check.email_opted_out:
        return "opted_out", "opted out of email"
    if not check.preferences.email:
        return "opted_out", "turned email off in their contact preferences"
    if check.email_suppressed:
        return "suppressed", "has a suppressed email address (bounce or complaint)"
    if check.email_undeliverable:
        return "undeliverable", f"has an undeliverable email address ({check.email_undeliverable})"
    return None


def _sms_problem(check: SendCheck) -> _Problem | None:
    if not check.phone_e164 or not check.phone_e164.strip():
        return "no_address", "has no phone number"
    if not _E164.fullmatch(check.phone_e164):
        return "no_address", "has no valid phone number"
    if check.sms_opted_out:
        return "opted_out", "opted out of SMS"
    if not check.preferences.sms:
        return "opted_out", "turned SMS off in their contact preferences"
    if check.sms_undeliverable:
        return "undeliverable", f"has an undeliverable phone number ({check.sms_undeliverable})"
    return None


def _instants(day: date, wall: time, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants at which the local clock in `zone` reads `wall` on `day`: one
    normally, two when the clocks go back over it, and, when the clocks skip it, the
    first instant after the gap."""
    found: set[datetime] = set()
    tries: list[datetime] = []
    for fold in (0, 1):
        local = datetime.combine(day, wall, tzinfo=zone).replace(fold=fold)
        instant = local.astimezone(UTC)
        tries.append(instant)
        if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None, fold=0):
            found.add(instant)
    if found:
        return sorted(found)
    return [_transition(min(tries), max(tries), zone)]


def _transition(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """The instant the UTC offset of `zone` changes, between `before` (old offset) and
    `after` (new offset): a binary search to the second (offsets change on whole seconds)."""
    old = before.astimezone(zone).utcoffset()
    lo, hi = math.floor(before.timestamp()), math.floor(after.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(zone).utcoffset() == old:
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(hi, UTC)


def _transitions(start: datetime, stop: datetime, zone: ZoneInfo) -> list[datetime]:
    """The instants in (start, stop] at which `zone` changes its UTC offset, looked for in
    six-hour steps (no zone changes its clocks twice in six hours)."""
    found: list[datetime] = []
    lo = start
    while lo < stop:
        hi = min(lo + _SCAN_STEP, stop)
        if lo.astimezone(zone).utcoffset() != hi.astimezone(zone).utcoffset():
            found.append(_transition(lo, hi, zone))
        lo = hi
    return found


def _zone_name(zone: ZoneInfo) -> str:
    return zone.key or str(zone)


def _utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


__all__ = [
    "Decision",
    "Defer",
    "HoldCode",
    "Send",
    "SendChannel",
    "SendCheck",
    "Skip",
    "decide",
    "next_allowed",
    "next_free",
]
