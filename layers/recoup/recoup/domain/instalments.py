"""Instalment plans: what a shop allows, what a customer may choose within it, the schedule
they agree to, and the plan's course (card saved, instalments charged, one missed, the plan
kept, broken or lapsed).

Pure. The rules:
- a plan is offered only while the case takes requests, the shop allows plans
  (`InstalmentTerms.enabled`), has Stripe connected (the card is saved at Stripe and later
  instalments are charged off-session), the amount owed is at least the shop's minimum in
  its currency, and no plan was made before for the case;
- the customer picks the number of instalments (2 to `max_count`) and the interval (of the
  shop's `intervals`); the first is due today (`first_due_now`) or on a start date they
  pick within `START_DAYS`; the last must fall within `max_days` of the first, and every
  instalment must be at least `min_instalment` in the case's currency;
- amounts are integer minor units: the total split evenly, the remainder on the first
  instalment, so the instalments always add up to what is owed;
- an instalment is charged at 10:00 the customer's time on its date; a failed one is told to
  the customer once (with a link to pay it) and waits `grace_days`: paid meanwhile, the plan
  goes on; not, the plan is broken, and the sequence resumes where it paused or escalates
  (`on_broken`). No later instalment is charged while one is missed, so the last one's
  payment means the whole plan is paid;
- a plan whose card is not saved within `CARD_WITHIN` (Checkout's own session lifetime) lapses
  and the reminders resume.
"""

from __future__ import annotations

import calendar
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from recoup.domain.fields import FieldError, is_int, join_path, show
from recoup.domain.money import Money, MoneyError, normalise_currency
from recoup.errors import InvalidInput

if TYPE_CHECKING:
    from recoup.domain.case import PlanPayment

MIN_COUNT = 2
MAX_COUNT_LIMIT = 24
DEFAULT_MAX_COUNT = 4
MIN_DAYS_LIMIT = 7
MAX_DAYS_LIMIT = 365
DEFAULT_MAX_DAYS = 90
MIN_GRACE_DAYS = 1
MAX_GRACE_DAYS = 30
DEFAULT_GRACE_DAYS = 7
START_DAYS = 14  # a start date the customer picks, when the first is not due now
CHARGE_TIME = time(10, 0)  # the customer's local time on an instalment's date
CARD_WITHIN = timedelta(hours=24)  # a Checkout Session's lifetime
TERMS_VERSION = "plan-terms-1"


class TermsError(FieldError):
    """Invalid plan or settlement terms; `field` is a path inside them."""


class Interval(StrEnum):
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    MONTHLY = "monthly"


class OnBroken(StrEnum):
    RESUME = "resume"  # the reminders resume at the step where they paused
    ESCALATE = "escalate"  # straight to the referral check


@dataclass(frozen=True, slots=True)
class InstalmentTerms:
    """What a shop allows. Amount limits are per currency in minor units: a currency without
    a minimum has none."""

    enabled: bool = False
    min_amount: dict[str, int] = field(default_factory=dict, hash=False)
    min_instalment: dict[str, int] = field(default_factory=dict, hash=False)
    max_count: int = DEFAULT_MAX_COUNT
    intervals: tuple[Interval, ...] = (Interval.BIWEEKLY, Interval.MONTHLY)
    max_days: int = DEFAULT_MAX_DAYS
    first_due_now: bool = True
    grace_days: int = DEFAULT_GRACE_DAYS
    on_broken: OnBroken = OnBroken.RESUME


_TERMS_KEYS = (
    "enabled",
    "min_amount",
    "min_instalment",
    "max_count",
    "intervals",
    "max_days",
    "first_due_now",
    "grace_days",
    "on_broken",
)


