"""The event worker against moto: exactly once, whatever the order, never in silence."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from recoup.domain.audit import verify_chain
from recoup.domain.case import CaseStatus
from recoup.domain.money import Money
from recoup.services import cases, figures
from recoup.store import case_reads
from recoup.store import cases as case_store
from recoup.store.models import CASE_SK, CaseItem, case_pk
from tests.conftest import SHOP, event_bytes, event_json, shopify_headers, stripe_headers

PENDING_ID = str(event_json("shopify/order_pending.json")["id"])


def shopify(local: Any, name: str, topic: str, webhook_id: str, *, shop: str = SHOP) -> None:
    body = event_bytes(f"shopify/{name}.json")
    headers = shopify_headers(body, local.shopify_secret, topic, webhook_id=webhook_id, shop=shop)
    assert (
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"] == 200
    )


def stripe(local: Any, name: str, body: bytes | None = None) -> None:
    body = body or event_bytes(f"stripe/{name}.json")
    headers = stripe_headers(body, local.stripe_secret)
    assert local.lambdas.invoke_http("POST", "/webhooks/stripe", headers, body)["statusCode"] == 200


def only_case(case_id: str) -> Any:
    stored = case_store.load(SHOP, case_id)
    assert stored is not None
    return stored.case


def test_an_unpaid_order_opens_a_case_with_the_amount_outstanding(local: Any) -> None:
    # Given a pending order delivered / When the worker runs
    shopify(local, "order_pending", "orders/create", "wh-1")
    local.lambdas.drain()
    # Then a case is open for the outstanding amount, with one audit entry
    case = only_case(PENDING_ID)
    order = event_json("shopify/order_pending.json")
    assert case.status is CaseStatus.OPEN
    assert case.amount_owed == Money.parse(order["total_outstanding"], order["currency"])
    assert case.snapshot.customer.email == order["email"]
    trail = cases.timeline(SHOP, PENDING_ID)
    [entry] = trail
    opened, screened = entry.body["effect"].split("; ", 1)
    assert opened == f"case opened: {case.amount_owed} owed"
    assert screened.startswith("fraud check: low (score ")
    assert verify_chain(trail).ok


def test_a_redelivered_event_is_applied_once(local: Any) -> None:
    # Given the same delivery applied twice (past the queue's 5-minute deduplication)
    shopify(local, "order_pending", "orders/create", "wh-1")
    local.lambdas.drain()
    result = cases.apply_message(_last_event_body(local, "order_pending", "orders/create", "wh-1"))
    # Then the second application is a no-op and the trail has one entry
    assert result is not None and result.duplicate
    assert len(cases.timeline(SHOP, PENDING_ID)) == 1


def _last_event_body(local: Any, name: str, topic: str, webhook_id: str) -> str:
    from recoup.integrations import shopify as shopify_integration

    body = event_bytes(f"shopify/{name}.json")
    headers = shopify_headers(body, local.shopify_secret, topic, webhook_id=webhook_id)
    delivery = shopify_integration.read_delivery(headers)
    event = shopify_integration.normalise(delivery, body)
    assert event is not None
    return json.dumps(event.to_dict())


def test_paid_first_then_pending_late_ends_paid_and_a_late_failure_keeps_it_paid(
    local: Any,
) -> None:
    # Given orders/paid delivered before the orders/create it follows
    shopify(local, "order_paid", "orders/paid", "wh-paid")
    local.lambdas.drain()
    shopify(local, "order_pending", "orders/create", "wh-create")
    local.lambdas.drain()
    # When a declined payment from before is delivered after both
    stripe(local, "payment_intent.payment_failed")
    local.lambdas.drain()
    # Then the case is paid, and every event is on its trail
    case = only_case(PENDING_ID)
    assert case.status is CaseStatus.PAID
    assert case.amount_owed is None
    effects = [e.body["effect"] for e in cases.timeline(SHOP, PENDING_ID)]
    assert len(effects) == 3
    assert "stays paid" in effects[-1]


def test_a_cancelled_order_closes_as_cancelled(local: Any) -> None:
    voided = event_json("shopify/order_voided.json")
    shopify(local, "order_voided", "orders/updated", "wh-void")
    shopify(local, "order_cancelled", "orders/cancelled", "wh-cancel")
    local.lambdas.drain()
    assert only_case(str(voided["id"])).status is CaseStatus.CANCELLED


def test_an_authorized_order_is_not_a_case(local: Any) -> None:
    shopify(local, "order_authorized", "orders/create", "wh-auth")
    local.lambdas.drain()
    assert cases.list_cases(SHOP) == []


def test_an_order_paid_at_checkout_is_kept_without_personal_data_and_expires(local: Any) -> None:
    order = event_json("shopify/order_paid_normal.json")
    shopify(local, "order_paid_normal", "orders/create", "wh-normal")
    local.lambdas.drain()
    assert cases.list_cases(SHOP) == []
    item = CaseItem.get(case_pk(SHOP, str(order["id"])), CASE_SK)
    assert item.expires_at is not None and item.expires_at > datetime.now(tz=UTC)
    assert item.doc["snapshot"]["customer"] is None
    assert order["email"] not in json.dumps(item.doc)


def test_stripe_failures_join_the_shopify_order_they_name(local: Any) -> None:
    # Given an unpaid order and a declined PaymentIntent whose metadata names it
    shopify(local, "order_pending", "orders/create", "wh-create")
    stripe(local, "payment_intent.payment_failed")
    # And a charge.failed for the same PaymentIntent, which carries no metadata
    stripe(local, "charge.failed")
    local.lambdas.drain()
    # Then all three are on the order's case; no Stripe-only case exists
    case = only_case(PENDING_ID)
    assert case.status is CaseStatus.OPEN
    assert [a.succeeded for a in case.attempts] == [False, False]
    assert {a.code for a in case.attempts} >= {"insufficient_funds"}
    assert [c.case_id for c in cases.list_cases(SHOP)] == [PENDING_ID]


def test_a_stripe_payment_without_an_order_is_its_own_case_and_gets_flagged(local: Any) -> None:
    unlinked = event_json("stripe/payment_intent.payment_failed.unlinked.json")
    stripe(local, "payment_intent.payment_failed.unlinked")
    stripe(local, "radar.early_fraud_warning.created")
    local.lambdas.drain()
    case = only_case(unlinked["data"]["object"]["id"])
    assert case.status is CaseStatus.OPEN
    assert not case.linked
    assert case.fraud_warning
    assert case.amount_owed == Money.of(54900, "USD")


def test_a_yen_payment_keeps_exact_zero_decimal_amounts(local: Any) -> None:
    order = event_json("shopify/order_jpy_pending.json")
    shopify(local, "order_jpy_pending", "orders/create", "wh-jpy")
    stripe(local, "jpy.payment_intent.payment_failed")
    local.lambdas.drain()
    case = only_case(str(order["id"]))
    assert case.amount_owed == Money.parse(order["total_outstanding"], "JPY")
    assert case.attempts[0].amount == Money.of(129800, "JPY")


def test_stripe_events_find_their_shop_through_the_connected_account(local: Any) -> None:
    # Given a Stripe event with no shop_domain metadata, from the shop's connected account
    event = event_json("stripe/charge.failed.json")
    event["data"]["object"]["metadata"] = {}
    stripe(local, "charge.failed", json.dumps(event).encode())
    local.lambdas.drain()
    # Then it lands in that shop
    assert len(cases.list_cases(SHOP)) == 1


def test_an_event_from_an_account_no_shop_connected_is_ignored_not_dead_lettered(
    local: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a Stripe event from an account no installed shop connected (never, or no longer)
    event = event_json("stripe/charge.failed.json")
    event["account"] = "acct_unknown"
    event["data"]["object"]["metadata"] = {}
    stripe(local, "charge.failed", json.dumps(event).encode())
    # And a good delivery for another order behind it
    shopify(local, "order_pending", "orders/create", "wh-create")
    # When the worker drains the queue
    local.lambdas.drain()
    # Then nothing is dead-lettered (a DLQ, and its alarm, are for failures), the log names
    # the account and the event, and the good one was applied
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq = sqs.receive_message(QueueUrl=local.stack.refs["EventsDeadLetterQueue"])
    assert "Messages" not in dlq
    ignored = [r for r in caplog.records if "no installed shop has connected" in r.getMessage()]
    assert ignored and vars(ignored[0])["stripe_account"] == "acct_unknown"
    assert vars(ignored[0])["event_id"] == event["id"]
    assert only_case(PENDING_ID).status is CaseStatus.OPEN


def test_events_for_a_shop_that_is_not_installed_change_nothing(local: Any) -> None:
    shopify(local, "order_pending", "orders/create", "wh-x", shop="other-shop.myshopify.com")
    local.lambdas.drain()
    assert cases.list_cases("other-shop.myshopify.com") == []


def test_a_concurrent_writer_forces_a_reread_not_a_lost_update(
    local: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a case, and a second writer that updates it between our read and our write
    shopify(local, "order_pending", "orders/create", "wh-create")
    local.lambdas.drain()
    real_read = case_reads.case_with_policies
    raced = {"done": False}

    def read_then_race(shop: str, case_id: str) -> Any:
        read = real_read(shop, case_id)
        if not raced["done"]:
            raced["done"] = True
            cases.apply_message(
                _last_event_body(local, "order_pending_updated", "orders/updated", "wh-update")
            )
        return read

    monkeypatch.setattr(case_reads, "case_with_policies", read_then_race)
    # When our event is applied
    stripe_event = _last_stripe_body("payment_intent.payment_failed")
    cases.apply_message(stripe_event)
    # Then both updates are on the case and the chain is intact
    trail = cases.timeline(SHOP, PENDING_ID)
    assert [e.body["kind"] for e in trail] == [
        "orders/create",
        "orders/updated",
        "payment_intent.payment_failed",
    ]
    assert verify_chain(trail).ok


def _last_stripe_body(name: str) -> str:
    from recoup.integrations import stripe as stripe_integration

    event = stripe_integration.normalise(
        stripe_integration.read_event(event_bytes(f"stripe/{name}.json"))
    )
    assert event is not None
    return json.dumps(event.to_dict())


def test_a_charge_that_arrives_before_its_linked_payment_intent_joins_the_order(
    local: Any,
) -> None:
    # Given the charge.failed (no metadata) delivered before anything names the order
    stripe(local, "charge.failed")
    local.lambdas.drain()
    payment_intent = event_json("stripe/charge.failed.json")["data"]["object"]["payment_intent"]
    assert [c.case_id for c in cases.list_cases(SHOP)] == [payment_intent]
    # When the order and the PaymentIntent's own failure (with metadata) arrive
    shopify(local, "order_pending", "orders/create", "wh-create")
    stripe(local, "payment_intent.payment_failed")
    local.lambdas.drain()
    # Then there is one case, the order's, holding both attempts; the payment case points to it
    case = only_case(PENDING_ID)
    assert [c.case_id for c in cases.list_cases(SHOP)] == [PENDING_ID]
    assert len(case.attempts) == 2
    assert only_case(payment_intent).merged_into == PENDING_ID
    assert "merged payment case" in cases.timeline(SHOP, PENDING_ID)[-1].body["effect"]
    # And a later event about that payment goes straight to the order
    stripe(local, "payment_intent.succeeded")
    local.lambdas.drain()
    assert only_case(PENDING_ID).status is CaseStatus.PAID
    for case_id in (PENDING_ID, payment_intent):
        assert verify_chain(cases.timeline(SHOP, case_id)).ok


def big_order(items: int) -> dict[str, Any]:
    """order_pending with `items` line items: its event is far beyond SQS's 256 KiB."""
    order = event_json("shopify/order_pending.json")
    order["line_items"] = [
        {
            "id": 1489365720145000000 + i,
            "title": f"Cable no. {i:04d}",
            "name": f"Cable no. {i:04d}",
            "price": "1.00",
            "quantity": 1,
            "sku": f"CBL-{i:05d}",
            "variant_id": 48123456700000 + i,
            "product_id": 9034567800000 + i,
            "requires_shipping": True,
            "taxable": True,
        }
        for i in range(items)
    ]
    return order


