"""Instalment plans and settlement offers, from the customer's page to the last charge.

- `agree`: the customer's chosen plan, within the shop's terms, recorded with their consent
  (the terms' digest on the trail, their IP address and user agent with the request, which
  erasure redacts) in one change of the case; the sequence pauses (`PLANNED`).
- `card_checkout`: the Stripe Checkout Session that saves the customer's card for the plan
  (paying the first instalment when it is due now), or that pays a missed instalment; created
  on the shop's connected account, for a Stripe Customer made once per plan, each under an
  idempotency key, so a click repeated or retried reuses the same session.
- `run_due`: the plan's job from the due index: charge the instalment due (off-session, with
  the saved card), break a plan whose missed instalment stayed unpaid past the grace days,
  or lapse a plan whose card was never saved. A charge is at least once with an idempotency
  key per instalment and failure count, so a retried job replays the same charge at Stripe
  instead of charging again; its outcome lands on the plan at once, and again (a no-op) when
  Stripe's webhook arrives (`services.reminder_plan`).
- `settle_checkout`: the settlement offer open for the case, paid through Checkout for the
  discounted amount; the payment's metadata names the offer and what it settles, so the
  case's accounting writes the discount off (`domain.case.Settled`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from recoup import clock
from recoup.domain import cadence, instalments, settlement
from recoup.domain import customer_requests as rules
from recoup.domain.aggregate import StoredCase
from recoup.domain.case import Case, CaseStatus
from recoup.domain.customer_requests import RequestMeta, RequestRefused
from recoup.domain.dunning import Dunning, DunningStatus
from recoup.domain.instalments import Plan, PlanStatus
from recoup.domain.money import Money
from recoup.observability import logger, metrics
from recoup.services.customer_requests import UnknownCase, entry_for, next_words
from recoup.services.reminder_plan import followed, reminder_policy
from recoup.services.step_outcomes import StepResult
from recoup.settings import get_settings
from recoup.store import cases as store
from recoup.store import shops

PLAN = "plan"  # the kind of a plan's request record
_EVERY = {
    instalments.Interval.WEEKLY: "a week apart",
    instalments.Interval.BIWEEKLY: "two weeks apart",
    instalments.Interval.MONTHLY: "a month apart",
}
PLAN_ID = "p1"  # one plan per case


class PaymentsUnavailable(Exception):
    """Stripe is not configured or did not answer: the customer can try again."""


# ---------------------------------------------------------------- what is offered


def plan_refusal(stored: StoredCase, policy: cadence.ReminderPolicy, connected: bool) -> str | None:
    """Why no plan may be agreed now; None: one may."""
    why = rules.refusal(stored)
    if why is not None:
        return why
    dunning = stored.dunning
    if dunning is None:
        return "there are no reminders to pause"
    if dunning.plan is not None:
        return "an instalment plan was already agreed for this order"
    if dunning.promise_in_force is not None:
        return "a promise to pay is in force"
    if dunning.status not in (DunningStatus.SCHEDULED, DunningStatus.AWAITING_ESCALATION):
        return "the reminders are paused already"
    return instalments.offer_refusal(policy.instalments, stored.case.amount_owed, connected)


def plan_choices(
    stored: StoredCase, policy: cadence.ReminderPolicy, connected: bool, *, now: datetime
) -> instalments.PlanChoices | None:
    """What the page offers to choose from; None: no plan is offered."""
    owed = stored.case.amount_owed
    if owed is None or plan_refusal(stored, policy, connected) is not None:
        return None
    today = now.astimezone(rules.customer_zone_of(stored, policy)).date()
    return instalments.choices_for(policy.instalments, owed, today)


def preview(
    stored: StoredCase,
    policy: cadence.ReminderPolicy,
    connected: bool,
    *,
    count: object,
    interval: object,
    start: date | None,
    now: datetime,
) -> tuple[instalments.Scheduled, ...]:
    """The schedule the customer would agree to: InvalidInput (field "count", "interval" or
    "start") outside the shop's terms, RequestRefused when no plan is offered."""
    why = plan_refusal(stored, policy, connected)
    owed = stored.case.amount_owed
    if why is not None or owed is None:
        raise RequestRefused(why or "nothing is owed")
    today = now.astimezone(rules.customer_zone_of(stored, policy)).date()
    return instalments.check_choice(policy.instalments, owed, count, interval, start, today)


