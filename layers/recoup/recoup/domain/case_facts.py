"""A case's facts as strategies read them: how the order was to be paid, why its newest
payment was declined, the amount owed, the customer's country, a first or returning
customer and their earlier cases, the fraud risk and the payment terms
(`domain/strategies.py` matches them; the figures break cases down by them).

Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from recoup.domain import payment_situation, retries
from recoup.domain.case import CaseStatus
from recoup.domain.dunning import DunningStatus
from recoup.domain.fields import is_int

if TYPE_CHECKING:
    from recoup.domain.case import Case
    from recoup.domain.dunning import Dunning
    from recoup.domain.money import Money

DEFAULT_ID = "default"  # the default strategy: the policy's own steps


class Method(StrEnum):
    """How the order was to be paid, from Shopify's gateway names (a Stripe payment: card)."""

    CARD = "card"  # cards and wallets, paid at checkout
    BANK_TRANSFER = "bank_transfer"
    CASH_ON_DELIVERY = "cash_on_delivery"
    BNPL = "bnpl"  # buy now, pay later (Klarna, Afterpay, Affirm...)
    OTHER = "other"  # money order, invoice, a method Recoup does not know


class CustomerKind(StrEnum):
    ANY = "any"
    FIRST = "first"  # the customer's first order at the shop
    RETURNING = "returning"


MANUAL_METHODS = frozenset({Method.BANK_TRANSFER, Method.CASH_ON_DELIVERY, Method.OTHER})
# The customer's earlier cases with the shop (`past_cases`), worst first: one unpaid (left
# unpaid after its reminders, or cancelled unpaid), else one paid only after reminders, else
# only ones paid without a reminder, else none.
HISTORIES = ("never_paid", "paid_after_reminders", "paid_without_reminders", "no_past_cases")
NO_DECLINE = "none"  # the decline condition's value for a case with no declined payment
RISKS = ("low", "review", "high", "unscored")


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What a strategy's conditions read about a case. `returning` None: not known."""

    method: Method
    decline: str  # a retries.DeclineCategory value, or NO_DECLINE
    decline_code: str | None
    owed: Money | None
    country: str | None
    returning: bool | None
    risk: str
    payment_terms: str | None  # the terms' name ("Net 30"); None: none
    due_at: datetime | None = None  # the payment terms' next due date
    history: str | None = None  # one of HISTORIES; None: not looked up (`history_of`)


def facts_of(case: Case, risk: str = "unscored") -> CaseFacts:
    """A case's facts, as far as the platforms reported them. `risk` is the fraud
    screening's newest level (low, review, high, unscored)."""
    snapshot = case.snapshot
    gateways = snapshot.payment_gateways if snapshot else ()
    failed = [a for a in case.attempts if not a.succeeded]
    newest = max(failed, key=lambda a: (a.at, a.attempt_id)) if failed else None
    code = newest.code if newest else None
    decline = str(retries.category_of(code)) if newest else NO_DECLINE
    customer = snapshot.customer if snapshot else None
    earlier = case.signal_values().get("customer_orders_count")
    returning = earlier > 0 if isinstance(earlier, int) and is_int(earlier) else None
    # A Stripe payment of its own (its snapshot is Stripe's, Shopify's outranks it) is a card.
    from_stripe = case.snapshot_key is None or case.snapshot_key[0] == 0
    return CaseFacts(
        method=method_of(gateways, stripe_only=snapshot is None or from_stripe),
        decline=decline,
        decline_code=code,
        owed=case.amount_owed,
        country=customer.country.upper() if customer and customer.country else None,
        returning=returning,
        risk=risk if risk in RISKS else "unscored",
        payment_terms=snapshot.payment_terms if snapshot else None,
        due_at=snapshot.payment_due_at if snapshot else None,
    )


def history_of(past: Sequence[tuple[Case, Dunning | None]]) -> str:
    """The customer's record from their earlier cases with the shop (HISTORIES)."""
    kinds = set()
    for case, dunning in past:
        sent = bool(dunning and dunning.sent)
        if case.status is CaseStatus.PAID:
            kinds.add("paid_after_reminders" if sent else "paid_without_reminders")
        elif case.status is CaseStatus.CANCELLED or (
            dunning is not None and dunning.status is DunningStatus.AWAITING_ESCALATION
        ):
            kinds.add("never_paid")
    return next((h for h in HISTORIES if h in kinds), "no_past_cases")


def method_of(gateways: Sequence[str], *, stripe_only: bool = False) -> Method:
    """The payment method Shopify's gateway names say: a card unless every method is a
    manual one or a buy-now-pay-later one."""
    kind = payment_situation.method_kind(gateways)
    if kind is None:
        return Method.CARD if stripe_only else Method.OTHER
    return Method(kind)
