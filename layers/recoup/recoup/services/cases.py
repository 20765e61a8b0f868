"""Apply a queued domain event to its case, exactly once, and read cases back.

The business metrics of a case's life are counted here, after the write that changed it
commits (a redelivered event changes nothing and counts nothing): CasesOpened and AmountOwed
when it first owes money, AmountRecovered when a case the reminders chased is paid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime

from recoup import clock, observability
from recoup.domain.aggregate import StoredCase
from recoup.domain.audit import GENESIS, AuditEntry
from recoup.domain.case import Case, CaseStatus, apply, join, new_case
from recoup.domain.dunning import DunningStatus
from recoup.domain.events import DomainEvent
from recoup.domain.fraud.screening import Gate, Screening
from recoup.domain.rollup import RECOVERED, payment_kind
from recoup.errors import RecoupError
from recoup.observability import logger, metrics
from recoup.services import page_links, screening
from recoup.services.reminder_plan import on_case_change
from recoup.services.tagging import flag_customer
from recoup.store import case_reads, policies, shops
from recoup.store import cases as store


class UnroutableEvent(RecoupError):
    """The event names neither a shop nor a Stripe account (the intake refuses these)."""


@dataclass(frozen=True, slots=True)
class Applied:
    shop: str
    case_id: str
    duplicate: bool
    effect: str
    case: Case


@dataclass(frozen=True, slots=True)
class EventJob:
    """What the worker did with one queued event, in words (no personal data): logged."""

    outcome: str  # applied, duplicate or ignored
    shop: str | None = None
    case_id: str | None = None
    effect: str = ""


def apply_job(body: str) -> EventJob:
    """The worker's entry: apply one queued event and say what happened."""
    applied = apply_message(body)  # looked up on the module: the benchmarks wrap it
    if applied is None:
        return EventJob("ignored", effect="no installed shop owns it")
    if applied.duplicate:
        return EventJob("duplicate", applied.shop, applied.case_id, applied.effect)
    metrics.add_metric(name="EventApplied", unit="Count", value=1)
    return EventJob("applied", applied.shop, applied.case_id, applied.effect)


def apply_message(body: str, *, now: datetime | None = None) -> Applied | None:
    """Apply one queued message (the JSON of a DomainEvent)."""
    return apply_event(DomainEvent.from_dict(json.loads(body)), now=now)


def apply_event(event: DomainEvent, *, now: datetime | None = None) -> Applied | None:
    now = now or clock.now()
    shop = _shop_of(event)
    if shop is None:
        # A connected account that was never connected here, or was disconnected: not a
        # failure (the DLQ's alarm must mean one), so it is recorded as ignored, by account.
        logger.warning(
            "Stripe event for an account no installed shop has connected",
            extra={
                "event_id": event.event_id,
                "kind": event.kind,
                "stripe_account": event.stripe_account,
            },
        )
        metrics.add_metric(name="StripeEventUnrouted", unit="Count", value=1)
        return None
    event = event.with_shop(shop)
    if not event.linked:
        # Charges, disputes and fraud warnings don't carry the order's metadata: follow
        # the cross reference a linked event about the same payment left.
        linked_case = store.resolve_xref(shop, event.stripe_refs)
        if linked_case is not None:
            event = event.with_case(linked_case, linked=True)
    # The case, the shop's policies and (unless cached) the shop in one read; the policies
    # hold for the event.
    first, docs = case_reads.case_with_policies(shop, event.case_id)
    if not shops.is_installed(shop):
        logger.warning("Event for a shop that is not installed", extra={"shop": shop})
        return None
    with policies.held(shop, docs):
        return _apply_loaded(shop, event, first, now)