def open_offer(
    stored: StoredCase, policy: cadence.ReminderPolicy, *, now: datetime
) -> settlement.Offer | None:
    """The settlement offer open for the case now, if the case takes requests."""
    if rules.refusal(stored) is not None:
        return None
    dunning = stored.dunning
    paused = (DunningStatus.FLAGGED, DunningStatus.HELD, DunningStatus.PLANNED)
    if dunning is not None and dunning.status in paused:
        return None  # held for a decision, or paying by a plan already
    return settlement.open_offer(
        policy.settlement,
        len(followed(policy, dunning).steps),
        dunning,
        stored.case.amount_owed,
        now,
    )


# ---------------------------------------------------------------- agreeing to a plan


def agree(
    shop: str,
    case_id: str,
    *,
    count: object,
    interval: object,
    start: date | None,
    locale: str,
    meta: RequestMeta,
    now: datetime,
) -> StoredCase:
    """The customer agrees to the schedule shown: InvalidInput, RequestRefused, UnknownCase.
    The plan waits for the card (`card_checkout`)."""
    how = rules.clean_meta(meta)
    salt = secrets.token_hex(16)
    shop_item = shops.get(shop)
    connected = connected_item(shop_item)
    policy = reminder_policy(shop, shop_item)

    def decide(stored: StoredCase | None) -> store.Decision[bool]:
        found = _found(stored, case_id)
        agreed = preview(
            found, policy, connected, count=count, interval=interval, start=start, now=now
        )
        chosen = instalments.Interval(str(interval))
        request = rules.new_request(found.dunning, PLAN, "", how, now, salt)
        digest = instalments.terms_digest(
            shop=shop, case_id=case_id, instalments=agreed, interval=chosen, locale=locale
        )
        zone = rules.customer_zone_of(found, policy)
        plan = instalments.new_plan(PLAN_ID, request.id, agreed, chosen, zone, digest, locale, now)
        total = plan.total
        summary = (
            f"the customer agreed to pay {total} in {len(agreed)} instalments "
            f"{_EVERY[chosen]} "
            f"from {agreed[0].due_on.isoformat()} to {agreed[-1].due_on.isoformat()}"
        )
        dunning = found.dunning_or_raise().planned(
            plan, request, summary, policy.instalments.grace_days
        )
        entry = entry_for(
            found,
            "customer.plan",
            summary,
            "reminders paused; the card is saved at Stripe Checkout",
            now,
            event_id=f"customer:plan:{case_id}:{request.id}",
            source="customer",
            extra={
                "request_id": request.id,
                "request_digest": rules.request_digest(request),
                "terms_digest": digest,
                "terms_version": instalments.TERMS_VERSION,
            },
        )
        return store.Change(found.case, entry, True, dunning=dunning)

    changed: bool = store.change(shop, case_id, decide, now=now)
    written = store.load(shop, case_id)
    assert changed
    assert written is not None  # just written
    metrics.add_metric(name="InstalmentPlansAgreed", unit="Count", value=1)
    return written


def card_checkout(stored: StoredCase, *, return_url: str) -> str:
    """Where the customer saves their card for the plan (paying the first instalment when it
    is due now), or pays the instalment that failed. PaymentsUnavailable when Stripe is not
    configured or does not answer; RequestRefused when the plan needs no card now."""
    dunning = stored.dunning
    plan = dunning.plan_in_force if dunning else None
    case = stored.case
    if plan is None or case.status is not CaseStatus.OPEN:
        raise RequestRefused("there is no instalment plan waiting for a payment")
    first = plan.instalments[0]
    if plan.status is PlanStatus.AWAITING_CARD:
        due_now = first.due_at <= plan.made_at
        number = first.number if due_now else None
    else:
        missed = plan.missed
        if missed is None:
            raise RequestRefused("the plan's payments are up to date")
        number = missed.number
    api_key, account = _stripe(case.shop)
    from recoup.integrations import stripe_payments

    try:
        customer = plan.stripe_customer or stripe_payments.create_customer(
            api_key=api_key,
            api_base=get_settings().stripe_api_base,
            account=account,
            shop=case.shop,
            case_id=case.case_id,
            plan_id=plan.id,
            idempotency_key=f"recoup:plan-customer:{case.shop}:{case.case_id}:{plan.id}",
        )
        instalment = plan.instalment(number) if number else None
        amount = Money.of(instalment.amount_minor, plan.currency) if instalment else None
        return stripe_payments.create_plan_checkout(
            api_key=api_key,
            api_base=get_settings().stripe_api_base,
            account=account,
            customer=customer,
            mode="payment" if amount else "setup",
            amount=amount,
            currency=plan.currency,
            description=_description(case, plan, number),
            metadata=_metadata(case, plan, number),
            return_url=return_url,
            idempotency_key=(
                f"recoup:plan-checkout:{case.shop}:{case.case_id}:{plan.id}:{number or 0}:"
                f"{instalment.failures if instalment else 0}"
            ),
        )
    except Exception as error:  # noqa: BLE001 (any Stripe failure: the customer may retry)
        raise _unavailable("Plan checkout not created", case, error) from None


