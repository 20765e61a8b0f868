"""Whether and when to refer one case: agency, legal, write-off, wait, or nothing.

`decide` is pure: everything it reads is in `ReferralFacts`, the shop's `ReferralPolicy` and
the current time. Its rules are in its docstring; its reasons name the amounts and the
thresholds compared ("owed 1,899.00 USD ≥ legal minimum 1,000.00 USD").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import TypeAlias
from zoneinfo import ZoneInfo

from recoup.domain.case import Case
from recoup.domain.money import Money
from recoup.domain.referral.lifecycle import Referral, ReferralStatus, as_utc
from recoup.domain.referral.policy import (
    FINAL_NOTICE_PERIOD,
    ReferralKind,
    ReferralPolicy,
    Thresholds,
    format_amount,
)


class DecisionKind(StrEnum):
    AGENCY = "agency"
    LEGAL = "legal"
    WRITE_OFF = "write_off"
    WAIT = "wait"  # one of the above is due at `not_before`
    NONE = "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferralFacts:
    """What the decision reads about one case, as the escalation job sees it now."""

    owed: Money | None  # still owed; None when nothing is
    paid: Money | None = None  # successful payments on the order so far
    refunded: Money | None = None  # refunds on the order so far
    case_open: bool = True
    dispute_open: bool = False
    merchant_hold: bool = False
    fraud_confirmed: bool = False
    fraud_flagged: bool = False  # the fraud check flagged it; the merchant has not confirmed
    # The person the order names said on their page that they did not place it: they are
    # never handed to an agency or a lawyer automatically (a victim is never chased).
    not_theirs: bool = False
    sequence_spent_at: datetime | None = None  # when the last step was sent or skipped
    final_notice_at: datetime | None = None  # when a final notice was sent
    last_referral: Referral | None = None  # the case's newest referral, if any
    email_reachable: bool = True  # False: opted out, suppressed or no address
    sms_reachable: bool = True
    # The customer's zone, in which the final notice gave its date: the referral waits
    # until that whole day is over there (None: UTC).
    customer_zone: ZoneInfo | None = None

    def __post_init__(self) -> None:
        currency = self.owed.currency if self.owed is not None else None
        for name in ("paid", "refunded"):
            value = getattr(self, name)
            if value is not None and currency is not None and value.currency != currency:
                raise ValueError(f"{name} must be in {currency}, got {value.currency}")
        for name in ("sequence_spent_at", "final_notice_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, as_utc(value, name))

    @property
    def paid_net(self) -> int:
        """Minor units the customer paid and kept paid (payments less refunds)."""
        paid = self.paid.minor if self.paid else 0
        return paid - (self.refunded.minor if self.refunded else 0)

    @property
    def agency_returned_unpaid(self) -> bool:
        last = self.last_referral
        return (
            last is not None
            and last.kind is ReferralKind.AGENCY
            and last.status is ReferralStatus.RETURNED_UNPAID
        )


_LABELS = {
    DecisionKind.AGENCY: "agency referral",
    DecisionKind.LEGAL: "legal referral",
    DecisionKind.WRITE_OFF: "write-off",
}


@dataclass(frozen=True, slots=True)
class ReferralDecision:
    kind: DecisionKind
    reason: str
    not_before: datetime | None = None  # WAIT: when `pending` becomes due
    pending: DecisionKind | None = None  # WAIT: agency, legal or write_off
    notes: tuple[str, ...] = ()  # facts the file should state (reminders undelivered)

    @property
    def referral_kind(self) -> ReferralKind | None:
        """The kind of referral to make now, if any."""
        if self.kind is DecisionKind.AGENCY:
            return ReferralKind.AGENCY
        if self.kind is DecisionKind.LEGAL:
            return ReferralKind.LEGAL
        return None


def decide(facts: ReferralFacts, policy: ReferralPolicy, now: datetime) -> ReferralDecision:
    """What to do with one case now. Rules, in order (the first that applies wins):

    1. Nothing owed, the case closed, an open dispute, a merchant's hold, or the customer
       named on the order saying they did not place it: none.
    2. A referral in progress, paid, withdrawn, or returned unpaid by legal: none (a
       withdrawn or legal-returned case is referred again only by the merchant, by hand).
    3. No thresholds for the currency: none (never refer on a guessed threshold).
    4. Fraud confirmed, or the agency returned the account unpaid: legal; write-off when
       owed < write_off_below (pursuing it would cost more than it brings).
    5. Otherwise only once the reminder sequence is spent: write-off when owed <
       write_off_below; legal when owed >= legal_minimum; agency when owed >= agency_minimum
       and the customer never paid anything (payments less refunds); else none.
    6. Agency or legal without a hand-over configured for it: none.
    7. Never before `not_before`: the later of the last step + `after_last_step_days` (rule 5
       only) and a final notice + 14 days (always); until then: wait.

    Opted-out or unreachable customers are referred all the same; the decision notes that the
    reminders could not be delivered, for the case file.
    """
    now = as_utc(now, "now")
    stopped = _stopped(facts)
    if stopped is not None:
        return ReferralDecision(DecisionKind.NONE, stopped)
    owed = facts.owed
    assert owed is not None  # _stopped refuses nothing owed
    limits = policy.thresholds_for(owed.currency)
    if limits is None:
        return ReferralDecision(
            DecisionKind.NONE,
            f"no referral thresholds for {owed.currency} in the shop's referral policy: "
            "not referred automatically",
        )
    basis = _basis(facts, policy, limits, owed)
    if isinstance(basis, str):
        return ReferralDecision(DecisionKind.NONE, basis)
    kind, reason, earliest = basis
    if (
        kind in (DecisionKind.AGENCY, DecisionKind.LEGAL)
        and policy.hand_over(ReferralKind(kind)) is None
    ):
        return ReferralDecision(
            DecisionKind.NONE,
            f"{reason}; but the shop has no {kind} hand-over configured: not referred",
        )
    notes = _notes(facts)
    if earliest is not None and now < earliest[0]:
        when = earliest[0].strftime("%Y-%m-%d %H:%M UTC")
        return ReferralDecision(
            DecisionKind.WAIT,
            f"{_LABELS[kind]} from {when} ({earliest[1]}): {reason}",
            not_before=earliest[0],
            pending=kind,
            notes=notes,
        )
    return ReferralDecision(kind, reason, notes=notes)


def _stopped(facts: ReferralFacts) -> str | None:
    owed = facts.owed
    if not facts.case_open or owed is None or owed.minor <= 0:
        return "nothing is owed: the case is closed or paid"
    if facts.dispute_open:
        return "a dispute is open: nothing happens while it lasts"
    if facts.merchant_hold:
        return "the merchant holds the case: nothing happens until it is released"
    if facts.not_theirs:
        return (
            "the customer named on the order says they did not place it: never referred "
            "automatically (only the merchant refers it, by hand)"
        )
    last = facts.last_referral
    if last is None:
        return None
    since = last.referred_at.strftime("%Y-%m-%d")
    if last.active:
        return f"already referred to {last.kind} on {since} ({last.status})"
    if last.status is ReferralStatus.PAID:
        return f"the {last.kind} referral of {since} was paid"
    if last.status is ReferralStatus.WITHDRAWN:
        return f"the {last.kind} referral of {since} was withdrawn: only the merchant refers again"
    if last.kind is ReferralKind.LEGAL:
        return f"legal returned the referral of {since} unpaid: the merchant decides what next"
    return None  # the agency returned it unpaid: legal is next (rule 4)


Earliest: TypeAlias = tuple[datetime, str]  # (moment, why then)


def _basis(
    facts: ReferralFacts, policy: ReferralPolicy, limits: Thresholds, owed: Money
) -> tuple[DecisionKind, str, Earliest | None] | str:
    """The decision before hand-over and timing: (kind, reason, earliest) or why none."""
    shown = format_amount(owed)
    floor = limits.write_off_below
    below_floor = owed < floor
    notice = _notice_deadline(facts)
    cause = _legal_cause(facts)
    if cause is not None:
        if below_floor:
            return (
                DecisionKind.WRITE_OFF,
                f"{cause}, but owed {shown} < write-off floor {format_amount(floor)}",
                notice,
            )
        return DecisionKind.LEGAL, cause, notice
    if facts.sequence_spent_at is None:
        if facts.fraud_flagged:
            return "flagged as fraud: referred to legal once the merchant confirms fraud"
        return "the reminder sequence is not finished"
    earliest = _later(
        (
            facts.sequence_spent_at + policy.wait_after_last_step,
            f"{policy.after_last_step_days} days after the last reminder",
        ),
        notice,
    )
    if below_floor:
        reason = f"owed {shown} < write-off floor {format_amount(floor)}"
        return DecisionKind.WRITE_OFF, reason, earliest
    if owed >= limits.legal_minimum:
        reason = f"owed {shown} ≥ legal minimum {format_amount(limits.legal_minimum)}"
        return DecisionKind.LEGAL, reason, earliest
    agency_min = format_amount(limits.agency_minimum)
    if owed < limits.agency_minimum:
        return (
            f"owed {shown} < agency minimum {agency_min} and ≥ write-off floor "
            f"{format_amount(floor)}: the merchant decides"
        )
    if facts.paid_net > 0:
        paid = format_amount(Money(owed.currency, facts.paid_net))
        return (
            f"owed {shown} ≥ agency minimum {agency_min}, but the customer has paid {paid}: "
            "agencies take only accounts never paid; the merchant decides"
        )
    reason = f"owed {shown} ≥ agency minimum {agency_min}, nothing paid"
    return DecisionKind.AGENCY, reason, earliest


def _legal_cause(facts: ReferralFacts) -> str | None:
    """Why the case goes to legal whatever the amount and the reminders, if it does."""
    if facts.fraud_confirmed:
        return "fraud confirmed"
    if facts.agency_returned_unpaid:
        return "the agency returned the account unpaid"
    return None


def _notice_deadline(facts: ReferralFacts) -> Earliest | None:
    """The end of the day the final notice named ("if it is still unpaid on <date>"), in
    the customer's zone: never sooner, whatever the hour the notice went."""
    if facts.final_notice_at is None:
        return None
    zone = facts.customer_zone or ZoneInfo("UTC")
    named = (facts.final_notice_at + FINAL_NOTICE_PERIOD).astimezone(zone).date()
    day_after = datetime.combine(named + timedelta(days=1), time(0), tzinfo=zone)
    return day_after.astimezone(UTC), "the end of the date the final notice gave"