def parse_terms(raw: object) -> InstalmentTerms:
    """The terms as the admin API and the table hold them; TermsError naming the field."""
    data = _object(raw, "")
    _known(data, _TERMS_KEYS)
    defaults = InstalmentTerms()
    intervals_raw = data.get("intervals", [str(i) for i in defaults.intervals])
    if not isinstance(intervals_raw, list | tuple) or not intervals_raw:
        raise TermsError("intervals", f"must be a non-empty list, got {show(intervals_raw)}")
    intervals: list[Interval] = []
    for i, value in enumerate(intervals_raw):
        try:
            interval = Interval(value)
        except ValueError:
            allowed = ", ".join(str(v) for v in Interval)
            raise TermsError(f"intervals[{i}]", f"must be one of {allowed}") from None
        if interval not in intervals:
            intervals.append(interval)
    try:
        on_broken = OnBroken(data.get("on_broken", str(defaults.on_broken)))
    except ValueError:
        raise TermsError("on_broken", "must be resume or escalate") from None
    return InstalmentTerms(
        enabled=_bool(data, "enabled", defaults.enabled),
        min_amount=minor_amounts(data.get("min_amount", {}), "min_amount"),
        min_instalment=minor_amounts(data.get("min_instalment", {}), "min_instalment"),
        max_count=_int(data, "max_count", defaults.max_count, MIN_COUNT, MAX_COUNT_LIMIT),
        intervals=tuple(sorted(intervals, key=list(Interval).index)),
        max_days=_int(data, "max_days", defaults.max_days, MIN_DAYS_LIMIT, MAX_DAYS_LIMIT),
        first_due_now=_bool(data, "first_due_now", defaults.first_due_now),
        grace_days=_int(data, "grace_days", defaults.grace_days, MIN_GRACE_DAYS, MAX_GRACE_DAYS),
        on_broken=on_broken,
    )


def terms_to_dict(terms: InstalmentTerms) -> dict[str, Any]:
    return {
        "enabled": terms.enabled,
        "min_amount": dict(sorted(terms.min_amount.items())),
        "min_instalment": dict(sorted(terms.min_instalment.items())),
        "max_count": terms.max_count,
        "intervals": [str(i) for i in terms.intervals],
        "max_days": terms.max_days,
        "first_due_now": terms.first_due_now,
        "grace_days": terms.grace_days,
        "on_broken": str(terms.on_broken),
    }


# ---------------------------------------------------------------- the schedule


@dataclass(frozen=True, slots=True)
class Scheduled:
    """One instalment as agreed: its number (from 1), the customer's local date, the amount."""

    number: int
    due_on: date
    amount: Money


def instalment_dates(first_on: date, interval: Interval, count: int) -> tuple[date, ...]:
    """The dates of `count` instalments from `first_on`; monthly ones keep the day of the
    month, or the month's last day when it is shorter (31 January, 28 February, 31 March)."""
    if interval is Interval.MONTHLY:
        return tuple(_add_months(first_on, k) for k in range(count))
    step = timedelta(days=7 if interval is Interval.WEEKLY else 14)
    return tuple(first_on + step * k for k in range(count))


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def split(total: Money, count: int) -> tuple[Money, ...]:
    """`total` in `count` instalments of whole minor units that add up to it: the same
    amount each, the remainder on the first."""
    base, remainder = divmod(total.minor, count)
    return tuple(
        Money.of(base + (remainder if k == 0 else 0), total.currency) for k in range(count)
    )


def schedule(total: Money, count: int, interval: Interval, first_on: date) -> tuple[Scheduled, ...]:
    amounts = split(total, count)
    dates = instalment_dates(first_on, interval, count)
    return tuple(Scheduled(k + 1, dates[k], amounts[k]) for k in range(count))


@dataclass(frozen=True, slots=True)
class PlanChoices:
    """What the customer's page offers: for each interval the shop allows, the largest
    number of instalments within every limit (at least 2), and the start dates allowed."""

    counts: dict[Interval, int]
    first_due_now: bool
    earliest_start: date
    latest_start: date
    min_instalment: Money | None
    max_days: int


def offer_refusal(terms: InstalmentTerms, owed: Money | None, stripe_connected: bool) -> str | None:
    """Why no plan is offered for this amount; None: one is."""
    if not terms.enabled:
        return "the shop does not offer instalment plans"
    if not stripe_connected:
        return "instalment plans need the shop's Stripe account connected"
    if owed is None or owed.minor <= 0:
        return "nothing is owed"
    minimum = terms.min_amount.get(owed.currency, 0)
    if owed.minor < minimum:
        return f"plans start at {Money.of(minimum, owed.currency)}"
    if not choices_for(terms, owed, date(2000, 1, 1)).counts:
        return "this amount is too small to split within the shop's limits"
    return None


