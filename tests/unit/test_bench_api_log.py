"""The call record's names for what a DynamoDB call touched (benchmarks/api_log.py): the
fraud screening's reads and writes must be told apart from the others'."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from benchmarks.api_log import target
from recoup.domain.case import Case, CaseStatus
from recoup.domain.events import Customer, OrderSnapshot, PaymentAttempt, Source
from recoup.settings import get_settings
from recoup.store import velocity
from recoup.store.models import shop_pk
from tests.conftest import SHOP

NOW = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)


def _key(sk: str) -> dict[str, Any]:
    return {"pk": {"S": shop_pk(SHOP)}, "sk": {"S": sk}}


def _counters() -> list[tuple[Any, list[Any]]]:
    customer = Customer(email="ada@example.com", country="US", zip="94107", address1="1 Main St")
    case = Case(
        SHOP,
        "1001",
        status=CaseStatus.OPEN,
        snapshot=OrderSnapshot(amount_owed=None, customer=customer),
    )
    failed = PaymentAttempt(
        "ch_1", Source.STRIPE, False, NOW - timedelta(minutes=5), card_fingerprint="fp_A"
    )
    case = replace(case, attempts=(failed,))
    who = velocity.Identities.of(case)
    assert who.email and who.card and who.address
    # What a screening's read found: empty buckets (so nothing is read here).
    read = velocity.Seen(
        pks={
            velocity.counter_pk(SHOP, "email", who.email),
            velocity.counter_pk(SHOP, "card", who.card),
            velocity.address_pk(SHOP, who.address),
        }
    )
    return velocity.counters(SHOP, case, velocity.failures(case, None, NOW), NOW, seen=read)


def test_policy_reads_are_named_by_kind() -> None:
    # Given GetItem requests for each kind of policy item
    # Then each is named by its kind, and an unknown kind is still a policy
    names = {
        kind: target("dynamodb.GetItem", {"Key": _key(f"POLICY#{kind}")})
        for kind in ("FRAUD", "REMINDERS", "REFERRAL", "SOMETHING")
    }
    assert names == {
        "FRAUD": "fraud policy",
        "REMINDERS": "reminder policy",
        "REFERRAL": "referral policy",
        "SOMETHING": "policy",
    }


@pytest.fixture
def identity_hash_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Marks' keys hash the identities under the identity-hash key, read from the settings."""
    for name, value in {
        "RECOUP_SECRETS_SOURCE": "env",
        "RECOUP_IDENTITY_HASH_KEY": "test-identity-hash-key",
        "RECOUP_TABLE_NAME": "recoup-test",
        "RECOUP_EVENTS_QUEUE_URL": "https://sqs.invalid/events.fifo",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("identity_hash_key")
def test_velocity_counters_and_address_buckets_are_named_in_writes_and_queries() -> None:
    # Given the counter updates the store builds for a failed payment by a customer with an
    # address (as a screening that read nothing yet found them)
    updates = _counters()
    keys = [{"pk": {"S": item.pk}, "sk": {"S": item.sk}} for item, _ in updates]
    vel = next(item.pk for item, _ in updates if item.pk.startswith("VEL#"))
    addr = next(item.pk for item, _ in updates if item.pk.startswith("ADDR#"))
    # When a transaction updates them with a case, and Queries read their bucket ranges
    written = target(
        "dynamodb.TransactWriteItems",
        {
            "TransactItems": [{"Update": {"Key": key}} for key in keys]
            + [{"Put": {"Item": {"pk": {"S": f"CASE#{SHOP}#1001"}, "sk": {"S": "CASE"}}}}]
        },
    )
    window = {":pk": {"S": vel}, ":lo": {"S": "H#2026-11-02T15"}, ":hi": {"S": "H#2026-11-03T15"}}
    by_identity = target("dynamodb.Query", {"ExpressionAttributeValues": window})
    at_address = target(
        "dynamodb.Query",
        {"ExpressionAttributeValues": {":pk": {"S": addr}, ":lo": {"S": "W#2026-08-03"}}},
    )
    # and an earlier version's marks in the shop's partition are read to migrate them
    old = target(
        "dynamodb.Query",
        {"ExpressionAttributeValues": {":pk": {"S": shop_pk(SHOP)}, ":sk": {"S": "VEL#"}}},
    )
    # Then each is named for what it touched
    assert written == "address bucket + case + velocity counter"
    assert (by_identity, at_address, old) == (
        "velocity counters",
        "address buckets",
        "velocity marks",
    )


def test_rollups_customer_links_and_the_case_read_with_its_policies_are_named() -> None:
    # Given the keys the new layout writes and reads
    case = {"pk": {"S": f"CASE#{SHOP}#1001"}, "sk": {"S": "CASE"}}
    rollup = {"pk": {"S": f"ROLLUP#{SHOP}#3"}, "sk": {"S": "2026-11-02#USD"}}
    link = {"pk": {"S": f"WHO#{SHOP}#abc"}, "sk": {"S": "1001"}}
    policies = [_key("POLICY#REMINDERS"), _key("POLICY#FRAUD")]
    # Then a transaction names the rollup and the customer link it writes
    tx = {
        "TransactItems": [
            {"Put": {"Item": case}},
            {"Update": {"Key": rollup}},
            {"Put": {"Item": link}},
        ]
    }
    assert target("dynamodb.TransactWriteItems", tx) == "case + customer link + rollup"
    # and the one read of a case with the shop's policies is named as such
    batch = {"RequestItems": {"t": {"Keys": [case, *policies]}}}
    assert (
        target("dynamodb.BatchGetItem", batch)
        == "case with policies (fraud policy, reminder policy)"
    )
    # with the shop's item when the container had no copy of it
    shop = {"pk": {"S": "SHOP#s"}, "sk": {"S": "META"}}
    batch = {"RequestItems": {"t": {"Keys": [case, *policies, shop]}}}
    assert (
        target("dynamodb.BatchGetItem", batch)
        == "case with policies (fraud policy, reminder policy) and the shop"
    )
    # and the message log has a partition of its own
    log = {"Key": {"pk": {"S": "MSG#s#ab12"}, "sk": {"S": "LOG"}}}
    assert target("dynamodb.GetItem", log) == "message log"
    # while a batch of cases alone stays a batch of cases
    assert target("dynamodb.BatchGetItem", {"RequestItems": {"t": {"Keys": [case]}}}) == "case"
