"""Keys that stand for a person (email, phone, card, IP) are keyed hashes: HMAC-SHA256 under
the identity-hash key, not a bare SHA-256 anyone can recompute for every phone number of an
area code. Records written under the bare hash before stay honoured (a STOP is a STOP) and
are erased with the customer."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from recoup.errors import ConfigurationError
from recoup.settings import get_settings
from recoup.store import cases as case_store
from recoup.store import contacts, identity, velocity
from recoup.store.models import (
    ContactItem,
    MessageItem,
    VelocityBucketItem,
    VelocityItem,
    shop_pk,
)
from tests.conftest import SHOP
from tests.integration.test_privacy_webhooks import (
    RYAN_ORDER,
    deliver,
    open_orders,
    set_contact_email,
    table_items,
)

PHONE = "+13175550187"
EMAIL = "ryan.mitchell@example.com"
DEV_KEY = b"dev-identity-hash-key"


def bare(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def stop(local: Any, phone: str, word: str = "STOP") -> None:
    local.lambdas.publish(
        local.stack.refs["InboundSmsTopic"],
        {"originationNumber": phone, "destinationNumber": "+18005550100", "messageBody": word},
    )


def global_keys() -> list[str]:
    return [i["sk"]["S"] for i in table_items_now() if i["pk"]["S"] == contacts.GLOBAL]


def table_items_now() -> list[dict[str, Any]]:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    name = get_settings().table_name
    return [i for page in ddb.get_paginator("scan").paginate(TableName=name) for i in page["Items"]]


def test_a_stop_is_keyed_by_an_hmac_of_the_number_not_its_bare_hash(local: Any) -> None:
    # Given a customer's phone number
    # When the number texts STOP
    stop(local, PHONE)
    # Then the GLOBAL record's key is the HMAC of the number under the identity-hash key
    expected = hmac.new(DEV_KEY, PHONE.encode(), hashlib.sha256).hexdigest()[:40]
    assert global_keys() == [f"CONTACT#{expected}"]
    # and not the bare SHA-256, which hashing every number of area code 317 would find
    assert f"CONTACT#{bare(PHONE)[:40]}" not in global_keys()
    assert contacts.reachability(SHOP, None, PHONE).sms_opted_out


def test_another_key_gives_other_keys(local: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the hash of an address under the local stack's key
    before = contacts.contact_hash(EMAIL), velocity.identity_hash(EMAIL)
    # When the key is another one
    monkeypatch.setenv("RECOUP_IDENTITY_HASH_KEY", "another-key")
    get_settings.cache_clear()
    # Then every identity hash changes with it: the key, not the address alone, decides
    after = contacts.contact_hash(EMAIL), velocity.identity_hash(EMAIL)
    assert after[0] != before[0] and after[1] != before[1]
    assert identity.keyed("x") == hmac.new(b"another-key", b"x", hashlib.sha256).hexdigest()


def test_without_the_key_nothing_is_hashed(local: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a stack whose identity-hash key is not configured
    monkeypatch.delenv("RECOUP_IDENTITY_HASH_KEY", raising=False)
    get_settings.cache_clear()
    # When an address is hashed
    # Then it fails loudly, naming the setting, instead of falling back to a bare hash
    with pytest.raises(ConfigurationError, match="RECOUP_IDENTITY_HASH_KEY"):
        contacts.contact_hash(EMAIL)


def test_a_stop_recorded_under_the_bare_hash_is_still_honoured_and_start_lifts_it(
    local: Any,
) -> None:
    # Given a STOP an earlier version recorded under the bare SHA-256 of the number
    now = datetime.now(tz=UTC)
    ContactItem(
        contacts.GLOBAL, f"CONTACT#{bare(PHONE)[:40]}", sms_opt_out=True, updated_at=now
    ).save()
    # When the sender asks whether the number can be texted
    # Then it cannot: the old record counts
    assert contacts.reachability(SHOP, None, PHONE).sms_opted_out
    # When the number texts START
    stop(local, PHONE, "START")
    # Then it can be texted again: the old record's opt-out is lifted too
    assert not contacts.reachability(SHOP, None, PHONE).sms_opted_out


def test_start_never_creates_a_record_under_the_bare_hash(local: Any) -> None:
    # Given a number with no record at all
    # When it texts START
    stop(local, PHONE, "START")
    # Then the only record is under the keyed hash
    assert global_keys() == [f"CONTACT#{contacts.contact_hash(PHONE)}"]


def test_an_email_opt_out_and_suppression_under_the_bare_hash_still_count(local: Any) -> None:
    # Given a shop's email opt-out and suppression recorded under the bare hash
    now = datetime.now(tz=UTC)
    ContactItem(
        shop_pk(SHOP),
        f"CONTACT#{bare(EMAIL)[:40]}",
        email_opt_out=True,
        suppressed=True,
        updated_at=now,
    ).save()
    # When the sender checks the address
    reach = contacts.reachability(SHOP, EMAIL.upper(), None)
    # Then both hold, for that shop only
    assert reach.email_opted_out and reach.email_suppressed
    assert contacts.reachability("other.myshopify.com", EMAIL, None) == contacts.Reachability()


def test_the_weekly_cap_counts_messages_logged_under_the_bare_hash(local: Any) -> None:
    # Given a message logged two days ago under the bare hash (moved there from the earlier
    # layout), one today under the keyed one
    now = datetime.now(tz=UTC)
    earlier = now - timedelta(days=2)
    for item, actions in (
        contacts.log_update(SHOP, bare(EMAIL)[:40], earlier, "1", "email"),
        contacts.message_logged(SHOP, EMAIL, now, "2", "email"),
    ):
        item.update(actions=actions)
    # When the sender reads the customer's last seven days, alone or with the contact flags
    sent = contacts.recent_messages(SHOP, EMAIL, now=now + timedelta(seconds=1))
    _, before_send = contacts.before_send(SHOP, EMAIL, None, EMAIL, now=now + timedelta(seconds=1))
    # Then both count towards the cap
    assert sent == before_send == [earlier, now]


def test_customer_redact_erases_records_under_both_hashes(local: Any) -> None:
    # Given Ryan's case, and records of him an earlier version keyed by bare hashes: an email
    # opt-out, the message log, a velocity mark and counter, an address mark at his case's
    # address, an SMS record without STOP
    set_contact_email("owner@demo-electronics.example")
    open_orders(local)
    now = datetime.now(tz=UTC)
    folded = velocity.unkeyed_identity_hash(EMAIL)
    later = now + timedelta(days=1)
    stored = case_store.load(SHOP, RYAN_ORDER)
    assert stored is not None
    address = velocity.Identities.of(stored.case, velocity.unkeyed_identity_hash).address
    assert address is not None
    legacy = [
        ContactItem(
            shop_pk(SHOP), f"CONTACT#{bare(EMAIL)[:40]}", email_opt_out=True, updated_at=now
        ),
        MessageItem(  # the earlier layout, before `recoup migrate-keys` moved it
            shop_pk(SHOP),
            f"MSG#{bare(EMAIL)[:40]}#{now.isoformat()}",
            case_id="1",
            channel="email",
            expires_at=later,
        ),
        VelocityItem(
            shop_pk(SHOP), f"VEL#email#{folded}#2026-11-03T15:00:00Z#abc", expires_at=later
        ),
        VelocityItem(shop_pk(SHOP), f"ADDR#{address}#{folded}", expires_at=later),
        VelocityBucketItem(
            velocity.counter_pk(SHOP, "email", folded), "H#2026-11-03T15", total=1, q00=1
        ),
        ContactItem(contacts.GLOBAL, f"CONTACT#{bare(PHONE)[:40]}", last_shop=SHOP, updated_at=now),
    ]
    for item in legacy:
        item.save()
    log, actions = contacts.log_update(SHOP, bare(EMAIL)[:40], now, "1", "email")
    log.update(actions=actions)
    assert contacts.message_logs(SHOP, EMAIL)
    # When Shopify asks to erase Ryan
    deliver(local, "customers_redact", "customers/redact")
    # Then none of those records is left
    left = {(i["pk"]["S"], i["sk"]["S"]) for i in table_items(local)}
    assert not left & {(item.pk, item.sk) for item in [*legacy, log]}
    assert contacts.message_logs(SHOP, EMAIL) == []


def test_customer_redact_keeps_a_bare_hash_stop_but_drops_its_shop(local: Any) -> None:
    # Given a STOP under the bare hash that names this shop as the last one that texted it
    set_contact_email("owner@demo-electronics.example")
    open_orders(local)
    key = (contacts.GLOBAL, f"CONTACT#{bare(PHONE)[:40]}")
    ContactItem(*key, sms_opt_out=True, last_shop=SHOP, updated_at=datetime.now(tz=UTC)).save()
    # When Shopify asks to erase Ryan (whose number it is)
    deliver(local, "customers_redact", "customers/redact")
    # Then the STOP stays honoured, and no longer points at the shop
    (item,) = [i for i in table_items(local) if (i["pk"]["S"], i["sk"]["S"]) == key]
    assert item["sms_opt_out"]["BOOL"] is True and "last_shop" not in item
    assert contacts.reachability(SHOP, None, PHONE).sms_opted_out