def settle_checkout(
    stored: StoredCase, policy: cadence.ReminderPolicy, *, return_url: str, now: datetime
) -> str:
    """The Checkout Session that pays the open settlement offer: RequestRefused without one,
    PaymentsUnavailable when Stripe is not configured or does not answer."""
    offer = open_offer(stored, policy, now=now)
    if offer is None:
        raise RequestRefused("no settlement offer is open for this order")
    case = stored.case
    api_key, account = _stripe(case.shop)
    from recoup.integrations import stripe

    try:
        return stripe.create_checkout_session(
            api_key=api_key,
            api_base=get_settings().stripe_api_base,
            account=account,
            amount=offer.pay,
            description=f"{_order_name(case)}: settlement ({case.shop})",
            shop=case.shop,
            case_id=case.case_id,
            return_url=return_url,
            extra_metadata={
                stripe.META_CASE: case.case_id,
                stripe.META_SETTLEMENT: offer.offer_id,
                stripe.META_SETTLES: str(offer.owed.to_stripe()),
            },
            idempotency_key=(
                f"recoup:settle:{case.shop}:{case.case_id}:{offer.offer_id}:"
                f"{offer.owed.currency}{offer.owed.minor}"
            ),
        )
    except Exception as error:  # noqa: BLE001 (any Stripe failure: the customer may retry)
        raise _unavailable("Settlement checkout not created", case, error) from None


# ---------------------------------------------------------------- the plan's job


@dataclass(frozen=True, slots=True)
class _Charge:
    plan: Plan
    instalment: instalments.Instalment


def charge_job(body: str) -> StepResult:
    """The plan charges queue's job: `{shop, case_id}` (a plan's), or with `step` -8 a
    retry of the case's failed card payment, -10 an unpaid order's cancellation; run at the
    moment it is read."""
    job = json.loads(body)
    shop, case_id = str(job["shop"]), str(job["case_id"])
    # The same queue carries a case's other money jobs: retries and cancellations.
    if job.get("step") == store.RETRY_CHARGE:
        from recoup.services import payment_retries

        return payment_retries.run_retry(shop, case_id, now=clock.now())
    if job.get("step") == store.CANCEL_ORDER:
        from recoup.services import auto_cancel

        return auto_cancel.run_cancel(shop, case_id, now=clock.now())
    return run_due(str(job["shop"]), str(job["case_id"]), now=clock.now())


def run_due(shop: str, case_id: str, *, now: datetime) -> StepResult:
    """What the plan needs now: lapse (no card in time), break (a missed instalment past
    its grace days) or charge (the next instalment's date has come)."""
    stored = store.load(shop, case_id)
    dunning = stored.dunning if stored else None
    plan = dunning.plan_in_force if dunning else None
    if stored is None or dunning is None or plan is None:
        return StepResult("stale", "no instalment plan in force")
    if dunning.status is not DunningStatus.PLANNED:
        return StepResult("stale", f"the plan waits: the sequence is {dunning.status}")
    if stored.case.status is not CaseStatus.OPEN:
        return StepResult("stale", f"case {stored.case.status}")
    if not shops.is_installed(shop):
        return StepResult("stale", f"{shop} is not installed: nothing is charged")
    due = dunning.plan_due
    if due is None or due[0] > now:
        return StepResult("stale", "nothing of the plan is due yet")
    if due[1] in ("card", "grace"):
        return _end(shop, case_id, now)
    if due[1] == "charge":
        upcoming = plan.next_unpaid
        assert upcoming is not None  # "charge" is due only then
        return _charge(stored, _Charge(plan, upcoming), now)
    return StepResult("stale", f"the plan's {due[1]} is the sender's")