def _later(a: Earliest, b: Earliest | None) -> Earliest:
    return b if b is not None and b[0] > a[0] else a


def _notes(facts: ReferralFacts) -> tuple[str, ...]:
    if facts.email_reachable or facts.sms_reachable:
        return ()
    return (
        "the reminders could not be delivered: the customer opted out or has no reachable "
        "email or phone",
    )


# --- amounts of a case -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseMoney:
    """Owed, paid (successful attempts) and refunded on one case, in the order's currency."""

    owed: Money | None
    paid: Money
    refunded: Money


def case_money(case: Case) -> CaseMoney | None:
    """The case's amounts, or None when no amount tells its currency. Attempts and refunds in
    another currency than the order's are left out (they cannot be added exactly)."""
    snapshot = case.snapshot
    known = [
        money
        for money in (
            snapshot.amount_owed if snapshot else None,
            snapshot.order_total if snapshot else None,
            *(a.amount for a in case.attempts),
            *(amount for _, amount in case.refunds),
        )
        if money is not None
    ]
    if not known:
        return None
    currency = known[0].currency
    paid = sum(
        (
            a.amount.minor
            for a in case.attempts
            if a.succeeded and a.amount is not None and a.amount.currency == currency
        ),
        0,
    )
    refunded = sum((m.minor for _, m in case.refunds if m.currency == currency), 0)
    return CaseMoney(case.amount_owed, Money(currency, paid), Money(currency, refunded))


__all__ = [
    "CaseMoney",
    "DecisionKind",
    "ReferralDecision",
    "ReferralFacts",
    "case_money",
    "decide",
]
