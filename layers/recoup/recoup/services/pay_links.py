"""What a reminder's pay link opens, decided when the customer clicks it.

The link (`links.sign_pay`) names only the shop and the case and lasts 180 days. Each click
re-reads the case: while it is open and owes something, the customer is sent (303) to a
Stripe Checkout Session for what is owed *now* on the shop's connected account (created at
that moment; the idempotency key is the case and the amount, so clicks within Stripe's 24
hours reuse the same session and a changed amount gets a new one), or to the Shopify order's
own payment page when Stripe is not connected. A paid, cancelled, referred or written-off case
answers with a page that says so. The first click of each day goes on the case's trail
(`pay_link.opened`), the customer's first sign of engagement; later ones add nothing, so a
link cannot be used to flood the trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from recoup.domain.aggregate import StoredCase
from recoup.domain.audit import AuditEntry
from recoup.domain.case import Case, CaseStatus
from recoup.domain.instalments import PlanStatus
from recoup.domain.money import Money
from recoup.errors import Conflict
from recoup.links import SAMPLE_TOKEN, InvalidLink, verify_pay
from recoup.observability import logger, metrics
from recoup.settings import get_settings
from recoup.store import cases as store
from recoup.store import shops

OPENED = "pay_link.opened"  # the audit entry kind of a click
WRITE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class PayAnswer:
    """A redirect (`location`) or a page (`title`, `message`) for the customer."""

    status: int
    location: str | None = None
    title: str = ""
    message: str = ""


def open_link(token: str, *, now: datetime) -> PayAnswer:
    if token == SAMPLE_TOKEN:
        return PayAnswer(
            200,
            title="Test message",
            message=(
                "This pay link came in a test message. In a customer's reminder it opens a "
                "payment for what they still owe."
            ),
        )
    link = verify_pay(token, now=now, secrets=get_settings().link_secrets())
    stored = store.load(link.shop, link.case_id)
    shop_item = shops.get(link.shop)
    name = (shop_item.shop_name if shop_item else None) or link.shop
    contact = shops.reply_address(shop_item) or f"https://{link.shop}"
    if stored is None or not stored.case.opened:
        raise InvalidLink("this order is not one the store is collecting a payment for")
    case = stored.case
    closed = _closed(stored, name, contact)
    if closed is not None:
        return closed
    owed = case.amount_owed
    if owed is None or owed.minor <= 0:
        return PayAnswer(200, title="Nothing to pay", message=f"{name} shows nothing owed.")
    planned = _plan_checkout(stored)
    if planned is not None:
        _record_click(stored, owed, now, "the instalment plan's Checkout")
        return PayAnswer(303, location=planned)
    checkout = _checkout(case, owed, shop_item.stripe_account if shop_item else None)
    target = checkout or (case.snapshot.pay_url if case.snapshot else None)
    via = "Stripe Checkout" if checkout else "the order's payment page" if target else "no page"
    _record_click(stored, owed, now, via)
    if not target:
        return PayAnswer(
            200,
            title="Pay the store directly",
            message=f"{name} has no online payment page for this order. Contact them: {contact}.",
        )
    metrics.add_metric(name="PayLinkOpened", unit="Count", value=1)
    return PayAnswer(303, location=target)


def _closed(stored: StoredCase, name: str, contact: str) -> PayAnswer | None:
    case = stored.case
    if case.status is CaseStatus.PAID:
        return PayAnswer(
            200, title="Already paid", message=f"This order is paid. Thank you. ({name})"
        )
    if case.status is CaseStatus.CANCELLED:
        return PayAnswer(
            200,
            title="Order cancelled",
            message=f"This order was cancelled; there is nothing to pay. Questions: {contact}.",
        )
    referrals = stored.referrals
    if referrals is not None and referrals.written_off is not None:
        return PayAnswer(
            200, title="Nothing to pay here", message=f"Contact {name} about this order: {contact}."
        )
    latest = referrals.latest if referrals else None
    if latest is not None and latest.active:
        who = "a collection agency" if str(latest.kind) == "agency" else "the store's lawyers"
        return PayAnswer(
            200,
            title="Handed over",
            message=(
                f"{name} has handed this order to {who}; pay through them, or contact "
                f"{name}: {contact}."
            ),
        )
    return None


def _plan_checkout(stored: StoredCase) -> str | None:
    """An instalment plan waiting for its card, or with a missed instalment: the link pays
    that (the notice of a missed instalment carries this link); None otherwise, or when
    Stripe does not answer (then the whole amount can still be paid)."""
    dunning = stored.dunning
    plan = dunning.plan_in_force if dunning else None
    if plan is None or (plan.status is PlanStatus.ACTIVE and plan.missed is None):
        return None
    from recoup.services import instalment_plans

    try:
        return instalment_plans.card_checkout(stored, return_url=f"https://{stored.case.shop}")
    except (instalment_plans.PaymentsUnavailable, Conflict):
        return None


def _checkout(case: Case, owed: Money, account: str | None) -> str | None:
    """A Checkout Session for what is owed now, when the platform key and the shop's
    connected account are configured; None otherwise (or when Stripe fails: the order's own
    page still lets the customer pay)."""
    api_key = get_settings().stripe_api_key()
    if not (api_key and account):
        return None
    from recoup.integrations import stripe

    name = case.snapshot.order_name if case.snapshot and case.snapshot.order_name else ""
    try:
        return stripe.create_checkout_session(
            api_key=api_key,
            api_base=get_settings().stripe_api_base,
            account=account,
            amount=owed,
            description=f"{name or 'Order'} ({case.shop})",
            shop=case.shop,
            case_id=case.case_id,
            return_url=f"https://{case.shop}",
            idempotency_key=f"recoup:pay:{case.shop}:{case.case_id}:{owed.currency}{owed.minor}",
        )
    except Exception as error:  # noqa: BLE001 (any Stripe failure: the order's page instead)
        logger.warning(
            "Checkout Session not created; the order's page is used",
            extra={"case_id": case.case_id, "error_type": type(error).__name__},
        )
        metrics.add_metric(name="PayLinkCheckoutFailed", unit="Count", value=1)
        return None


def _record_click(stored: StoredCase, owed: Money, now: datetime, via: str) -> None:
    """The day's first click onto the trail; best effort (the customer is not kept waiting
    for it, and a lost click loses no money)."""
    today = now.date().isoformat()

    def decide(current: StoredCase | None) -> store.Change[None] | None:
        if current is None:
            return None
        last = store.audit_entry(current.case.shop, current.case.case_id, current.audit_seq)
        if last and last.body.get("kind") == OPENED and last.body.get("day") == today:
            return None
        entry = store.recoup_entry(
            current,
            source="customer",
            kind=OPENED,
            event_id=f"pay:{current.case.case_id}:{today}",
            summary=f"the customer opened the pay link ({owed}; {via})",
            effect="",
            now=now,
        )
        entry = AuditEntry.following(
            current.audit_seq, entry.prev_hash, {**entry.body, "day": today}
        )
        return store.Change(current.case, entry, None)

    case = stored.case
    try:
        store.change(
            case.shop, case.case_id, decide, now=now, first=stored, attempts=WRITE_ATTEMPTS
        )
    except store.ConcurrentUpdate:
        return  # other writers kept getting there first
    except Exception as error:  # noqa: BLE001 (the redirect matters more than the note)
        logger.warning(
            "Pay link click not recorded",
            extra={"case_id": case.case_id, "error_type": type(error).__name__},
        )