def choices_for(terms: InstalmentTerms, owed: Money, today: date) -> PlanChoices:
    counts: dict[Interval, int] = {}
    for interval in terms.intervals:
        best = 0
        for count in range(MIN_COUNT, terms.max_count + 1):
            if _problem(terms, owed, count, interval, today) is None:
                best = count
        if best:
            counts[interval] = best
    minimum = terms.min_instalment.get(owed.currency)
    earliest = today if terms.first_due_now else today + timedelta(days=1)
    latest = today if terms.first_due_now else today + timedelta(days=START_DAYS)
    return PlanChoices(
        counts=counts,
        first_due_now=terms.first_due_now,
        earliest_start=earliest,
        latest_start=latest,
        min_instalment=Money.of(minimum, owed.currency) if minimum else None,
        max_days=terms.max_days,
    )


def _problem(
    terms: InstalmentTerms, owed: Money, count: int, interval: Interval, first_on: date
) -> tuple[str, str] | None:
    """(field, why) the choice is outside the terms; None: within them."""
    if not MIN_COUNT <= count <= terms.max_count:
        return "count", f"must be between {MIN_COUNT} and {terms.max_count}"
    if interval not in terms.intervals:
        allowed = ", ".join(str(i) for i in terms.intervals)
        return "interval", f"must be one of {allowed}"
    dates = instalment_dates(first_on, interval, count)
    if (dates[-1] - dates[0]).days > terms.max_days:
        return "count", f"the plan must end within {terms.max_days} days of its first payment"
    minimum = terms.min_instalment.get(owed.currency, 1)
    if min(a.minor for a in split(owed, count)) < minimum:
        return "count", f"each instalment must be at least {Money.of(minimum, owed.currency)}"
    return None


def check_choice(
    terms: InstalmentTerms,
    owed: Money,
    count: object,
    interval: object,
    start: date | None,
    today: date,
) -> tuple[Scheduled, ...]:
    """The schedule the customer chose, or InvalidInput naming the field ("count",
    "interval", "start") that is outside the shop's terms."""
    if not is_int(count):
        raise InvalidInput("must be a whole number", field="count")
    try:
        chosen = Interval(str(interval))
    except ValueError:
        raise InvalidInput(
            f"must be one of {', '.join(str(i) for i in terms.intervals)}", field="interval"
        ) from None
    first_on = _start(terms, start, today)
    problem = _problem(terms, owed, int(str(count)), chosen, first_on)
    if problem is not None:
        raise InvalidInput(problem[1], field=problem[0])
    return schedule(owed, int(str(count)), chosen, first_on)


def _start(terms: InstalmentTerms, start: date | None, today: date) -> date:
    if terms.first_due_now:
        return today
    if start is None:
        raise InvalidInput("choose the date of the first payment", field="start")
    latest = today + timedelta(days=START_DAYS)
    if not today < start <= latest:
        raise InvalidInput(f"must be from tomorrow to {latest.isoformat()}", field="start")
    return start


def terms_digest(
    *,
    shop: str,
    case_id: str,
    instalments: tuple[Scheduled, ...],
    interval: Interval,
    locale: str,
) -> str:
    """SHA-256 of what the customer agreed to: the versioned terms text (rendered from
    exactly these facts in the customer's language), the schedule and the shop."""
    content = {
        "terms": TERMS_VERSION,
        "locale": locale,
        "shop": shop,
        "case": case_id,
        "interval": str(interval),
        "schedule": [
            [s.number, s.due_on.isoformat(), s.amount.minor, s.amount.currency] for s in instalments
        ],
    }
    body = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


# ---------------------------------------------------------------- the plan's state


class PlanStatus(StrEnum):
    AWAITING_CARD = "awaiting_card"  # agreed; the card is saved at Checkout (first paid there)
    ACTIVE = "active"  # the card is saved: instalments are charged on their dates
    COMPLETED = "completed"  # every instalment paid (the case is paid)
    BROKEN = "broken"  # an instalment stayed unpaid past the grace days
    LAPSED = "lapsed"  # the card was never saved in time
    ENDED = "ended"  # the case closed otherwise (paid in full, cancelled, handed over)


