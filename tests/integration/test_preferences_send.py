"""The customer's contact preferences against moto: saved with the case's trail in one
transaction, honoured by the sender (channels off, the preferred channel, avoided times),
exported and erased with the customer's other contact records."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from pynamodb.exceptions import TransactWriteError

from recoup import clock
from recoup.domain.case import Case
from recoup.domain.customer_requests import RequestMeta
from recoup.domain.preferences import WEEKDAYS, AvoidWindow, ContactPreferences
from recoup.integrations.shopify_privacy import PrivacyJob
from recoup.services import cases, data_export, erasure, preferences
from recoup.store import cases as case_store
from recoup.store import contacts
from recoup.store.models import shop_pk
from recoup_local.outbox import sent_messages
from tests.conftest import SHOP, event_bytes, event_json, shopify_headers
from tests.faults import FaultPlan

PENDING = event_json("shopify/order_pending.json")
CASE_ID = str(PENDING["id"])
EMAIL = PENDING["email"]
PHONE = "+15035550142"  # the order's phone, as the sender addresses it
OPENED = datetime.fromisoformat(PENDING["updated_at"]).astimezone(UTC)
# Tuesday 3 November 2026, 09:14 in Los Angeles (the customer's zone): step 1 is due
FIRST_DUE = OPENED + timedelta(days=1, hours=2)
META = RequestMeta(ip="198.51.100.7", user_agent="Mozilla/5.0")
SAVED_AT = OPENED + timedelta(hours=3)
WORK_HOURS = AvoidWindow(WEEKDAYS, time(9, 0), time(17, 0))


@pytest.fixture
def at(local: Any) -> Any:
    class Clock:
        now = OPENED

    clock.use(lambda: Clock.now)
    yield Clock
    clock.use(None)


def open_case(local: Any) -> Case:
    body = event_bytes("shopify/order_pending.json")
    headers = shopify_headers(body, local.shopify_secret, "orders/create", webhook_id="wh-1")
    assert (
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"] == 200
    )
    local.lambdas.drain()
    stored = case_store.load(SHOP, CASE_ID)
    assert stored is not None
    return stored.case


def save(case: Case, prefs: ContactPreferences) -> ContactPreferences:
    return preferences.save(SHOP, case, prefs, meta=META, now=SAVED_AT)


def run_scheduler(local: Any, clock_: Any, when: datetime) -> None:
    clock_.now = when
    local.lambdas.run_schedules(when)
    local.lambdas.drain()


def run_next_step(local: Any, clock_: Any) -> None:
    """Run the scheduler when the next step is due (on the minute after)."""
    stored = case_store.load(SHOP, CASE_ID)
    assert stored is not None and stored.dunning is not None
    assert stored.dunning.next_at is not None
    run_scheduler(local, clock_, stored.dunning.next_at + timedelta(minutes=1))


def channels_sent(local: Any) -> list[str]:
    return [m.kind for m in sent_messages(local.stack.region)]


def last_summary() -> str:
    return str(cases.timeline(SHOP, CASE_ID)[-1].body["summary"])


def dunning() -> Any:
    stored = case_store.load(SHOP, CASE_ID)
    assert stored is not None
    return stored.dunning


# --- saving -------------------------------------------------------------------------------


def test_a_save_writes_both_records_and_the_trail_in_one_transaction(local: Any) -> None:
    # Given an open case with an email and a phone
    case = open_case(local)
    trail = len(cases.timeline(SHOP, CASE_ID))
    # When the customer turns SMS off and avoids weekdays 09:00-17:00
    prefs = ContactPreferences(sms=False, avoid=(WORK_HOURS,))
    with FaultPlan() as plan:
        assert save(case, prefs) == prefs
    # Then one transaction wrote it (after the reads), and the trail (which outlives an
    # erasure) says what was consented to, not when the customer is busy, with no address
    # nor anything of the request
    assert plan.count("dynamodb", "TransactWriteItems") == 1
    entries = cases.timeline(SHOP, CASE_ID)
    assert len(entries) == trail + 1
    summary = entries[-1].body["summary"]
    assert summary == (
        "Customer changed contact preferences: SMS off, times to avoid or language set"
    )
    assert "09:00" not in str(entries[-1].body)
    assert entries[-1].body["source"] == "customer"
    assert EMAIL not in str(entries[-1].body) and "198.51.100.7" not in str(entries[-1].body)
    # and both the email's and the phone's records hold them, as the sender reads them
    assert preferences.for_case(SHOP, case) == prefs
    assert contacts.reachability(SHOP, EMAIL, None).preferences == prefs
    assert contacts.reachability(SHOP, None, PHONE).preferences == prefs
    stored = contacts.preferences(SHOP, None, PHONE)
    assert stored is not None and stored.version == 1 and stored.updated_at == SAVED_AT


def test_saving_the_same_preferences_again_writes_nothing(local: Any) -> None:
    case = open_case(local)
    prefs = ContactPreferences(preferred="sms")
    save(case, prefs)
    trail = len(cases.timeline(SHOP, CASE_ID))
    with FaultPlan() as plan:
        save(case, prefs)
    assert plan.count("dynamodb", "TransactWriteItems") == 0
    assert len(cases.timeline(SHOP, CASE_ID)) == trail


def test_a_later_save_wins_and_counts_its_version(local: Any) -> None:
    case = open_case(local)
    save(case, ContactPreferences(sms=False))
    later = ContactPreferences(language="de")
    preferences.save(SHOP, case, later, meta=META, now=SAVED_AT + timedelta(minutes=5))
    assert preferences.for_case(SHOP, case) == later
    stored = contacts.preferences(SHOP, EMAIL, PHONE)
    assert stored is not None and stored.version == 2


@pytest.mark.parametrize("kind", ["reject", "timeout_before", "server_error"])
def test_a_failed_save_leaves_nothing_half_written(local: Any, kind: str) -> None:
    # Given an open case, and its trail and version as they are
    case = open_case(local)
    before = case_store.load(SHOP, CASE_ID)
    assert before is not None
    # When the save's transaction fails (every attempt the SDK makes at it)
    plan = FaultPlan().fail("dynamodb", "TransactWriteItems", kind, whole_call=True, times=9)
    with plan, pytest.raises(TransactWriteError):
        save(case, ContactPreferences(sms=False))
    assert plan.injected
    # Then neither record holds preferences, and the case and its trail are unchanged
    assert contacts.preferences(SHOP, EMAIL, PHONE) is None
    after = case_store.load(SHOP, CASE_ID)
    assert after is not None
    assert (after.version, after.audit_seq) == (before.version, before.audit_seq)
    assert preferences.for_case(SHOP, case) == ContactPreferences()


# --- sending ------------------------------------------------------------------------------


def test_sms_off_means_email_only(local: Any, at: Any) -> None:
    # Given SMS turned off
    save(open_case(local), ContactPreferences(sms=False))
    # When the email, the email-or-SMS and the SMS steps come due
    run_scheduler(local, at, FIRST_DUE)
    run_next_step(local, at)
    run_next_step(local, at)
    # Then two emails went, no SMS, and the SMS step was skipped saying why
    assert channels_sent(local) == ["email", "email"]
    assert "customer turned SMS off in their contact preferences" in last_summary()
    assert dunning().next_step == 3


def test_both_channels_off_sends_nothing_and_skips_the_step_with_the_reason(
    local: Any, at: Any
) -> None:
    save(open_case(local), ContactPreferences(email=False, sms=False))
    run_scheduler(local, at, FIRST_DUE)
    assert channels_sent(local) == []
    assert "customer asked for no messages" in last_summary()
    assert dunning().next_step == 1  # skipped: the sequence moved on


def test_an_avoided_window_defers_and_the_next_run_sends_after_it(local: Any, at: Any) -> None:
    # Given a customer avoiding weekdays 09:00-17:00 (their time), and step 1 due at 09:14
    # on a Tuesday
    save(open_case(local), ContactPreferences(avoid=(WORK_HOURS,)))
    run_scheduler(local, at, FIRST_DUE)
    # Then nothing went; the step waits until 17:00 Pacific, saying which preference
    assert channels_sent(local) == []
    assert dunning().next_at == datetime(2026, 11, 4, 1, 0, tzinfo=UTC)
    assert "asked not to be contacted weekdays 09:00\u201317:00" in last_summary()
    # When the scheduler runs then / Then the email goes
    run_scheduler(local, at, datetime(2026, 11, 4, 1, 0, tzinfo=UTC))
    assert channels_sent(local) == ["email"]


def test_the_preferred_channel_is_chosen_when_the_step_allows_either(local: Any, at: Any) -> None:
    # Given a customer preferring SMS
    save(open_case(local), ContactPreferences(preferred="sms"))
    # When the email step, then the email-or-SMS step, come due
    run_scheduler(local, at, FIRST_DUE)
    run_next_step(local, at)
    # Then the email step went by email (it allows nothing else), the other by SMS
    assert channels_sent(local) == ["email", "sms"]


def test_the_send_reads_the_preferences_in_its_one_batch_read(local: Any, at: Any) -> None:
    # Given preferences saved / When the step is sent
    save(open_case(local), ContactPreferences(preferred="sms"))
    at.now = FIRST_DUE
    from recoup.services import sending

    with FaultPlan() as plan:
        assert sending.send_step(SHOP, CASE_ID, 0, now=FIRST_DUE).outcome == "sent"
    # Then the send read nothing more than before preferences existed: the case with its
    # policy, then the contact flags with the preferences and the message log, one
    # BatchGetItem each
    reads = [
        op
        for service, op in plan.invocations
        if service == "dynamodb" and op in ("GetItem", "BatchGetItem", "Query")
    ]
    assert reads == ["BatchGetItem", "BatchGetItem"]


# --- export and erasure ---------------------------------------------------------------------

CUSTOMER = {"id": PENDING["customer"]["id"], "email": EMAIL, "phone": PHONE}


def test_the_export_lists_them_and_customers_redact_removes_them(local: Any) -> None:
    # Given saved preferences
    case = open_case(local)
    save(case, ContactPreferences(sms=False, language="fr"))
    # When the customer's data is requested / Then the export lists them on both records
    request = PrivacyJob(
        "customers/data_request",
        SHOP,
        "wh-data",
        {"customer": CUSTOMER, "orders_requested": [], "data_request": {"id": 1}},
    )
    document = data_export.gather(request, now=SAVED_AT)
    listed = {
        (r["channel"], r["applies_to"]): r["preferences"] for r in document["contact_preferences"]
    }
    assert listed[("email", "this shop")] == ContactPreferences(sms=False, language="fr").to_dict()
    assert listed[("sms", "this shop")] == listed[("email", "this shop")]
    # When Shopify asks to erase the customer / Then no record of theirs holds them any more
    redact = PrivacyJob("customers/redact", SHOP, "wh-redact", {"customer": CUSTOMER})
    erasure.redact_customer(redact, now=SAVED_AT)
    assert contacts.preferences(SHOP, EMAIL, PHONE) is None
    from recoup.store.batch import get_many

    keys = [(shop_pk(SHOP), contacts.contact_sk(a)) for a in (EMAIL, PHONE)]
    assert get_many(keys) == {}
