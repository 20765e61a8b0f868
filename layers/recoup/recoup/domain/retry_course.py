"""A case's retries of its failed card payment: which saved card may be charged again, the
tries so far, and when the next retry is due (or why there is none).

A retry is possible only for a Stripe payment whose card the customer agreed to have
charged while away (`PaymentAttempt.customer_ref` and `payment_method_ref`, set from a
PaymentIntent made for off-session use). The first try is the original payment's failure;
each later one is a retry Recoup made (`Dunning.retry_log`, recorded from Stripe's answer;
the same retry reported again by its webhook, `PaymentAttempt.retry`, is not counted twice).
The networks' limits and the shop's policy are `domain/retries.py`'s. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from recoup.domain.cadence import ReminderPolicy
from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import Dunning
from recoup.domain.events import PaymentAttempt, Source
from recoup.domain.retries import ChargeTry, next_retry


@dataclass(frozen=True, slots=True)
class SavedCard:
    customer: str
    payment_method: str
    network: str | None
    fingerprint: str | None


def saved_card(case: Case) -> SavedCard | None:
    """The card of the case's newest failed Stripe payment, when it may be charged again."""
    failed = [a for a in case.attempts if _agreed(a) and not a.succeeded]
    if not failed:
        return None
    newest = max(failed, key=lambda a: (a.at, a.attempt_id))
    assert newest.customer_ref and newest.payment_method_ref
    return SavedCard(
        newest.customer_ref, newest.payment_method_ref, newest.network, newest.card_fingerprint
    )


def _agreed(attempt: PaymentAttempt) -> bool:
    return (
        attempt.provider is Source.STRIPE
        and bool(attempt.customer_ref)
        and bool(attempt.payment_method_ref)
    )


def tries_of(
    case: Case, dunning: Dunning, card: SavedCard
) -> tuple[list[ChargeTry], list[ChargeTry]]:
    """The card's tries for this case in time order (the original payment's last failure,
    then Recoup's retries as recorded), and the original payment's earlier attempts with
    the card, which count towards the networks' limits only."""
    original = sorted(
        (
            ChargeTry(a.at, a.succeeded, a.code, a.network, a.advice_code)
            for a in case.attempts
            if a.retry == 0 and _agreed(a) and a.payment_method_ref == card.payment_method
        ),
        key=lambda t: t.at,
    )
    retried = [
        ChargeTry(r.at, r.outcome == "succeeded", r.code, card.network)
        for r in dunning.retry_log
        if r.outcome != "refused"
    ]
    return original[-1:] + retried, original[:-1]


def next_for(
    case: Case, dunning: Dunning, policy: ReminderPolicy, now: datetime
) -> tuple[datetime | None, str]:
    """When the next retry is due and why, or (None, why not); (None, "") when the case has
    no card that may be charged again."""
    card = saved_card(case) if case.status is CaseStatus.OPEN else None
    if card is None:
        return None, ""
    refused = [r for r in dunning.retry_log if r.outcome == "refused"]
    if refused:
        return None, f"no retry: Stripe refused retry {refused[-1].number} ({refused[-1].code})"
    own, earlier = tries_of(case, dunning, card)
    decision = next_retry(policy.retries, own, now, card_tries=earlier)
    return decision.at, decision.reason


def replanned(
    case: Case, dunning: Dunning, policy: ReminderPolicy, now: datetime
) -> Dunning | None:
    """The reminder progress with its next retry planned afresh; None: unchanged. A retry
    claimed and not yet recorded keeps its time (its job is under way)."""
    if dunning.retry_claimed > len(dunning.retry_log):
        return None
    at, why = next_for(case, dunning, policy, now)
    if (at, why) == (dunning.retry_at, dunning.retry_why):
        return None
    return replace(dunning, retry_at=at, retry_why=why)


__all__ = ["SavedCard", "next_for", "replanned", "saved_card", "tries_of"]