@dataclass(frozen=True, slots=True)
class Instalment:
    number: int
    due_on: date  # the customer's local date
    due_at: datetime  # when it is charged: CHARGE_TIME on that date, their zone, in UTC
    amount_minor: int
    paid_at: datetime | None = None
    payment_intent: str | None = None
    failed_at: datetime | None = None  # the first failure, while unpaid
    failed_intents: tuple[str, ...] = ()  # each failed charge's PaymentIntent, once
    code: str | None = None  # the last decline code

    @property
    def failures(self) -> int:
        return len(self.failed_intents)

    @property
    def paid(self) -> bool:
        return self.paid_at is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "due_on": self.due_on.isoformat(),
            "due_at": self.due_at.isoformat(),
            "amount_minor": self.amount_minor,
            "paid_at": _iso(self.paid_at),
            "payment_intent": self.payment_intent,
            "failed_at": _iso(self.failed_at),
            "failed_intents": list(self.failed_intents),
            "code": self.code,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Instalment:
        return cls(
            number=int(data["number"]),
            due_on=date.fromisoformat(str(data["due_on"])),
            due_at=datetime.fromisoformat(str(data["due_at"])),
            amount_minor=int(data["amount_minor"]),
            paid_at=_when(data.get("paid_at")),
            payment_intent=data.get("payment_intent"),
            failed_at=_when(data.get("failed_at")),
            failed_intents=tuple(str(p) for p in data.get("failed_intents") or ()),
            code=data.get("code"),
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """A plan agreed on the customer's page, kept with the reminder progress."""

    id: str  # "p1": the case's first (and only) plan
    request_id: str  # the customer request that made it (Dunning.requests: IP, user agent)
    currency: str
    interval: Interval
    instalments: tuple[Instalment, ...]
    terms_digest: str
    made_at: datetime
    status: PlanStatus = PlanStatus.AWAITING_CARD
    locale: str = "en"
    stripe_customer: str | None = None  # "cus_..." on the shop's connected account
    payment_method: str | None = None  # "pm_...": the card saved for the plan
    # The missed instalment's message to the customer: due at, claimed at (at most once).
    notice_at: datetime | None = None
    notice_claimed_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str = ""

    @property
    def total(self) -> Money:
        return Money.of(sum(i.amount_minor for i in self.instalments), self.currency)

    @property
    def paid(self) -> Money:
        return Money.of(sum(i.amount_minor for i in self.instalments if i.paid), self.currency)

    @property
    def card_by(self) -> datetime:
        return self.made_at + CARD_WITHIN

    @property
    def missed(self) -> Instalment | None:
        """The instalment that failed and is still unpaid."""
        return next((i for i in self.instalments if i.failed_at and not i.paid), None)

    @property
    def next_unpaid(self) -> Instalment | None:
        return next((i for i in self.instalments if not i.paid), None)

    def instalment(self, number: int) -> Instalment | None:
        return next((i for i in self.instalments if i.number == number), None)

    def grace_ends(self, grace_days: int) -> datetime | None:
        missed = self.missed
        return (
            missed.failed_at + timedelta(days=grace_days) if missed and missed.failed_at else None
        )

    def due(self, grace_days: int) -> tuple[datetime, str] | None:
        """What the plan next needs, and when: ("notice", the missed instalment's message),
        ("charge"/"grace"/"card", the plan's job); None: nothing (ended)."""
        if self.status is PlanStatus.AWAITING_CARD:
            return self.card_by, "card"
        if self.status is not PlanStatus.ACTIVE:
            return None
        if self.notice_at is not None:
            return self.notice_at, "notice"
        grace = self.grace_ends(grace_days)
        if grace is not None:
            return grace, "grace"
        upcoming = self.next_unpaid
        return (upcoming.due_at, "charge") if upcoming else None

    # -- changes

    def with_instalment(self, updated: Instalment) -> Plan:
        return replace(
            self,
            instalments=tuple(
                updated if i.number == updated.number else i for i in self.instalments
            ),
        )

    def card_saved(self, payment_method: str | None, customer: str | None) -> Plan:
        """The card is saved (Checkout completed): the plan runs."""
        status = PlanStatus.ACTIVE if self.status is PlanStatus.AWAITING_CARD else self.status
        return replace(
            self,
            status=status,
            payment_method=payment_method or self.payment_method,
            stripe_customer=customer or self.stripe_customer,
        )

    def paid_instalment(self, number: int, payment_intent: str | None, at: datetime) -> Plan:
        found = self.instalment(number)
        if found is None or found.paid:
            return self
        plan = self.with_instalment(replace(found, paid_at=at, payment_intent=payment_intent))
        # Its message is no longer needed when the missed one is now paid.
        if plan.missed is None:
            plan = replace(plan, notice_at=None, notice_claimed_at=None)
        if plan.next_unpaid is None:
            plan = replace(plan, status=PlanStatus.COMPLETED, ended_at=at, end_reason="paid")
        return plan

    def failed_instalment(
        self, number: int, payment_intent: str, code: str | None, at: datetime
    ) -> Plan:
        """A charge of `number` failed (once per PaymentIntent, however often it is told):
        the customer is told once, and the grace days run from its first failure."""
        found = self.instalment(number)
        if found is None or found.paid or payment_intent in found.failed_intents:
            return self
        first = found.failed_at is None
        updated = replace(
            found,
            failed_at=found.failed_at or at,
            failed_intents=(*found.failed_intents, payment_intent),
            code=code or found.code,
        )
        plan = self.with_instalment(updated)
        return replace(plan, notice_at=at) if first else plan

    def claim_notice(self, now: datetime) -> Plan:
        if self.notice_at is None or self.notice_claimed_at is not None:
            raise ValueError("no instalment notice can be claimed")
        return replace(self, notice_claimed_at=now)

    def release_notice(self) -> Plan:
        return replace(self, notice_claimed_at=None)

    def notice_done(self) -> Plan:
        return replace(self, notice_at=None, notice_claimed_at=None)

    def move_notice(self, at: datetime) -> Plan:
        return replace(self, notice_at=at, notice_claimed_at=None)

    def ended(self, status: PlanStatus, now: datetime, reason: str) -> Plan:
        return replace(
            self,
            status=status,
            ended_at=now,
            end_reason=reason,
            notice_at=None,
            notice_claimed_at=None,
        )

    def stopped(self, reason: str) -> Plan:
        """Ended by what ended the reminders (the case closed or written off); a plan whose
        last instalment was paid stays completed."""
        if self.status not in (PlanStatus.AWAITING_CARD, PlanStatus.ACTIVE):
            return self
        return replace(
            self, status=PlanStatus.ENDED, end_reason=reason, notice_at=None, notice_claimed_at=None
        )

    def without_card(self, reason: str) -> Plan:
        """Without the saved card and the Stripe customer; a plan in force ends."""
        return replace(self, payment_method=None, stripe_customer=None).stopped(reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request_id": self.request_id,
            "currency": self.currency,
            "interval": str(self.interval),
            "instalments": [i.to_dict() for i in self.instalments],
            "terms_digest": self.terms_digest,
            "made_at": self.made_at.isoformat(),
            "status": str(self.status),
            "locale": self.locale,
            "stripe_customer": self.stripe_customer,
            "payment_method": self.payment_method,
            "notice_at": _iso(self.notice_at),
            "notice_claimed_at": _iso(self.notice_claimed_at),
            "ended_at": _iso(self.ended_at),
            "end_reason": self.end_reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        return cls(
            id=str(data["id"]),
            request_id=str(data.get("request_id") or ""),
            currency=str(data["currency"]),
            interval=Interval(str(data["interval"])),
            instalments=tuple(Instalment.from_dict(i) for i in data.get("instalments") or ()),
            terms_digest=str(data.get("terms_digest") or ""),
            made_at=datetime.fromisoformat(str(data["made_at"])),
            status=PlanStatus(str(data.get("status") or PlanStatus.AWAITING_CARD)),
            locale=str(data.get("locale") or "en"),
            stripe_customer=data.get("stripe_customer"),
            payment_method=data.get("payment_method"),
            notice_at=_when(data.get("notice_at")),
            notice_claimed_at=_when(data.get("notice_claimed_at")),
            ended_at=_when(data.get("ended_at")),
            end_reason=str(data.get("end_reason") or ""),
        )


def new_plan(
    plan_id: str,
    request_id: str,
    agreed: tuple[Scheduled, ...],
    interval: Interval,
    zone: ZoneInfo,
    digest: str,
    locale: str,
    now: datetime,
) -> Plan:
    """The plan as agreed. A first instalment due today is paid at Checkout (due now); the
    others are charged at CHARGE_TIME on their dates in the customer's zone."""
    instalments = tuple(
        Instalment(
            number=s.number,
            due_on=s.due_on,
            due_at=now if s.due_on <= now.astimezone(zone).date() else charge_time(s.due_on, zone),
            amount_minor=s.amount.minor,
        )
        for s in agreed
    )
    return Plan(
        id=plan_id,
        request_id=request_id,
        currency=agreed[0].amount.currency,
        interval=interval,
        instalments=instalments,
        terms_digest=digest,
        made_at=now,
        locale=locale,
    )


def follow_payments(
    plan: Plan, payments: Iterable[PlanPayment], closed: str | None, now: datetime
) -> Plan:
    """The plan after what Stripe reported of its payments (the case's set, applied whole:
    each change is idempotent, so the result does not depend on how often it is applied),
    and ended when the case closed (`closed`: why; None while it is open). A failure during
    Checkout is Checkout's to retry: only a failed charge of a running plan counts."""
    for payment in sorted(payments):
        if payment.plan_id != plan.id:
            continue
        if payment.succeeded:
            if payment.payment_method:
                plan = plan.card_saved(payment.payment_method, payment.customer)
            if payment.number > 0:
                plan = plan.paid_instalment(payment.number, payment.intent, payment.at)
        elif payment.number > 0 and plan.status is PlanStatus.ACTIVE:
            plan = plan.failed_instalment(payment.number, payment.intent, payment.code, payment.at)
    if closed is not None and plan.status in (PlanStatus.AWAITING_CARD, PlanStatus.ACTIVE):
        done = plan.next_unpaid is None
        plan = plan.ended(PlanStatus.COMPLETED if done else PlanStatus.ENDED, now, closed)
    return plan


def charge_time(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, CHARGE_TIME, tzinfo=zone).astimezone(UTC)


def idempotency_key(shop: str, case_id: str, plan: Plan, instalment: Instalment) -> str:
    """One charge per instalment and failure count: a retried job replays the same charge at
    Stripe; a charge after a failure (a later retry) is a new one."""
    return f"recoup:plan:{shop}:{case_id}:{plan.id}:{instalment.number}:{instalment.failures}"


# ---------------------------------------------------------------- helpers


def minor_amounts(value: object, path: str) -> dict[str, int]:
    """A mapping of ISO currency to a non-negative number of minor units."""
    if not isinstance(value, Mapping):
        raise TermsError(path, f"must be a mapping of currency to minor units, got {show(value)}")
    amounts: dict[str, int] = {}
    given: dict[str, str] = {}
    for key, minor in value.items():
        where = join_path(path, str(key))
        try:
            code = normalise_currency(str(key))
        except MoneyError as exc:
            raise TermsError(where, str(exc)) from None
        if code in amounts:
            raise TermsError(where, f"{code} is given twice (as {given[code]!r} and {key!r})")
        given[code] = str(key)
        if not is_int(minor) or minor < 0:
            raise TermsError(
                where, f"must be a non-negative integer of minor units, got {show(minor)}"
            )
        amounts[code] = int(minor)
    return amounts


def _object(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TermsError(path, f"must be an object, got {show(value)}")
    return value


def _known(data: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise TermsError(unknown[0], f"unknown key; allowed keys are {', '.join(sorted(allowed))}")


def _bool(data: Mapping[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise TermsError(key, f"must be true or false, got {show(value)}")
    return value


def _int(data: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = data.get(key, default)
    if not is_int(value) or not low <= value <= high:
        raise TermsError(key, f"must be an integer between {low} and {high}, got {show(value)}")
    return int(value)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _when(value: object) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None
