"""The case of one unpaid order, as a fold of the facts the platforms reported.

The fold is a join: the result depends on the *set* of events applied, never on their
order or on how often each arrived. That is what makes duplicate and out-of-order webhook
deliveries harmless:
- the status is the highest-ranked fact seen (open < paid < cancelled), so a late
  `payment_failed` cannot reopen a paid case;
- the order's amounts, items and customer come from the newest snapshot, ranked by source
  (Shopify's order beats a Stripe payment), then time, then event id, whole (never merged
  field by field, which would depend on arrival order);
- payment attempts and refunds are sets; flags only ever turn on;
- each fraud signal keeps the newest value reported for it, ranked like snapshots.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from recoup.domain.events import (
    DomainEvent,
    Fact,
    OrderSnapshot,
    PaymentAttempt,
    Source,
    attempt_from,
    jsonable,
    snapshot_from,
)
from recoup.domain.money import Money


class CaseStatus(StrEnum):
    UNTRACKED = "untracked"  # only informational facts so far: nothing owed yet
    OPEN = "open"
    PAID = "paid"
    CANCELLED = "cancelled"


_RANK = {CaseStatus.UNTRACKED: 0, CaseStatus.OPEN: 1, CaseStatus.PAID: 2, CaseStatus.CANCELLED: 3}
_STATUS_OF_FACT = {
    Fact.UNPAID: CaseStatus.OPEN,
    Fact.PAYMENT_FAILED: CaseStatus.OPEN,
    Fact.PAID: CaseStatus.PAID,
    Fact.CANCELLED: CaseStatus.CANCELLED,
}
_SOURCE_PRIORITY = {Source.STRIPE: 0, Source.SHOPIFY: 1}

SnapshotKey = tuple[int, str, str]  # (source priority, occurred_at ISO, event id)


@dataclass(frozen=True, slots=True, order=True)
class PlanPayment:
    """A payment (or the card saved, `number` 0) for an instalment plan, as Stripe reported it
    (metadata `recoup_plan`, `recoup_instalment`); a set, like the attempts."""

    plan_id: str
    number: int
    intent: str  # the PaymentIntent (or SetupIntent) id
    succeeded: bool
    at: datetime
    amount_minor: int = 0
    currency: str = ""
    payment_method: str | None = None
    customer: str | None = None
    code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanPayment:
        return cls(
            plan_id=str(data["plan_id"]),
            number=int(data["number"]),
            intent=str(data["intent"]),
            succeeded=bool(data["succeeded"]),
            at=datetime.fromisoformat(str(data["at"])),
            amount_minor=int(data.get("amount_minor") or 0),
            currency=str(data.get("currency") or ""),
            payment_method=data.get("payment_method"),
            customer=data.get("customer"),
            code=data.get("code"),
        )


@dataclass(frozen=True, slots=True)
class Settled:
    """The case was paid under a settlement offer: `paid` for `settles` (what was owed when
    the offer was taken); the difference is written off, not recovered."""

    offer_id: str
    paid: Money
    settles: Money

    @property
    def discount(self) -> Money:
        return Money.of(max(self.settles.minor - self.paid.minor, 0), self.settles.currency)

    def to_dict(self) -> dict[str, Any]:
        return {
            "offer_id": self.offer_id,
            "paid": self.paid.to_dict(),
            "settles": self.settles.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settled:
        return cls(
            str(data["offer_id"]), Money.from_dict(data["paid"]), Money.from_dict(data["settles"])
        )


# One reported fraud signal: (signal name, raw JSON value, key of the event that reported it).
SignalEntry = tuple[str, Any, SnapshotKey]


@dataclass(frozen=True, slots=True)
class Case:
    shop: str
    case_id: str
    status: CaseStatus = CaseStatus.UNTRACKED
    # First time each status was reported: gives opened_at and closed_at, order-free.
    status_since: tuple[tuple[CaseStatus, datetime], ...] = ()
    snapshot: OrderSnapshot | None = None
    snapshot_key: SnapshotKey | None = None
    # The newest amount owed while unpaid: what a payment then recovered.
    owed_when_open: Money | None = None
    owed_key: SnapshotKey | None = None
    attempts: tuple[PaymentAttempt, ...] = ()
    refunds: tuple[tuple[str, Money], ...] = ()  # (refund or charge id, amount)
    dispute_open: bool = False
    fraud_warning: bool = False
    linked: bool = False
    stripe_refs: frozenset[str] = frozenset()
    event_ids: frozenset[str] = field(default_factory=frozenset)
    last_event_at: datetime | None = None
    # Set on a Stripe payment's own case once it was merged into its Shopify order's case.
    merged_into: str | None = None
    signals: tuple[SignalEntry, ...] = ()  # sorted by name, one entry per signal
    plan_payments: frozenset[PlanPayment] = frozenset()
    settlement: Settled | None = None
    settlement_key: SnapshotKey | None = None

    def signal_values(self) -> dict[str, Any]:
        """The newest raw value of each fraud signal reported for this case."""
        return {name: value for name, value, _ in self.signals}

    @property
    def opened(self) -> bool:
        """A case is tracked once something said money is owed."""
        return any(status is CaseStatus.OPEN for status, _ in self.status_since)

    @property
    def opened_at(self) -> datetime | None:
        return self._since(CaseStatus.OPEN)

    @property
    def closed_at(self) -> datetime | None:
        if self.status in (CaseStatus.PAID, CaseStatus.CANCELLED):
            return self._since(self.status)
        return None

    @property
    def amount_owed(self) -> Money | None:
        """What the order says is owed, less what the customer paid Recoup's instalment
        plan (which reaches the shop's Stripe account, not the Shopify order)."""
        if self.status is not CaseStatus.OPEN or self.snapshot is None:
            return None
        owed = self.snapshot.amount_owed
        if owed is None:
            return None
        instalments: dict[tuple[str, int], int] = {}
        for p in sorted(self.plan_payments):
            if p.succeeded and p.number > 0 and p.currency == owed.currency:
                instalments.setdefault((p.plan_id, p.number), p.amount_minor)
        paid = sum(instalments.values())
        return Money.of(max(owed.minor - paid, 0), owed.currency) if paid else owed

    @property
    def recovered(self) -> Money | None:
        """What was still owed before the case was paid; under a settlement, what was paid
        (the discount is written off, `settled_discount`)."""
        if self.status is not CaseStatus.PAID or not self.opened:
            return None
        settled = self.settlement
        owed = self.owed_when_open
        if settled is not None and owed is not None and settled.paid.currency == owed.currency:
            return Money.of(max(owed.minor - settled.discount.minor, 0), owed.currency)
        return owed

    @property
    def settled_discount(self) -> Money | None:
        """What a settlement offer took off, once the case was paid under it."""
        if self.status is not CaseStatus.PAID or self.settlement is None:
            return None
        discount = self.settlement.discount
        return discount if discount.minor > 0 else None

    def _since(self, status: CaseStatus) -> datetime | None:
        for known, at in self.status_since:
            if known is status:
                return at
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "shop": self.shop,
            "case_id": self.case_id,
            "status": str(self.status),
            "status_since": [[str(s), at.isoformat()] for s, at in self.status_since],
            "snapshot": _snapshot_dict(self.snapshot) if self.snapshot else None,
            "snapshot_key": list(self.snapshot_key) if self.snapshot_key else None,
            "owed_when_open": self.owed_when_open.to_dict() if self.owed_when_open else None,
            "owed_key": list(self.owed_key) if self.owed_key else None,
            "attempts": [_attempt_dict(a) for a in self.attempts],
            "refunds": [[eid, m.to_dict()] for eid, m in self.refunds],
            "dispute_open": self.dispute_open,
            "fraud_warning": self.fraud_warning,
            "linked": self.linked,
            "stripe_refs": sorted(self.stripe_refs),
            "event_ids": sorted(self.event_ids),
            "last_event_at": self.last_event_at.isoformat() if self.last_event_at else None,
            "merged_into": self.merged_into,
            "signals": [[name, value, list(key)] for name, value, key in self.signals],
            "plan_payments": [p.to_dict() for p in sorted(self.plan_payments)],
            "settlement": self.settlement.to_dict() if self.settlement else None,
            "settlement_key": list(self.settlement_key) if self.settlement_key else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Case:
        snap = data.get("snapshot")
        key = data.get("snapshot_key")
        return cls(
            shop=data["shop"],
            case_id=data["case_id"],
            status=CaseStatus(data["status"]),
            status_since=tuple(
                (CaseStatus(s), datetime.fromisoformat(at)) for s, at in data["status_since"]
            ),
            snapshot=snapshot_from(snap) if snap else None,
            snapshot_key=_key(key),
            owed_when_open=(
                Money.from_dict(data["owed_when_open"]) if data.get("owed_when_open") else None
            ),
            owed_key=_key(data.get("owed_key")),
            attempts=tuple(attempt_from(a) for a in data.get("attempts") or ()),
            refunds=tuple((eid, Money.from_dict(m)) for eid, m in data.get("refunds") or ()),
            dispute_open=bool(data.get("dispute_open")),
            fraud_warning=bool(data.get("fraud_warning")),
            linked=bool(data.get("linked")),
            stripe_refs=frozenset(data.get("stripe_refs") or ()),
            event_ids=frozenset(data.get("event_ids") or ()),
            last_event_at=(
                datetime.fromisoformat(data["last_event_at"]) if data.get("last_event_at") else None
            ),
            merged_into=data.get("merged_into"),
            signals=tuple(
                (str(name), value, _key(key) or (0, "", ""))
                for name, value, key in data.get("signals") or ()
            ),
            plan_payments=frozenset(
                PlanPayment.from_dict(p) for p in data.get("plan_payments") or ()
            ),
            settlement=Settled.from_dict(data["settlement"]) if data.get("settlement") else None,
            settlement_key=_key(data.get("settlement_key")),
        )


# An attempt's retry facts are stored only when set: a case item's size is its write cost.
_SPARSE = ("network", "advice_code", "customer_ref", "payment_method_ref", "retry")


def _snapshot_dict(snapshot: OrderSnapshot) -> dict[str, Any]:
    data: dict[str, Any] = jsonable(asdict(snapshot))
    return {k: v for k, v in data.items() if k not in _SPARSE_SNAPSHOT or v}


_SPARSE_SNAPSHOT = ("payment_terms", "payment_due_at")


def _attempt_dict(attempt: PaymentAttempt) -> dict[str, Any]:
    data: dict[str, Any] = jsonable(asdict(attempt))
    return {k: v for k, v in data.items() if k not in _SPARSE or v}


def _key(data: list[Any] | None) -> SnapshotKey | None:
    return (int(data[0]), str(data[1]), str(data[2])) if data else None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of applying one event: the new case and what changed, in words."""

    case: Case
    duplicate: bool
    effect: str


def new_case(shop: str, case_id: str) -> Case:
    return Case(shop=shop, case_id=case_id)


def apply(case: Case, event: DomainEvent) -> Outcome:
    """Fold one event into the case. Pure; commutative and idempotent over events."""
    if event.event_id in case.event_ids:
        return Outcome(case, duplicate=True, effect="duplicate delivery: already applied")
    updated = join(case, of_event(case.shop, case.case_id, event))
    return Outcome(updated, duplicate=False, effect=_describe(case.status, updated, event))


def of_event(shop: str, case_id: str, event: DomainEvent) -> Case:
    """What one event alone says about a case."""
    reported = _STATUS_OF_FACT.get(event.fact)
    key = (_SOURCE_PRIORITY[event.source], event.occurred_at.isoformat(), event.event_id)
    snapshot = event.snapshot
    owes = reported is CaseStatus.OPEN and snapshot is not None and snapshot.amount_owed
    refund_key = str(event.extra.get("refund_key") or event.event_id)
    settled = _settled(event)
    return Case(
        shop=shop,
        case_id=case_id,
        status=reported or CaseStatus.UNTRACKED,
        status_since=((reported, event.occurred_at),) if reported else (),
        snapshot=snapshot,
        snapshot_key=key if snapshot is not None else None,
        owed_when_open=snapshot.amount_owed if owes and snapshot else None,
        owed_key=key if owes else None,
        attempts=(event.attempt,) if event.attempt else (),
        refunds=((refund_key, event.refunded),) if event.refunded else (),
        dispute_open=event.fact is Fact.DISPUTE_OPENED,
        fraud_warning=event.fact is Fact.FRAUD_WARNING,
        linked=event.linked,
        stripe_refs=frozenset(event.stripe_refs),
        event_ids=frozenset({event.event_id}),
        last_event_at=event.occurred_at,
        signals=tuple((name, event.signals[name], key) for name in sorted(event.signals)),
        plan_payments=frozenset(_plan_payments(event)),
        settlement=settled,
        settlement_key=key if settled is not None else None,
    )


def _plan_payments(event: DomainEvent) -> tuple[PlanPayment, ...]:
    """A Stripe event's payment for an instalment plan (`extra["plan"]`, set by the Stripe
    normaliser from the PaymentIntent's or SetupIntent's metadata)."""
    plan = event.extra.get("plan")
    if not isinstance(plan, dict):
        return ()
    return (PlanPayment.from_dict({**plan, "at": event.occurred_at.isoformat()}),)


def _settled(event: DomainEvent) -> Settled | None:
    """A payment under a settlement offer (`extra["settlement"]`): what it paid, for what."""
    offer = event.extra.get("settlement")
    paid = event.attempt.amount if event.attempt else None
    if event.fact is not Fact.PAID or paid is None or not isinstance(offer, dict):
        return None
    return Settled(str(offer["offer_id"]), paid, Money.from_dict(offer["settles"]))


def join(a: Case, b: Case) -> Case:
    """Everything two cases know, as one: the lattice join. Keeps `a`'s identity, so it also
    merges a Stripe payment's own case into the Shopify order it turns out to belong to."""
    since: dict[CaseStatus, datetime] = dict(a.status_since)
    for status, at in b.status_since:
        if status not in since or at < since[status]:
            since[status] = at
    snapshot, snapshot_key = _newest(a.snapshot, a.snapshot_key, b.snapshot, b.snapshot_key)
    owed, owed_key = _newest(a.owed_when_open, a.owed_key, b.owed_when_open, b.owed_key)
    settlement, settlement_key = _newest(
        a.settlement, a.settlement_key, b.settlement, b.settlement_key
    )
    refunds = a.refunds
    for refund_key, amount in b.refunds:
        refunds = _add_refund(refunds, refund_key, amount)
    last = [at for at in (a.last_event_at, b.last_event_at) if at is not None]
    return replace(
        a,
        status=max(a.status, b.status, key=_RANK.__getitem__),
        status_since=tuple(sorted(since.items(), key=lambda kv: _RANK[kv[0]])),
        snapshot=snapshot,
        snapshot_key=snapshot_key,
        owed_when_open=owed,
        owed_key=owed_key,
        attempts=tuple(sorted(set(a.attempts) | set(b.attempts), key=_attempt_order)),
        refunds=refunds,
        dispute_open=a.dispute_open or b.dispute_open,
        fraud_warning=a.fraud_warning or b.fraud_warning,
        # A case is linked to a Shopify order once any event about it named one.
        linked=a.linked or b.linked,
        stripe_refs=a.stripe_refs | b.stripe_refs,
        event_ids=a.event_ids | b.event_ids,
        last_event_at=max(last) if last else None,
        signals=_join_signals(a.signals, b.signals),
        plan_payments=a.plan_payments | b.plan_payments,
        settlement=settlement,
        settlement_key=settlement_key,
    )


