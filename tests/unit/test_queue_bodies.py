"""What a reference to a queued body carries, and where bodies are kept (no I/O)."""

from __future__ import annotations

import json

from recoup.integrations import queue_bodies

SHOP = "demo-electronics.myshopify.com"


def test_correlation_ids_keep_only_scalar_ids_never_the_customer() -> None:
    # Given an event body and a privacy job body, both naming a customer
    event = {
        "event_id": "wh-1",
        "source": "shopify",
        "kind": "orders/create",
        "shop": SHOP,
        "case_id": "5960359936123456789",
        "snapshot": {"customer": {"email": "jane@example.com", "phone": "+13175550187"}},
        "summary": "order #1001 for jane@example.com",
    }
    job = {
        "kind": "customers/redact",
        "shop": SHOP,
        "webhook_id": "wh-2",
        "payload": {"customer": {"email": "jane@example.com"}},
    }
    # When their ids are taken / Then only the allow-listed scalar fields remain
    assert queue_bodies.correlation_ids(json.dumps(event)) == {
        "shop": SHOP,
        "case_id": "5960359936123456789",
        "event_id": "wh-1",
        "kind": "orders/create",
        "source": "shopify",
    }
    assert queue_bodies.correlation_ids(json.dumps(job)) == {
        "shop": SHOP,
        "webhook_id": "wh-2",
        "kind": "customers/redact",
    }
    # and a field of an allowed name that holds a document is not an id
    assert queue_bodies.correlation_ids(json.dumps({"shop": {"email": "x@y.z"}})) == {}
    assert queue_bodies.correlation_ids("not json") == {}
    assert queue_bodies.correlation_ids("[1, 2]") == {}


def test_keys_put_bodies_under_their_shop_and_case_for_erasure_by_prefix() -> None:
    ids = {"shop": SHOP, "case_id": "42", "event_id": "wh-1"}
    assert queue_bodies.inbox_key(ids) == f"inbox/{SHOP}/42/wh-1.json"
    assert queue_bodies.quarantine_key(ids, "m-1") == f"quarantine/{SHOP}/42/m-1.json"
    assert queue_bodies.case_prefixes(SHOP, "42") == (f"inbox/{SHOP}/42/", f"quarantine/{SHOP}/42/")
    assert queue_bodies.shop_prefixes(SHOP) == (f"inbox/{SHOP}/", f"quarantine/{SHOP}/")
    # a Stripe event not yet routed to a shop, a job about no case, a slash in an id
    stripe = {"stripe_account": "acct_1", "case_id": "pi_1", "event_id": "evt_1"}
    assert queue_bodies.inbox_key(stripe) == "inbox/stripe-acct_1/pi_1/evt_1.json"
    assert queue_bodies.quarantine_key({"shop": SHOP}, "m-2") == f"quarantine/{SHOP}/_/m-2.json"
    assert queue_bodies.quarantine_key({"case_id": "a/b"}, "m") == "quarantine/_/a_b/m.json"


def test_only_a_reference_is_read_as_one() -> None:
    assert queue_bodies.reference_key('{"quarantined": "quarantine/s/c/m.json", "shop": "s"}') == (
        "quarantine/s/c/m.json"
    )
    assert queue_bodies.reference_key('{"inbox": "inbox/s/c/e.json"}') == "inbox/s/c/e.json"
    # an event that merely mentions the word, or a body that is not an object, is not one
    assert queue_bodies.reference_key('{"summary": "inbox full", "kind": "x"}') is None
    assert queue_bodies.reference_key('["inbox"]') is None
    assert queue_bodies.reference_key('{"inbox": 1}') is None
    assert queue_bodies.resolve('{"kind": "orders/create"}') == '{"kind": "orders/create"}'
