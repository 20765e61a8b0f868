"""The customer's reports against moto: "I already paid" and "I dispute this" pause the
reminders and the merchant's digest lists them; "I didn't place this order" stops them, sends
the case to fraud review with an immediate notice, and nothing is sent until the merchant
approves; the admin's resume works on a paused case; erasure redacts what the customer
wrote and where from, while the audit chain still verifies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any

import pytest

from recoup import clock
from recoup.domain.audit import verify_chain
from recoup.domain.customer_requests import RequestMeta, RequestRefused
from recoup.domain.dunning import DunningStatus
from recoup.domain.events import Customer, DomainEvent, Fact, LineItem, OrderSnapshot, Source
from recoup.domain.fraud.screening import Gate
from recoup.domain.money import Money
from recoup.errors import InvalidInput
from recoup.integrations.shopify_privacy import PrivacyJob
from recoup.services import actions, cases, customer_requests, erasure, notifications, shops
from recoup.services.shop_settings import DocumentUpdate
from recoup.store import cases as case_store
from recoup.store import waiting
from recoup_local.outbox import sent_messages
from tests.conftest import SHOP, STRIPE_ACCOUNT

OWNER = "owner@demo-electronics.example"
CUSTOMER_EMAIL = "ada@example.com"
T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
GOOD = {
    "billing_country": "US",
    "shipping_country": "US",
    "billing_postcode": "94107",
    "shipping_postcode": "94107",
    "customer_orders_count": 6,
    "customer_age_days": 700,
    "expedited_shipping": False,
}
META = RequestMeta("198.51.100.23", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)")
NOTE = "I paid by bank transfer on Monday, reference RX-4411"


class Clock:
    now = T0


@pytest.fixture
def at(local: Any) -> Iterator[type[Clock]]:
    shops.install(
        SHOP, stripe_account=STRIPE_ACCOUNT, contact_email=OWNER, timezone="Europe/Berlin"
    )
    waiting.forget_registrations()
    Clock.now = T0
    clock.use(lambda: Clock.now)
    yield Clock
    clock.use(None)
    waiting.forget_registrations()


def open_case(case_id: str) -> None:
    event = DomainEvent(
        event_id=f"order-{case_id}",
        source=Source.SHOPIFY,
        kind="orders/create",
        shop=SHOP,
        case_id=case_id,
        occurred_at=T0,
        fact=Fact.UNPAID,
        snapshot=OrderSnapshot(
            amount_owed=Money.of(129900, "USD"),
            order_total=Money.of(129900, "USD"),
            order_name=f"#{case_id}",
            customer=Customer(
                customer_id="6001", email=CUSTOMER_EMAIL, first_name="Ada", country="US"
            ),
            line_items=(LineItem("Laptop 14", 1, Money.of(129900, "USD"), "LAP-14", "Laptops"),),
        ),
        signals=dict(GOOD),
        linked=True,
    )
    assert cases.apply_event(event, now=Clock.now) is not None


def run_at(local: Any, when: datetime) -> None:
    Clock.now = when
    local.lambdas.run_schedules(when)
    local.lambdas.drain()


def mails_to(local: Any, address: str) -> list[Any]:
    found = []
    for sent in sent_messages(local.stack.region):
        message = message_from_bytes(sent.content, policy=policy.default)
        if sent.kind == "email" and str(message["To"]) == address:
            found.append(message)
    return found


def text_of(message: Any) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


def stored(case_id: str) -> Any:
    found = case_store.load(SHOP, case_id)
    assert found is not None
    return found


def markers() -> list[tuple[str, str]]:
    return [(m.case_id, m.reason) for m in waiting.markers(SHOP)]


@pytest.mark.parametrize(
    ("kind", "reason", "words"),
    [
        ("already_paid", "customer_says_paid", "the customer says they already paid"),
        ("dispute", "dispute", "the customer disputes what is owed"),
    ],
)
def test_a_report_pauses_the_reminders_and_the_digest_lists_it(
    local: Any, at: Any, kind: str, reason: str, words: str
) -> None:
    notifications.save_settings(SHOP, DocumentUpdate(0, {"email": OWNER}), now=at.now)
    open_case("4001")
    assert stored("4001").dunning.status is DunningStatus.SCHEDULED
    # When the customer reports it from their page, with a note
    customer_requests.report(SHOP, "4001", kind, note=NOTE, meta=META, now=at.now)
    # Then the reminders wait for the merchant, and the case waits for them, in one write
    case = stored("4001")
    assert case.dunning.status is DunningStatus.HELD
    assert case.dunning.held_by == "customer"
    assert markers() == [("4001", reason)]
    assert case_store.audit_trail(SHOP, "4001")[-1].body["kind"] == f"customer.{kind}"
    # And no reminder goes, whenever the scheduler runs
    for days in (1, 4, 9, 20):
        run_at(local, T0 + timedelta(days=days))
    assert mails_to(local, CUSTOMER_EMAIL) == []
    # And the merchant's daily digest lists it in words, each day it still waits (no
    # immediate notice: only "not mine" is worth one)
    digests = mails_to(local, OWNER)
    assert len(digests) == 4
    assert all(f"#4001, USD 1,299.00: {words}" in text_of(d) for d in digests)
    # And the same report is not taken twice
    with pytest.raises(RequestRefused):
        customer_requests.report(SHOP, "4001", kind, note="", meta=META, now=at.now)


def test_the_merchant_resumes_a_case_paused_by_a_report(local: Any, at: Any) -> None:
    open_case("4002")
    customer_requests.report(SHOP, "4002", "already_paid", note="", meta=META, now=at.now)
    # When the merchant checked and resumes it
    outcome = actions.perform(SHOP, "4002", "resume", by="ana", note="not received", now=at.now)
    # Then the sequence runs again, the case no longer waits, and the next step goes
    assert outcome["reminders"]["status"] == "scheduled"
    assert markers() == []
    run_at(local, T0 + timedelta(days=1, hours=1))
    assert len(mails_to(local, CUSTOMER_EMAIL)) == 1


def test_not_mine_goes_to_fraud_review_with_an_immediate_notice_and_no_reminder(
    local: Any, at: Any
) -> None:
    notifications.save_settings(
        SHOP, DocumentUpdate(0, {"email": OWNER, "immediate": True}), now=at.now
    )
    open_case("4003")
    assert stored("4003").screening.gate is Gate.RUN
    customer_requests.report(SHOP, "4003", "not_mine", note="", meta=META, now=at.now)
    case = stored("4003")
    assert case.screening.gate is Gate.HOLD
    assert case.dunning.held_by == "customer"
    assert markers() == [("4003", "not_mine")]
    # The next scheduler run tells the merchant at once
    run_at(local, T0 + timedelta(minutes=10))
    (notice,) = mails_to(local, OWNER)
    assert "did not place this order" in text_of(notice)
    # Never a reminder while it waits, however long
    for days in (1, 4, 9, 30):
        run_at(local, T0 + timedelta(days=days))
    assert mails_to(local, CUSTOMER_EMAIL) == []
    # Resuming alone does not chase a possible victim: the review still holds it
    actions.perform(SHOP, "4003", "resume", by="ana", note="", now=Clock.now)
    assert stored("4003").dunning.held_by == "fraud"
    run_at(local, Clock.now + timedelta(hours=1))
    assert mails_to(local, CUSTOMER_EMAIL) == []
    # Approved after review, the reminders resume as after any review
    actions.perform(SHOP, "4003", "approve", by="ana", note="card holder confirmed", now=Clock.now)
    assert stored("4003").dunning.status is DunningStatus.SCHEDULED
    assert markers() == []
    run_at(local, Clock.now + timedelta(hours=1))
    assert len(mails_to(local, CUSTOMER_EMAIL)) == 1


def test_confirming_fraud_on_not_mine_never_refers_or_tags_the_victim(
    local: Any, at: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recoup.domain.referral import decide
    from recoup.services import escalation, referrals

    tagged: list[str] = []
    monkeypatch.setattr(actions, "flag_customer", lambda case, *_: tagged.append(case.case_id))
    open_case("4006")
    customer_requests.report(SHOP, "4006", "not_mine", note="", meta=META, now=at.now)
    # When the merchant confirms the fraud the customer reported
    actions.perform(SHOP, "4006", "confirm_fraud", by="ana", note="stolen card", now=at.now)
    # Then no reminder, no referral check due, no fraud tag on the person named
    case = stored("4006")
    assert case.dunning.status is DunningStatus.FLAGGED
    assert case.dunning.escalate_at is None and tagged == []
    assert "did not place it" in case.dunning.reason
    # And the referral decision, asked anyway, refers nobody
    policy = referrals.referral_policy(SHOP)
    decision = decide(escalation.facts(case, case.dunning), policy, Clock.now)
    assert (str(decision.kind), "did not place it" in decision.reason) == ("none", True)
    # While a confirmed fraud nobody reported is still a legal referral candidate
    open_case("4007")
    actions.perform(SHOP, "4007", "confirm_fraud", by="ana", note="chargeback", now=at.now)
    assert stored("4007").dunning.escalate_at is not None and tagged == ["4007"]


def test_a_bad_report_or_note_changes_nothing(local: Any, at: Any) -> None:
    open_case("4004")
    version = stored("4004").version
    for kind, note, field in (
        ("refund", "", "kind"),
        ("dispute", "x" * 1001, "note"),
        ("dispute", "bell\x07", "note"),
    ):
        with pytest.raises(InvalidInput) as caught:
            customer_requests.report(SHOP, "4004", kind, note=note, meta=META, now=at.now)
        assert caught.value.field == field
    assert stored("4004").version == version


def test_erasure_redacts_the_notes_ip_and_user_agent_and_the_chain_still_verifies(
    local: Any, at: Any
) -> None:
    open_case("4005")
    customer_requests.report(SHOP, "4005", "dispute", note=NOTE, meta=META, now=at.now)
    Clock.now = T0 + timedelta(hours=1)
    customer_requests.report(SHOP, "4005", "already_paid", note=NOTE, meta=META, now=Clock.now)
    secrets = (NOTE, META.ip, META.user_agent)
    # The trail never held them: only the request's id and digest
    trail = case_store.audit_trail(SHOP, "4005")
    assert not any(s in str(e.body) for e in trail for s in secrets)
    assert trail[-1].body["request_id"] == "r2" and len(trail[-1].body["request_digest"]) == 64
    records = stored("4005").dunning.requests
    assert [(r.note, r.ip, r.user_agent) for r in records] == [(NOTE, META.ip, META.user_agent)] * 2
    # When the customer's data is erased
    job = PrivacyJob(
        "customers/redact",
        SHOP,
        "wh-redact",
        {"customer": {"id": 6001, "email": CUSTOMER_EMAIL}, "orders_to_redact": [4005]},
    )
    erasure.redact_customer(job, now=Clock.now)
    # Then the records keep what was asked, without the note, address or browser
    after = stored("4005")
    assert [r.kind for r in after.dunning.requests] == ["dispute", "already_paid"]
    for record in after.dunning.requests:
        assert (record.note, record.ip, record.user_agent, record.salt) == (
            "[erased]",
            "[erased]",
            "[erased]",
            "",
        )
    assert not any(s in str(after.dunning.to_dict()) for s in secrets)
    trail = case_store.audit_trail(SHOP, "4005")
    assert verify_chain(trail, after.audit_head).ok
