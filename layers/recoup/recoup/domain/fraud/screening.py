"""A case's fraud screening: its score history, the merchant's decision, and the gate that
decides whether reminders may run.

Pure. The worker scores a case when it opens and again whenever the signals reported for it
change (`signals_for_case` builds what the scorer reads; `inputs_digest` tells whether it
changed), and keeps every distinct result (`record_score`). The gate:

- confirmed as fraud by the merchant, or the newest score "high" -> FLAG: no reminders, no
  pay link, the customer is tagged, the account is a referral candidate;
- "review" or "unscored" -> HOLD until the merchant approves (then RUN) or confirms fraud;
- "low" -> RUN. An approval covers later review-level rescoring, never a "high" one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from recoup.domain.case import Case
from recoup.domain.fraud.result import FraudLevel, FraudResult, ScoredAt, record_score

if TYPE_CHECKING:
    from recoup.domain.fraud.signals import HighValueCatalogue, Signals

# Signals Recoup computes itself at scoring time; a payload never sets them.
VELOCITY_SIGNALS = (
    "failed_payments_email_1h",
    "failed_payments_email_24h",
    "failed_payments_card_1h",
    "failed_payments_card_24h",
    "failed_payments_ip_1h",
    "failed_payments_ip_24h",
    "distinct_cards_24h",
    "accounts_sharing_shipping_address",
)
_COMPUTED = frozenset(
    (*VELOCITY_SIGNALS, "decline_codes", "high_value_items", "max_quantity_same_high_value_item")
)


class Decision(StrEnum):
    APPROVED = "approved"  # the merchant looked and lets reminders run
    CONFIRMED_FRAUD = "confirmed_fraud"  # the merchant says it is fraud: the case closes


class Gate(StrEnum):
    RUN = "run"
    HOLD = "hold"
    FLAG = "flag"


@dataclass(frozen=True, slots=True)
class Screening:
    history: tuple[ScoredAt, ...] = ()
    decision: Decision | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    note: str = ""
    inputs_digest: str = ""  # of the case's own inputs when last scored

    @property
    def current(self) -> FraudResult | None:
        return self.history[-1].result if self.history else None

    @property
    def gate(self) -> Gate:
        if self.decision is Decision.CONFIRMED_FRAUD:
            return Gate.FLAG
        result = self.current
        if result is None:
            return Gate.HOLD  # never checked: don't chase a possible victim
        if result.level is FraudLevel.HIGH:
            return Gate.FLAG
        if result.level is FraudLevel.LOW or self.decision is Decision.APPROVED:
            return Gate.RUN
        return Gate.HOLD

    def why(self) -> str:
        """The gate in words, for the timeline and the reminder status."""
        if self.decision is Decision.CONFIRMED_FRAUD:
            return f"confirmed as fraud by {self.decided_by or 'the merchant'}"
        result = self.current
        if result is None:
            return "not screened yet"
        if self.decision is Decision.APPROVED and self.gate is Gate.RUN:
            return f"approved by {self.decided_by or 'the merchant'} after {result.summary()}"
        return f"fraud check: {result.summary()}"

    def scored(self, at: datetime, result: FraudResult, inputs_digest: str) -> Screening:
        return replace(
            self,
            history=record_score(self.history, ScoredAt(at, result)),
            inputs_digest=inputs_digest,
        )

    def decide(self, decision: Decision, at: datetime, by: str, note: str) -> Screening:
        return replace(self, decision=decision, decided_at=at, decided_by=by, note=note)

    def to_dict(self) -> dict[str, Any]:
        return {
            "history": [entry.to_dict() for entry in self.history],
            "decision": str(self.decision) if self.decision else None,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "decided_by": self.decided_by,
            "note": self.note,
            "inputs_digest": self.inputs_digest,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Screening:
        decided_at = data.get("decided_at")
        decision = data.get("decision")
        return cls(
            history=tuple(ScoredAt.from_dict(entry) for entry in data.get("history") or ()),
            decision=Decision(decision) if decision else None,
            decided_at=datetime.fromisoformat(decided_at) if decided_at else None,
            decided_by=data.get("decided_by"),
            note=str(data.get("note") or ""),
            inputs_digest=str(data.get("inputs_digest") or ""),
        )


def case_inputs(case: Case) -> dict[str, Any]:
    """What the case itself tells the fraud check (velocity comes from elsewhere), as raw
    JSON-safe values keyed by signal name."""
    # Only the scorer's path reads the signal specs: a stored screening is read without them.
    from recoup.domain.fraud.signals import FIELD_SPECS

    raw = {
        name: value
        for name, value in case.signal_values().items()
        if name in FIELD_SPECS and name not in _COMPUTED
    }
    snapshot = case.snapshot
    customer = snapshot.customer if snapshot else None
    if customer is not None and customer.email:
        raw["email"] = customer.email
    if "order_total" not in raw and snapshot is not None and snapshot.order_total is not None:
        raw["order_total"] = snapshot.order_total.to_dict()
    codes = [a.code for a in case.attempts if not a.succeeded and a.code]
    if codes:
        raw["decline_codes"] = sorted(set(codes))
    elif any(not a.succeeded for a in case.attempts):
        raw["decline_codes"] = []  # failures without a code: known to be none
    if case.fraud_warning:
        raw["early_fraud_warning"] = True
    return raw


def inputs_digest(raw: Mapping[str, Any], case: Case) -> str:
    """Changes when anything the check reads from the case changes (line items included)."""
    items = [
        [i.title, i.quantity, i.sku, i.product_type]
        for i in (case.snapshot.line_items if case.snapshot else ())
    ]
    body = json.dumps({"signals": raw, "items": items}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def signals_for_case(
    case: Case,
    velocity: Mapping[str, int],
    catalogue: HighValueCatalogue,
    raw: Mapping[str, Any] | None = None,
) -> Signals:
    """The `Signals` to score: the case's own inputs, its high-value items counted with the
    shop's catalogue, and the velocity counts read across the shop. Never raises."""
    from recoup.domain.fraud.signals import Item, Signals

    values = dict(case_inputs(case) if raw is None else raw)
    items = case.snapshot.line_items if case.snapshot else ()
    if items:
        units, same = catalogue.count(
            Item(
                quantity=item.quantity,
                product_type=item.product_type,
                sku=item.sku,
                key=item.variant_id or item.sku,
            )
            for item in items
        )
        values["high_value_items"] = units
        values["max_quantity_same_high_value_item"] = same
    for name in VELOCITY_SIGNALS:
        if name in velocity:
            values[name] = velocity[name]
    return Signals.from_dict(values)


__all__ = [
    "VELOCITY_SIGNALS",
    "Decision",
    "Gate",
    "Screening",
    "case_inputs",
    "inputs_digest",
    "signals_for_case",
]
