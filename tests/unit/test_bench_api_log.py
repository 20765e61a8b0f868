"""The call record's names for what a DynamoDB call touched (benchmarks/api_log.py): the
fraud screening's reads and writes must be told apart from the others'."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from benchmarks.api_log import target
from recoup.domain.case import Case, CaseStatus
from recoup.domain.events import Customer, OrderSnapshot, PaymentAttempt, Source
from recoup.settings import get_settings
from recoup.store import velocity
from recoup.store.models import VelocityItem, shop_pk
from tests.conftest import SHOP

NOW = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)


def _key(sk: str) -> dict[str, Any]:
    return {"pk": {"S": shop_pk(SHOP)}, "sk": {"S": sk}}


def _marks() -> list[VelocityItem]:
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
    return velocity.marks(SHOP, case, [failed], NOW)


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
def test_velocity_and_address_marks_are_named_in_writes_and_queries() -> None:
    # Given the marks the store builds for a failed payment by a customer with an address
    marks = _marks()
    vel = next(m.sk for m in marks if m.sk.startswith("VEL#"))
    addr = next(m.sk for m in marks if m.sk.startswith("ADDR#"))
    # When a transaction writes them with a case, and Queries read their key ranges
    written = target(
        "dynamodb.TransactWriteItems",
        {
            "TransactItems": [{"Put": {"Item": _key(m.sk)}} for m in marks]
            + [{"Put": {"Item": _key("CASE#1001")}}]
        },
    )
    prefix = vel.rsplit("#", 2)[0] + "#"
    window = {
        ":pk": {"S": shop_pk(SHOP)},
        ":lo": {"S": prefix + "2026"},
        ":hi": {"S": prefix + "~"},
    }
    by_identity = target("dynamodb.Query", {"ExpressionAttributeValues": window})
    at_address = target(
        "dynamodb.Query",
        {"ExpressionAttributeValues": {":pk": {"S": shop_pk(SHOP)}, ":sk": {"S": addr[:38]}}},
    )
    # Then each is named for what it touched
    assert written == "address mark + case + velocity mark"
    assert (by_identity, at_address) == ("velocity marks", "address marks")
