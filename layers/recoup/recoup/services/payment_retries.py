"""Retrying a failed card payment while the customer is away, within the networks' limits.

The due index holds a case's next retry (`store.cases.RETRY_CHARGE`, planned by the worker
from the case's payments: `domain/retry_course.py`); the scheduler queues it to the plan
charges queue and `run_retry` charges the saved card once:

1. the retry's number is claimed on the version read (`Dunning.retry_claimed`), so every
   run of the job, however often SQS delivers it, uses the same idempotency key
   `recoup:retry:<shop>:<case>:<number>`;
2. one off-session PaymentIntent for what is owed, its metadata naming the order and the
   retry (so its webhook folds into the case like any payment, and closes it when paid);
3. the answer on the trail and in `Dunning.retry_log`, with the next retry planned (or why
   none): once, whether the answer or a redelivery records it.

At least once: a throttle, a lost connection or a 5xx raises (SQS retries the job with the
same key, which Stripe replays instead of charging again; then the dead-letter queue and its
alarm). A run that finds the retry claimed and not recorded (a run that failed after the
claim, or one charging now) charges again under the same key: never a second charge, and
the outcome is recorded once. A retry that succeeded leaves the case to Stripe's webhook,
like a payment through the pay link; a step due within the hour waits that long for it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from recoup import clock
from recoup.domain import retry_course
from recoup.domain.aggregate import StoredCase
from recoup.domain.cadence import ReminderPolicy
from recoup.domain.case import CaseStatus
from recoup.domain.dunning import Dunning, RetryRecord
from recoup.domain.money import Money
from recoup.observability import metrics
from recoup.services.customer_requests import entry_for, next_words
from recoup.services.reminder_plan import reminder_policy
from recoup.services.step_outcomes import StepResult
from recoup.settings import get_settings
from recoup.store import cases as store
from recoup.store import shops

# How long a step due right after a successful retry waits for Stripe's webhook.
CONFIRMATION_WAIT = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class _Claimed:
    stored: StoredCase | None  # as written with the claim
    stale: StepResult | None = None  # no claim: why nothing is charged


def run_retry(shop: str, case_id: str, *, now: datetime | None = None) -> StepResult:
    """Charge the case's next retry if it is due, and record what Stripe said."""
    at = now or clock.now()

    claimed = store.change(shop, case_id, lambda stored: _claim(stored, at), now=at)
    if claimed.stored is None:
        return claimed.stale or StepResult("stale", "no retry is due")
    return _charge(claimed.stored, at)


def idempotency_key(shop: str, case_id: str, number: int) -> str:
    return f"recoup:retry:{shop}:{case_id}:{number}"


def _claim(stored: StoredCase | None, now: datetime) -> _Claimed | store.Progress[_Claimed]:
    dunning = stored.dunning if stored else None
    if stored is None or dunning is None or dunning.retry_due is None:
        return _stale("stale", "no retry is due")
    if stored.case.status is not CaseStatus.OPEN:
        return _stale("stale", f"case {stored.case.status}")
    if dunning.retry_due > now:
        return _stale("stale", "the retry is not due yet")
    if not shops.is_installed(stored.case.shop):
        return _stale("stale", f"{stored.case.shop} is not installed: nothing is charged")
    number = len(dunning.retry_log) + 1
    if dunning.retry_claimed >= number:
        # The same number, so the same key: Stripe replays what it did, never a 2nd charge.
        again = replace(dunning, retry_claimed_at=now)
        return store.Progress(_Claimed, dunning=again)
    claim = replace(dunning, retry_claimed=number, retry_claimed_at=now)
    return store.Progress(_Claimed, dunning=claim)


def _stale(outcome: str, detail: str) -> _Claimed:
    return _Claimed(None, StepResult(outcome, detail))