def _join_signals(
    a: tuple[SignalEntry, ...], b: tuple[SignalEntry, ...]
) -> tuple[SignalEntry, ...]:
    if not b:
        return a
    newest: dict[str, SignalEntry] = {entry[0]: entry for entry in a}
    for entry in b:
        known = newest.get(entry[0])
        if known is None or entry[2] > known[2]:
            newest[entry[0]] = entry
    return tuple(newest[name] for name in sorted(newest))


_T = TypeVar("_T")


def _newest(
    a: _T | None, a_key: SnapshotKey | None, b: _T | None, b_key: SnapshotKey | None
) -> tuple[_T | None, SnapshotKey | None]:
    if b_key is not None and (a_key is None or b_key > a_key):
        return b, b_key
    return a, a_key


def _add_refund(
    refunds: tuple[tuple[str, Money], ...], key: str, amount: Money
) -> tuple[tuple[str, Money], ...]:
    """Refunds are keyed by what they refund; a key reported twice keeps its largest amount
    (Stripe reports a charge's cumulative refunded amount, which only grows)."""
    merged = dict(refunds)
    if key not in merged or amount.minor > merged[key].minor:
        merged[key] = amount
    return tuple(sorted(merged.items()))


def _attempt_order(attempt: PaymentAttempt) -> tuple[Any, ...]:
    return (
        attempt.at,
        attempt.attempt_id,
        attempt.succeeded,
        attempt.code or "",
        attempt.message or "",
    )


def _describe(before: CaseStatus, after: Case, event: DomainEvent) -> str:
    if after.status is not before:
        if before is CaseStatus.UNTRACKED and after.status is CaseStatus.OPEN:
            owed = after.amount_owed
            return f"case opened: {owed} owed" if owed else "case opened"
        if after.status is CaseStatus.OPEN:
            return "case opened"
        return f"case {before} -> {after.status}"
    reported = _STATUS_OF_FACT.get(event.fact)
    if reported is not None and _RANK[reported] < _RANK[after.status]:
        return f"recorded; case stays {after.status} ({after.status} is final)"
    if event.fact is Fact.DISPUTE_OPENED:
        return "dispute opened: flagged"
    if event.fact is Fact.FRAUD_WARNING:
        return "early fraud warning: flagged"
    if after.status is CaseStatus.OPEN and after.amount_owed is not None:
        return f"recorded; {after.amount_owed} owed"
    return "recorded"


__all__ = [
    "Case",
    "CaseStatus",
    "Outcome",
    "PlanPayment",
    "Settled",
    "apply",
    "join",
    "new_case",
    "of_event",
]