def _end(shop: str, case_id: str, now: datetime) -> StepResult:
    """The plan ends unkept: lapsed (no card saved in time) or broken (a missed instalment
    unpaid past its grace days); the sequence resumes where it paused, or escalates."""
    policy = reminder_policy(shop, shops.get(shop))

    def decide(stored: StoredCase | None) -> StepResult | store.Change[StepResult]:
        dunning = stored.dunning if stored else None
        plan = dunning.plan_in_force if dunning else None
        due = dunning.plan_due if dunning else None
        if stored is None or dunning is None or plan is None or due is None or due[0] > now:
            return StepResult("stale", "the plan changed meanwhile")
        if due[1] not in ("card", "grace"):
            return StepResult("stale", "the plan changed meanwhile")
        lapsed = due[1] == "card"
        status = PlanStatus.LAPSED if lapsed else PlanStatus.BROKEN
        if lapsed:
            summary = "the instalment plan lapsed: the card was not saved in time"
        else:
            missed = plan.missed
            number = missed.number if missed else "?"
            summary = f"the instalment plan is broken: instalment {number} was not paid in time"
        ended = plan.ended(status, now, summary)
        after = _after_plan(
            dunning.with_plan(ended),
            followed(policy, dunning),
            stored.case,
            now,
            broken=not lapsed,
        )
        entry = entry_for(
            stored,
            f"customer.plan_{status}",
            summary,
            next_words(after),
            now,
            event_id=f"recoup:plan_{status}:{case_id}:{plan.id}",
            source="recoup",
        )
        metrics.add_metric(name=f"InstalmentPlans{status.title()}", unit="Count", value=1)
        return store.Change(stored.case, entry, StepResult(str(status), summary), after)

    return store.change(shop, case_id, decide, now=now)


def _after_plan(
    dunning: Dunning, policy: cadence.ReminderPolicy, case: Case, now: datetime, *, broken: bool
) -> Dunning:
    """The sequence after a plan ended unkept: a broken plan escalates when the shop says
    so; otherwise the sequence resumes at its next unsent step (a broken plan's worded so),
    or, with none left, awaits escalation."""
    reason = "instalment plan broken" if broken else "instalment plan not set up"
    step = dunning.next_unsent()
    escalate = broken and policy.instalments.on_broken is instalments.OnBroken.ESCALATE
    if escalate or step is None or step >= len(policy.steps):
        return dunning.spend(now, f"{reason}: the referral check is due")
    last_sent = dunning.sent[-1].at if dunning.sent else None
    at = cadence.step_due_at(policy, step, dunning.starts_from(case.opened_at or now), last_sent)
    resumed = dunning.resume_at(step, at, now, f"{reason}: step {step + 1} resumes")
    return resumed.after_plan_broken(step) if broken else resumed


def _charge(stored: StoredCase, due: _Charge, now: datetime) -> StepResult:
    case = stored.case
    plan, instalment = due.plan, due.instalment
    if not plan.payment_method or not plan.stripe_customer:
        return _record_failure(case, plan, instalment, None, "no_saved_card", now)
    api_key, account = _stripe(case.shop, failing=False)
    from recoup.integrations import stripe_payments

    if not api_key or not account:
        return _record_failure(case, plan, instalment, None, "stripe_not_connected", now)
    try:
        result = stripe_payments.charge_off_session(
            api_key=api_key,
            api_base=get_settings().stripe_api_base,
            account=account,
            customer=plan.stripe_customer,
            payment_method=plan.payment_method,
            amount=Money.of(instalment.amount_minor, plan.currency),
            description=_description(case, plan, instalment.number),
            metadata=_metadata(case, plan, instalment.number),
            idempotency_key=instalments.idempotency_key(case.shop, case.case_id, plan, instalment),
        )
    except stripe_payments.ChargeRefused as refused:
        return _record_failure(case, plan, instalment, None, refused.code or "refused", now)
    # ChargeNotConfirmed propagates: the job fails, SQS retries it with the same key.
    if result.outcome == "succeeded":
        return _record_paid(case, plan, instalment, result.payment_intent, now)
    return _record_failure(case, plan, instalment, result.payment_intent, result.code, now)


def _record_paid(
    case: Case, plan: Plan, instalment: instalments.Instalment, intent: str | None, now: datetime
) -> StepResult:
    metrics.add_metric(name="InstalmentsCharged", unit="Count", value=1)
    number = instalment.number
    return _record_charge(
        case,
        plan.id,
        "plan_charged",
        f"instalment {number} of {len(plan.instalments)} charged: "
        f"{Money.of(instalment.amount_minor, plan.currency)}",
        ("charged", str(number), {"payment_intent": intent}),
        lambda live: live.paid_instalment(number, intent, now),
        now,
    )