def _apply_loaded(
    shop: str, event: DomainEvent, first: StoredCase | None, now: datetime
) -> Applied:
    """Apply the event to its case, or to the case it was merged into, as one change: a
    concurrent write to the case reads it again and applies the event again."""

    def decide(prior: StoredCase | None) -> store.Decision[Applied]:
        nonlocal event
        if prior is not None and prior.case.merged_into:
            event = event.with_case(prior.case.merged_into, linked=True)
            return store.ReadAgain(prior.case.merged_into)
        return _applied(shop, event, prior, now)

    return store.change(shop, event.case_id, decide, now=now, first=first)


def _applied(
    shop: str, event: DomainEvent, prior: StoredCase | None, now: datetime
) -> store.Change[Applied] | Applied:
    """The case with the event applied, with what follows from it (payment cases merged in,
    the fraud screening, the reminder sequence); a duplicate changes nothing."""
    case = prior.case if prior else new_case(shop, event.case_id)
    outcome = apply(case, event)
    if outcome.duplicate:
        _redelivered(prior, case, event)
        return Applied(shop, event.case_id, True, outcome.effect, case)
    merged, effect = outcome.case, outcome.effect
    absorbed: list[store.CaseWrite] = []
    xrefs = list(event.stripe_refs) if event.linked else []
    if event.linked:
        merged, absorbed, xrefs = _absorb_payment_cases(shop, event, merged, xrefs, now)
        if absorbed:
            names = ", ".join(w.case.case_id for w in absorbed)
            effect = f"{effect}; merged payment case {names}"
    screened = screening.screen(prior, merged, now, [w.prior for w in absorbed if w.prior])
    if screened.effect:
        effect = f"{effect}; {screened.effect}"
    current_screening = screened.screening or (prior.screening if prior else None)
    reminders = on_case_change(prior, merged, current_screening, now)

    def committed() -> None:
        logger.info(
            "Applied event",
            extra={"event_id": event.event_id, "case_id": event.case_id, "effect": effect},
        )
        _after_commit(prior, merged, current_screening)
        _close_page_of_old_address(prior, merged, now)
        _count(prior, merged, absorbed)

    return store.Change(
        merged,
        _next_entry(prior, event, effect, now),
        Applied(shop, event.case_id, False, effect, merged),
        dunning=reminders,
        screening=screened.screening,
        others=absorbed,
        xrefs=xrefs,
        updates=screened.counters,
        after=committed,
    )


def _redelivered(prior: StoredCase | None, case: Case, event: DomainEvent) -> None:
    logger.info("Duplicate event", extra={"event_id": event.event_id})
    if prior is not None and prior.screening and prior.screening.gate is Gate.FLAG:
        # A redelivery may follow a tag job that failed to queue: queue it again.
        flag_customer(case, "fraud", prior.screening.why())


def _after_commit(prior: StoredCase | None, case: Case, screened: Screening | None) -> None:
    """Side effects outside the table, once the case is stored: tag a customer the check
    just flagged (at-least-once: tagging is idempotent)."""
    before = prior.screening.gate if prior and prior.screening else None
    if screened is not None and screened.gate is Gate.FLAG and before is not Gate.FLAG:
        flag_customer(case, "fraud", screened.why())


def _close_page_of_old_address(prior: StoredCase | None, case: Case, now: datetime) -> None:
    """The order's email or phone changed (the merchant corrected a mistyped address): the
    page link already sent went to the old one, whose holder must not keep seeing the order
    or acting on it. The next message carries a new link. After the commit, best-effort:
    a failure is logged and counted (alarmed), and the old link still expires."""
    before = prior.case.snapshot.customer if prior and prior.case.snapshot else None
    after = case.snapshot.customer if case.snapshot else None
    if before is None or after is None:
        return
    if (before.email, before.phone) == (after.email, after.phone):
        return
    try:
        revoked = page_links.revoke(case.shop, case.case_id, now=now)
    except Exception as error:  # noqa: BLE001 - the change is stored; the alarm tells ops
        logger.error(
            "Page link of a changed address not revoked",
            extra={"case_id": case.case_id, "error_type": type(error).__name__},
        )
        metrics.add_metric(name="PageLinkFailed", unit="Count", value=1)
        return
    if revoked:
        logger.info(
            "Page link revoked: the order's address changed", extra={"case_id": case.case_id}
        )


