"""The merchant's notices against moto: the waiting markers follow the case, the digest lists
what waits (of that shop only) once a local day at the chosen hour, immediate notices, an SES
failure retried and not lost, erasure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from recoup import aws, clock
from recoup.domain.events import Customer, DomainEvent, Fact, LineItem, OrderSnapshot, Source
from recoup.domain.money import Money
from recoup.domain.referral import EmailHandOver, ReferralKind, Referrals, start_referral
from recoup.domain.referral.lifecycle import NotificationStatus
from recoup.errors import InvalidInput, VersionConflict
from recoup.integrations.shopify_privacy import PrivacyJob
from recoup.services import actions, cases, erasure, notifications, shops
from recoup.services.shop_settings import DocumentUpdate
from recoup.settings import get_settings
from recoup.store import cases as case_store
from recoup.store import shops as shop_store
from recoup.store import waiting
from recoup_local.outbox import sent_messages
from tests.conftest import SHOP, STRIPE_ACCOUNT

OTHER = "other-shop.myshopify.com"
OWNER = "owner@demo-electronics.example"
OTHER_OWNER = "owner@other-shop.example"
T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
GOOD = {
    "billing_country": "US",
    "shipping_country": "US",
    "billing_postcode": "94107",
    "shipping_postcode": "94107",
    "billing_name": "Ada Lovelace",
    "shipping_name": "Ada Lovelace",
    "customer_orders_count": 6,
    "customer_age_days": 700,
    "browser_ip": "203.0.113.9",
    "expedited_shipping": False,
}
# A brand-new account shipping a laptop abroad by express: held for review.
RISKY = {
    **GOOD,
    "shipping_country": "NG",
    "shipping_postcode": "100001",
    "shipping_name": "J Doe",
    "customer_orders_count": 0,
    "customer_age_days": 0,
    "expedited_shipping": True,
}


class Clock:
    now = T0


@pytest.fixture
def at(local: Any) -> Iterator[type[Clock]]:
    """The demo shop in Berlin with a contact email, another shop in UTC, a settable clock."""
    shops.install(
        SHOP, stripe_account=STRIPE_ACCOUNT, contact_email=OWNER, timezone="Europe/Berlin"
    )
    shops.install(OTHER, contact_email=OTHER_OWNER)
    waiting.forget_registrations()
    Clock.now = T0
    clock.use(lambda: Clock.now)
    yield Clock
    clock.use(None)
    waiting.forget_registrations()


def order(case_id: str, signals: dict[str, Any], *, shop: str = SHOP) -> DomainEvent:
    return DomainEvent(
        event_id=f"order-{shop}-{case_id}",
        source=Source.SHOPIFY,
        kind="orders/create",
        shop=shop,
        case_id=case_id,
        occurred_at=T0,
        fact=Fact.UNPAID,
        snapshot=OrderSnapshot(
            amount_owed=Money.of(129900, "USD"),
            order_total=Money.of(129900, "USD"),
            order_name=f"#{case_id}",
            customer=Customer(customer_id="6001", email="ada@example.com", first_name="Ada"),
            line_items=(LineItem("Laptop 14", 1, Money.of(129900, "USD"), "LAP-14", "Laptops"),),
        ),
        signals=dict(signals),
        linked=True,
    )


def apply(event: DomainEvent) -> None:
    assert cases.apply_event(event, now=Clock.now) is not None


def waiting_ids(shop: str = SHOP) -> list[tuple[str, str]]:
    return [(m.case_id, m.reason) for m in waiting.markers(shop)]


def run_at(local: Any, when: datetime) -> None:
    """The scheduler's run of `when`, then every queue consumer until the queues are empty."""
    Clock.now = when
    local.lambdas.run_schedules(when)
    local.lambdas.drain()


def notices_to(local: Any, address: str) -> list[Any]:
    found = []
    for sent in sent_messages(local.stack.region):
        message = message_from_bytes(sent.content, policy=policy.default)
        if sent.kind == "email" and str(message["To"]) == address:
            found.append(message)
    return found


def subject(message: Any) -> str:
    return " ".join(str(message["Subject"]).split())  # unfolded


def text_of(message: Any) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