def _record_failure(
    case: Case,
    plan: Plan,
    instalment: instalments.Instalment,
    intent: str | None,
    code: str | None,
    now: datetime,
) -> StepResult:
    """The charge failed: the customer is told (the sender's notice, with a link to pay it)
    and the grace days run."""
    metrics.add_metric(name="InstalmentsFailed", unit="Count", value=1)
    mark = intent or f"attempt-{instalment.failures + 1}"
    number = instalment.number

    def failed(live: Plan) -> Plan:
        if live.status is not PlanStatus.ACTIVE:
            return live
        return live.failed_instalment(number, mark, code, now)

    return _record_charge(
        case,
        plan.id,
        "plan_charge_failed",
        f"instalment {number} of {len(plan.instalments)} could not be charged "
        f"({code or 'no reason given'})",
        ("failed", mark, {"payment_intent": intent, "code": code}),
        failed,
        now,
    )


def _record_charge(
    case: Case,
    plan_id: str,
    kind: str,
    summary: str,
    outcome: tuple[str, str, dict[str, object]],
    move: Callable[[Plan], Plan],
    now: datetime,
) -> StepResult:
    """A charge's outcome on the plan and the trail (`outcome`: the result's name, what
    makes the entry's id unique, the entry's extra fields); once, however often it is told."""
    result, mark, extra = outcome

    def decide(current: StoredCase | None) -> StepResult | store.Change[StepResult]:
        dunning = current.dunning if current else None
        live = dunning.plan if dunning else None
        if current is None or dunning is None or live is None or live.id != plan_id:
            return StepResult("stale", "the plan is gone")
        updated = dunning.with_plan(move(live))
        if updated == dunning:
            return StepResult(result, f"{summary} (recorded already)")
        entry = entry_for(
            current,
            f"customer.{kind}",
            summary,
            next_words(updated),
            now,
            event_id=f"recoup:{kind}:{case.case_id}:{plan_id}:{mark}",
            source="recoup",
            extra=extra,
        )
        return store.Change(current.case, entry, StepResult(result, summary), updated)

    return store.change(case.shop, case.case_id, decide, now=now)


# ---------------------------------------------------------------- helpers


def _unavailable(what: str, case: Case, error: Exception) -> PaymentsUnavailable:
    """A Checkout Stripe did not open, logged and counted (never its details): the customer
    is told the payment page could not open and may try again."""
    logger.warning(what, extra={"case_id": case.case_id, "error_type": type(error).__name__})
    metrics.add_metric(name="PlanCheckoutFailed", unit="Count", value=1)
    return PaymentsUnavailable("the payment page could not be opened")


def _found(stored: StoredCase | None, case_id: str) -> StoredCase:
    if stored is None or stored.case.merged_into is not None or not stored.case.opened:
        raise UnknownCase(f"no case {case_id} in this shop")
    return stored


def connected_item(shop_item: object) -> bool:
    """Whether a shop (its item, as read) can take plan payments: its Stripe account
    connected and the platform's key set."""
    account = getattr(shop_item, "stripe_account", None)
    return bool(account) and get_settings().stripe_api_key() is not None


def connected(shop: str) -> bool:
    """Whether the shop can take plan payments: Stripe connected and the platform key set."""
    return connected_item(shops.get(shop))


def _stripe(shop: str, *, failing: bool = True) -> tuple[str, str]:
    shop_item = shops.get(shop)
    account = shop_item.stripe_account if shop_item else None
    api_key = get_settings().stripe_api_key()
    if failing and not (api_key and account):
        raise PaymentsUnavailable("Stripe is not connected for this shop")
    return api_key or "", account or ""


def _order_metadata(case: Case) -> dict[str, str]:
    from recoup.integrations import stripe

    metadata = {stripe.META_SHOP: case.shop, stripe.META_CASE: case.case_id}
    if case.case_id.isdigit():
        metadata[stripe.META_ORDER] = case.case_id
    return metadata


def _metadata(case: Case, plan: Plan, number: int | None) -> dict[str, str]:
    from recoup.integrations import stripe

    metadata = {**_order_metadata(case), stripe.META_PLAN: plan.id}
    if number:
        metadata[stripe.META_INSTALMENT] = str(number)
        if number == plan.instalments[-1].number:
            metadata[stripe.META_FINAL] = "1"
    return metadata


def _order_name(case: Case) -> str:
    snapshot = case.snapshot
    return (snapshot.order_name if snapshot and snapshot.order_name else None) or "Order"


def _description(case: Case, plan: Plan, number: int | None) -> str:
    what = f"instalment {number} of {len(plan.instalments)}" if number else "instalment plan"
    return f"{_order_name(case)}: {what} ({case.shop})"


__all__ = [
    "PLAN",
    "PaymentsUnavailable",
    "agree",
    "card_checkout",
    "charge_job",
    "connected",
    "connected_item",
    "open_offer",
    "plan_choices",
    "plan_refusal",
    "preview",
    "run_due",
    "settle_checkout",
]