def _charge(claimed: StoredCase, now: datetime) -> StepResult:
    case, dunning = claimed.case, claimed.dunning
    assert dunning is not None
    number = dunning.retry_claimed
    card = retry_course.saved_card(case)
    owed = case.amount_owed
    shop_item = shops.get(case.shop)
    account = shop_item.stripe_account if shop_item else None
    api_key = get_settings().stripe_api_key()
    if card is None or owed is None or owed.minor <= 0:
        return _record(case.shop, case.case_id, number, "refused", "nothing_to_charge", None, now)
    if not api_key or not account:
        return _record(
            case.shop, case.case_id, number, "refused", "stripe_not_connected", None, now
        )
    from recoup.integrations import stripe, stripe_payments

    metadata = {stripe.META_SHOP: case.shop, stripe.META_RETRY: str(number)}
    metadata[stripe.META_ORDER if case.case_id.isdigit() else stripe.META_CASE] = case.case_id
    name = case.snapshot.order_name if case.snapshot and case.snapshot.order_name else None
    try:
        result = stripe_payments.charge_off_session(
            api_key=api_key,
            api_base=get_settings().stripe_api_base,
            account=account,
            customer=card.customer,
            payment_method=card.payment_method,
            amount=Money.of(owed.minor, owed.currency),
            description=f"Order {name or case.case_id}: payment retried",
            metadata=metadata,
            idempotency_key=idempotency_key(case.shop, case.case_id, number),
        )
    except stripe_payments.ChargeRefused as refused:
        code = refused.code or "refused"
        return _record(case.shop, case.case_id, number, "refused", code, None, now)
    # ChargeNotConfirmed propagates: the job fails, SQS retries it with the same key.
    outcome = "succeeded" if result.outcome == "succeeded" else "failed"
    return _record(
        case.shop, case.case_id, number, outcome, result.code, result.payment_intent, now
    )


def _record(
    shop: str,
    case_id: str,
    number: int,
    outcome: str,
    code: str | None,
    intent: str | None,
    now: datetime,
) -> StepResult:
    """The retry's outcome on the trail and the progress, with the next retry planned;
    once, however often it is told."""
    metrics.add_metric(name=f"PaymentRetries{outcome.title()}", unit="Count", value=1)
    policy = reminder_policy(shop, shops.get(shop))

    def decide(current: StoredCase | None) -> StepResult | store.Change[StepResult]:
        dunning = current.dunning if current else None
        if current is None or dunning is None:
            return StepResult("stale", "the case is gone")
        if any(r.number == number for r in dunning.retry_log):
            return StepResult(outcome, f"retry {number} was recorded already")
        record = RetryRecord(number, now, outcome, code, intent)
        logged = replace(dunning, retry_log=(*dunning.retry_log, record), retry_claimed_at=None)
        after = _after(logged, current, policy, now, outcome)
        summary = _words(number, outcome, code, after)
        entry = entry_for(
            current,
            f"payment.retry_{outcome}",
            summary,
            next_words(after),
            now,
            event_id=f"recoup:retry:{case_id}:{number}",
            source="recoup",
            extra={"retry": number, "code": code, "payment_intent": intent},
        )
        return store.Change(current.case, entry, StepResult(f"retry_{outcome}", summary), after)

    return store.change(shop, case_id, decide, now=now)


def _after(
    logged: Dunning, current: StoredCase, policy: ReminderPolicy, now: datetime, outcome: str
) -> Dunning:
    """After a retry: paid, the next step waits for Stripe's confirmation if it is due
    within the hour; declined, the next retry is planned (or why none)."""
    if outcome == "succeeded":
        soon = now + CONFIRMATION_WAIT
        waiting = logged.due and logged.next_at is not None and logged.next_at < soon
        paid = replace(logged, retry_at=None, retry_why="retry succeeded: Stripe confirms")
        return replace(paid, next_at=now + CONFIRMATION_WAIT) if waiting else paid
    at, why = retry_course.next_for(current.case, logged, policy, now)
    return replace(logged, retry_at=at, retry_why=why)


def _words(number: int, outcome: str, code: str | None, after: Dunning) -> str:
    said = {
        "succeeded": "paid",
        "failed": f"declined ({code or 'no reason given'})",
        "refused": f"not made: Stripe refused it ({code})",
    }[outcome]
    following = f"; {after.retry_why}" if after.retry_why and outcome != "succeeded" else ""
    return f"payment retry {number}: {said}{following}"


__all__ = ["idempotency_key", "run_retry"]