def depth(local: Any, queue: str) -> int:
    attributes = boto3.client("sqs", region_name="us-east-1").get_queue_attributes(
        QueueUrl=local.stack.refs[queue],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def refer(case_id: str) -> None:
    """Record a referral on the case through the unit of work, as the referral check does
    (its hand-over already delivered: this test is about the merchant's notice)."""

    def decide(stored: Any) -> Any:
        made = start_referral(
            ReferralKind.AGENCY,
            at=Clock.now,
            reason="reminders spent",
            owed=Money.of(129900, "USD"),
            hand_over=EmailHandOver("claims@agency.example"),
        )
        done = replace(
            made,
            notification=replace(
                made.notification, status=NotificationStatus.DELIVERED, due_at=None
            ),
        )
        entry = case_store.recoup_entry(
            stored,
            source="recoup",
            kind="escalation.referred",
            event_id=f"recoup:referred:{case_id}",
            summary="referred to the agency",
            effect="referred",
            now=Clock.now,
        )
        referrals = (stored.referrals or Referrals()).added("agency-1", done)
        return case_store.Change(stored.case, entry, None, referrals=referrals)

    case_store.change(SHOP, case_id, decide, now=Clock.now)


# ---------------------------------------------------------------- markers


def test_the_waiting_marker_follows_the_case(at: Any) -> None:
    apply(order("2001", RISKY))
    apply(order("2002", GOOD))
    assert waiting_ids() == [("2001", "review")]
    # Approved: it waits no more, in the same write
    actions.perform(SHOP, "2001", "approve", by="staff-1", note="called", now=at.now)
    assert waiting_ids() == []
    # Confirming fraud ends the wait too
    apply(order("2003", RISKY))
    assert waiting_ids() == [("2003", "review")]
    actions.perform(SHOP, "2003", "confirm_fraud", by="staff-1", note="", now=at.now)
    assert waiting_ids() == []


def test_cases_waiting_before_the_markers_existed_are_marked_once(at: Any) -> None:
    from recoup.store.models import WaitingItem, case_pk
    from recoup.store.waiting_backfill import mark_waiting

    # Given two cases held for review and one that waits for nothing, in two shops, stored
    # as a release before the markers left them (no marker)
    apply(order("2101", RISKY))
    apply(order("2102", GOOD))
    apply(order("2103", RISKY, shop=OTHER))
    for shop, case_id in ((SHOP, "2101"), (OTHER, "2103")):
        WaitingItem(case_pk(shop, case_id), waiting.WAIT_SK).delete()
    assert waiting_ids() == [] and waiting_ids(OTHER) == []
    # When the one-off runs for one shop / Then only its waiting case is marked
    report = mark_waiting(now=at.now, shop=SHOP)
    assert (report.marked, report.shops) == (1, {SHOP})
    assert waiting_ids() == [("2101", "review")] and waiting_ids(OTHER) == []
    # And for every shop: the other's case is marked, the first is not marked twice
    again = mark_waiting(now=at.now)
    assert (again.marked, again.present, again.shops) == (1, 1, {OTHER})
    assert waiting_ids(OTHER) == [("2103", "review")]
    # And a marked case's wait still ends with the write that ends it
    actions.perform(SHOP, "2101", "approve", by="staff-1", note="called", now=at.now)
    assert waiting_ids() == []


# ---------------------------------------------------------------- the digest


def test_the_digest_lists_exactly_the_shops_waiting_cases_once_a_day_at_its_hour(
    local: Any, at: Any
) -> None:
    apply(order("2001", RISKY))
    apply(order("2002", GOOD))  # its reminders run: it waits for no one
    apply(order("2004", RISKY))
    actions.perform(SHOP, "2004", "approve", by="staff-1", note="", now=at.now)
    apply(order("3001", RISKY, shop=OTHER))

    # 07:00 in Berlin (06:00 UTC): before the demo shop's hour (8, the default)
    run_at(local, datetime(2026, 11, 3, 6, 0, 30, tzinfo=UTC))
    assert notices_to(local, OWNER) == []
    # 08:00 in Berlin: its digest, with #2001 alone
    run_at(local, datetime(2026, 11, 3, 7, 0, 30, tzinfo=UTC))
    (digest,) = notices_to(local, OWNER)
    assert subject(digest) == "Recoup: 1 case(s) wait for you at " + SHOP
    text = text_of(digest)
    assert "- #2001, USD 1,299.00: held for fraud review" in text
    assert f"/app/cases/2001?shop={SHOP}" in text
    front = get_settings().public_base_url()  # the local stack's own front
    assert f"{front}/app/cases/2001?shop={SHOP}" in text
    assert f"Change these emails: {front}/app/notifications?shop={SHOP}" in text
    assert "#2002" not in text and "#2004" not in text and "#3001" not in text
    # Later that day: not again (08:00 UTC is 09:00 in Berlin, and 08:00 for the other shop)
    run_at(local, datetime(2026, 11, 3, 8, 0, 30, tzinfo=UTC))
    assert len(notices_to(local, OWNER)) == 1
    (other,) = notices_to(local, OTHER_OWNER)
    assert "#3001" in text_of(other) and "#2001" not in text_of(other)
    # The next day at 8 in Berlin: again, since #2001 still waits
    run_at(local, datetime(2026, 11, 4, 7, 0, 30, tzinfo=UTC))
    assert len(notices_to(local, OWNER)) == 2


def test_no_digest_when_it_is_off_or_nothing_waits(local: Any, at: Any) -> None:
    apply(order("2001", RISKY))
    saved = notifications.save_settings(
        SHOP, DocumentUpdate(0, {"email": OWNER, "daily_digest": False}), now=at.now
    )
    assert saved.version == 1
    run_at(local, datetime(2026, 11, 3, 7, 0, 30, tzinfo=UTC))
    assert notices_to(local, OWNER) == []
    notifications.save_settings(SHOP, DocumentUpdate(1, {"email": OWNER}), now=at.now)
    actions.perform(SHOP, "2001", "approve", by="staff-1", note="", now=at.now)
    run_at(local, datetime(2026, 11, 3, 7, 5, 0, tzinfo=UTC))
    run_at(local, datetime(2026, 11, 3, 8, 0, 30, tzinfo=UTC))
    assert notices_to(local, OWNER) == []


def test_an_ses_failure_is_retried_and_a_lasting_one_dead_lettered_not_lost(
    local: Any, at: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply(order("2001", RISKY))
    client = aws.send_client("sesv2")
    original = client.send_email
    failures = {"left": 1}

    def throttled(**kwargs: Any) -> Any:
        if kwargs["Destination"]["ToAddresses"] == [OWNER] and failures["left"] > 0:
            failures["left"] -= 1
            raise ClientError(
                {"Error": {"Code": "Throttling"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
                "SendEmail",
            )
        return original(**kwargs)

    monkeypatch.setattr(client, "send_email", throttled)
    # One throttle: the claim is given back, SQS delivers the job again, the digest goes once
    run_at(local, datetime(2026, 11, 3, 7, 0, 30, tzinfo=UTC))
    assert failures["left"] == 0
    assert len(notices_to(local, OWNER)) == 1
    assert depth(local, "ReminderDeadLetterQueue") == 0

    # Every attempt throttled the next day: the job ends in the (alarmed) DLQ, the day unclaimed
    failures["left"] = 100
    run_at(local, datetime(2026, 11, 4, 7, 0, 30, tzinfo=UTC))
    assert len(notices_to(local, OWNER)) == 1
    assert depth(local, "ReminderDeadLetterQueue") == 1
    assert waiting.digest_state(SHOP).day == "2026-11-03"
    # Redriven once SES is back: sent, once
    failures["left"] = 0
    local.lambdas.redrive("ReminderDeadLetterQueue", "ReminderQueue")
    local.lambdas.drain()
    assert len(notices_to(local, OWNER)) == 2
    assert waiting.digest_state(SHOP).day == "2026-11-04"


# ---------------------------------------------------------------- immediate notices


def test_a_referral_made_is_told_at_once_when_asked_and_in_the_next_digest(
    local: Any, at: Any
) -> None:
    notifications.save_settings(
        SHOP, DocumentUpdate(0, {"email": OWNER, "immediate": True}), now=at.now
    )
    apply(order("2005", GOOD))
    assert waiting.pending_at(SHOP) is None
    refer("2005")
    assert waiting.pending_at(SHOP) == at.now
    # The next scheduler run (not only the hourly one) queues the notice
    run_at(local, T0 + timedelta(minutes=10))
    (notice,) = notices_to(local, OWNER)
    assert subject(notice) == f"Recoup: 1 case(s) at {SHOP} need your attention"
    assert "- #2005, USD 1,299.00: referred (2026-11-02 15:00 UTC)" in text_of(notice)
    assert waiting.pending_at(SHOP) is None
    # Told once: later runs send nothing more
    run_at(local, T0 + timedelta(minutes=15))
    assert len(notices_to(local, OWNER)) == 1
    # The digest the next morning lists the referral made since
    run_at(local, datetime(2026, 11, 3, 7, 0, 30, tzinfo=UTC))
    digest = notices_to(local, OWNER)[-1]
    assert "Referred since the last digest (1)" in text_of(digest)


def test_immediate_notices_are_off_by_default(local: Any, at: Any) -> None:
    apply(order("2005", GOOD))
    refer("2005")
    run_at(local, T0 + timedelta(minutes=10))
    assert notices_to(local, OWNER) == []
    assert waiting.pending_at(SHOP) is None


# ---------------------------------------------------------------- settings and erasure


def test_settings_default_to_the_contact_email_validate_and_are_versioned(at: Any) -> None:
    first = notifications.settings(SHOP)
    assert (first.version, first.value.to_dict()) == (
        0,
        {"email": OWNER, "daily_digest": True, "immediate": False, "hour": 8},
    )
    with pytest.raises(InvalidInput) as refused:
        notifications.save_settings(SHOP, DocumentUpdate(0, {"hour": 25}), now=at.now)
    assert refused.value.field == "hour"
    saved = notifications.save_settings(
        SHOP, DocumentUpdate(0, {"email": "ops@demo.example", "hour": 6}), now=at.now
    )
    assert (saved.version, saved.value.email, saved.value.hour) == (1, "ops@demo.example", 6)
    with pytest.raises(VersionConflict):
        notifications.save_settings(SHOP, DocumentUpdate(0, {"hour": 7}), now=at.now)


def test_shop_redact_removes_the_markers_and_the_registration(at: Any) -> None:
    apply(order("2001", RISKY))
    apply(order("3001", RISKY, shop=OTHER))
    refer("2001")
    assert waiting.pending_at(SHOP) is not None
    erasure.redact_shop(PrivacyJob("shop/redact", SHOP, "w-1", {"shop_domain": SHOP}))
    assert waiting_ids() == []
    assert [r.shop for r in waiting.registered_shops()] == [OTHER]
    assert waiting_ids(OTHER) == [("3001", "review")]


def test_the_settings_routes_answer_the_contract(local: Any, at: Any) -> None:
    from recoup_local import session_tokens

    def call(method: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        claims = session_tokens.claims(SHOP, api_key=local.shopify_api_key)
        headers = {"Authorization": f"Bearer {session_tokens.sign(claims, local.shopify_secret)}"}
        raw = b"" if body is None else json.dumps(body).encode()
        path = "/admin/api/settings/notifications"
        result = local.lambdas.invoke_http(method, path, headers, raw)
        return int(result["statusCode"]), json.loads(result["body"])

    status, first = call("GET")
    # The shop's contact email as Shopify reports it (the first request refreshed it)
    contact = shop_store.get_fresh(SHOP).contact_email  # type: ignore[union-attr]
    assert contact
    defaults = {"email": contact, "daily_digest": True, "immediate": False, "hour": 8}
    assert (status, first) == (200, {"version": 0, "notifications": defaults})
    changed = {**defaults, "immediate": True, "hour": 7}
    assert call("PUT", {"version": 0, "notifications": changed}) == (
        200,
        {"version": 1, "notifications": changed},
    )
    status, stale = call("PUT", {"version": 0, "notifications": defaults})
    assert (status, stale["error"]) == (409, "version_conflict")
    status, refused = call("PUT", {"version": 1, "notifications": {**defaults, "hour": 24}})
    assert (status, refused["error"], refused["field"]) == (400, "invalid", "hour")
    status, refused = call("PUT", {"version": 1, "notifications": {"email": "nope"}})
    assert (status, refused["field"]) == (400, "email")
    assert call("GET") == (200, {"version": 1, "notifications": changed})


def test_links_open_the_app_in_the_shopify_admin(
    local: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud = replace(get_settings(), secrets_source="ssm", shopify_api_key="client-id-1")
    monkeypatch.setattr(notifications, "get_settings", lambda: cloud)
    assert notifications.case_link(SHOP, "5960359936123456789") == (
        "https://admin.shopify.com/store/demo-electronics/apps/client-id-1"
        "/cases/5960359936123456789"
    )
    assert notifications.settings_link(SHOP) == (
        "https://admin.shopify.com/store/demo-electronics/apps/client-id-1/notifications"
    )