def test_an_order_too_large_for_a_message_is_queued_by_reference_and_applied_whole(
    local: Any,
) -> None:
    from tests.faults import FaultPlan

    # Given an unpaid order with 2,000 line items
    order = big_order(2000)
    body = json.dumps(order).encode()
    headers = shopify_headers(body, local.shopify_secret, "orders/create", webhook_id="wh-big")
    # When Shopify delivers it
    with FaultPlan() as plan:
        result = local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
    # Then it is accepted, the event is in the private bucket and the queue holds a reference
    assert result["statusCode"] == 200
    assert plan.count("s3", "PutObject") == 1 and plan.count("sqs", "SendMessage") == 1
    sqs = boto3.client("sqs", region_name="us-east-1")
    [message] = sqs.receive_message(QueueUrl=local.stack.refs["EventsQueue"])["Messages"]
    sqs.change_message_visibility(
        QueueUrl=local.stack.refs["EventsQueue"],
        ReceiptHandle=message["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    reference = json.loads(message["Body"])
    key = f"inbox/{SHOP}/{PENDING_ID}/wh-big.json"
    assert reference["inbox"] == key and reference["event_id"] == "wh-big"
    assert order["email"] not in message["Body"] and len(message["Body"]) < 1024
    s3 = boto3.client("s3", region_name="us-east-1")
    stored = s3.get_object(Bucket=local.stack.refs["QueueBodiesBucket"], Key=key)
    assert stored["ServerSideEncryption"] == "aws:kms"
    assert len(stored["Body"].read()) > 256 * 1024
    # And when the worker runs, the case holds every item
    local.lambdas.drain()
    case = only_case(PENDING_ID)
    assert case.status is CaseStatus.OPEN
    assert case.snapshot is not None and len(case.snapshot.line_items) == 2000
    assert case.snapshot.line_items[1999].title == "Cable no. 1999"


def test_an_ordinary_event_goes_on_the_queue_alone_without_the_bucket(local: Any) -> None:
    from tests.faults import FaultPlan

    body = event_bytes("shopify/order_pending.json")
    headers = shopify_headers(body, local.shopify_secret, "orders/create", webhook_id="wh-1")
    with FaultPlan() as plan:
        assert local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
    assert plan.calls == [("sqs", "SendMessage")]


def test_a_transaction_conflict_on_a_shared_item_is_read_again_and_applied_once(
    local: Any,
) -> None:
    from tests.faults import CONFLICT, FaultPlan

    # Given an order whose first transaction meets another one on a shared rollup item
    body = _last_event_body(local, "order_pending", "orders/create", "wh-create")
    with FaultPlan() as plan:
        plan.fail("dynamodb", "TransactWriteItems", CONFLICT, whole_call=True)
        applied = cases.apply_message(body)
    # Then the worker read the case again and wrote it on its second try, in the same
    # invocation (no redelivery needed), once
    assert applied is not None and not applied.duplicate
    assert plan.injected == [("dynamodb", "TransactWriteItems", CONFLICT)]
    assert plan.count("dynamodb", "TransactWriteItems") == 2
    trail = cases.timeline(SHOP, PENDING_ID)
    assert [e.body["kind"] for e in trail] == ["orders/create"]
    assert figures.for_shop(SHOP).cases == 1