def _count(prior: StoredCase | None, case: Case, absorbed: list[store.CaseWrite]) -> None:
    """The business metrics of this change, once it is committed."""
    opened_before = (prior is not None and prior.case.opened) or any(
        # A payment case merged in was counted when it opened: the same debt, not a new one.
        write.prior is not None and write.prior.case.opened
        for write in absorbed
    )
    if case.opened and not opened_before:
        owed = case.amount_owed or case.owed_when_open
        observability.case_opened(owed.currency if owed else "")
        if owed is not None:
            observability.amount_owed(owed.currency, owed.minor)
    paid_before = prior is not None and prior.case.status is CaseStatus.PAID
    recovered = case.recovered
    # Chased: paid at or after the first message sent, as the admin figures' "recovered"
    # (domain.rollup) counts it; this metric sums it by the day of the payment.
    chased = payment_kind(case, prior.dunning if prior else None) == RECOVERED
    if recovered is not None and not paid_before and chased:
        observability.amount_recovered(recovered.currency, recovered.minor)


def _next_entry(
    prior: StoredCase | None, event: DomainEvent, effect: str, now: datetime
) -> AuditEntry:
    return AuditEntry.following(
        prior.audit_seq if prior else 0,
        prior.audit_head if prior else GENESIS,
        audit_body(event, effect, now),
    )


def _absorb_payment_cases(
    shop: str,
    event: DomainEvent,
    merged: Case,
    xrefs: list[str],
    now: datetime,
) -> tuple[Case, list[store.CaseWrite], list[str]]:
    """A Stripe event that names its Shopify order may arrive after other events about the
    same payment (a charge.failed carries no metadata) opened a case of their own. Fold
    such cases into the order's case, so the order of deliveries never splits one debt in two.
    """
    absorbed: list[store.CaseWrite] = []
    candidates = store.load_many(shop, (r for r in event.stripe_refs if r != merged.case_id))
    for ref, other in sorted(candidates.items()):
        if other.case.merged_into is not None:
            continue
        merged = join(merged, other.case)
        xrefs.extend(other.case.stripe_refs)
        note = f"merged into order {merged.case_id} (payment {ref} belongs to it)"
        stopped = other.dunning.finish(DunningStatus.STOPPED, note) if other.dunning else None
        absorbed.append(
            store.CaseWrite(
                replace(other.case, merged_into=merged.case_id),
                other,
                _next_entry(other, event, note, now),
                stopped,
            )
        )
    return merged, absorbed, xrefs


def audit_body(event: DomainEvent, effect: str, now: datetime) -> dict[str, object]:
    return {
        "event_id": event.event_id,
        "source": str(event.source),
        "kind": event.kind,
        "fact": str(event.fact),
        "occurred_at": event.occurred_at.isoformat(),
        "recorded_at": now.isoformat(),
        "summary": event.summary,
        "effect": effect,
    }


def _shop_of(event: DomainEvent) -> str | None:
    """The shop the event belongs to: its own, or the one that connected its Stripe account
    (None: no shop has)."""
    if event.shop:
        return event.shop
    if event.stripe_account:
        return shops.shop_for_stripe_account(event.stripe_account)
    raise UnroutableEvent(f"event {event.event_id}: names neither a shop nor a Stripe account")


def list_cases(shop: str, *, include_untracked: bool = False) -> list[Case]:
    return list(store.list_cases(shop, include_untracked=include_untracked))


def list_stored(shop: str, *, include_untracked: bool = False) -> list[StoredCase]:
    """The shop's cases with their reminder progress (the local tools' listing)."""
    found = store.all_cases(shop) if include_untracked else store.tracked_cases(shop)
    return [held for held in found if held.case.merged_into is None]


def timeline(shop: str, case_id: str) -> list[AuditEntry]:
    return store.audit_trail(shop, case_id)
