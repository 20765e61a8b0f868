"""The webhook functions, called as API Gateway calls them, against moto."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
from typing import Any

import boto3
import pytest

from recoup_local.lambdas import LambdaContext, http_event
from tests.conftest import (
    event_bytes,
    shopify_headers,
    stripe_headers,
)


def _queue_depth(local: Any) -> int:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = local.stack.refs["EventsQueue"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def _post(
    local: Any, path: str, headers: dict[str, str], body: bytes
) -> tuple[int, dict[str, Any]]:
    result = local.lambdas.invoke_http("POST", path, headers, body)
    return result["statusCode"], json.loads(result["body"])


def test_a_signed_shopify_order_is_queued_and_answered_200(local: Any) -> None:
    # Given a signed orders/create delivery
    body = event_bytes("shopify/order_pending.json")
    headers = shopify_headers(body, local.shopify_secret, "orders/create", webhook_id="wh-1")
    # When it is posted
    status, answer = _post(local, "/webhooks/shopify", headers, body)
    # Then it is queued, once, on the standard queue (no message group holds it behind
    # another event of the order; the worker's event-id set drops a duplicate)
    assert status == 200
    assert answer["status"] == "queued"
    assert answer["event_id"] == "wh-1"
    sqs = boto3.client("sqs", region_name="us-east-1")
    [message] = sqs.receive_message(
        QueueUrl=local.stack.refs["EventsQueue"], AttributeNames=["All"], MaxNumberOfMessages=10
    )["Messages"]
    order_id = str(json.loads(body)["id"])
    assert "MessageGroupId" not in message["Attributes"]
    event = json.loads(message["Body"])
    assert event["event_id"] == "wh-1"
    assert event["case_id"] == order_id  # exact: the id is beyond 2**53
    assert int(order_id) > 2**53


@pytest.mark.parametrize(
    ("mutate", "status", "error", "message"),
    [
        (
            lambda h, b: ({**h, "X-Shopify-Hmac-Sha256": "AAAA"}, b),
            401,
            "invalid_signature",
            "does not match",
        ),
        (
            lambda h, b: ({k: v for k, v in h.items() if k != "X-Shopify-Hmac-Sha256"}, b),
            401,
            "invalid_signature",
            "missing X-Shopify-Hmac-Sha256",
        ),
        (
            lambda h, b: (h, b.replace(b'"pending"', b'"paid"', 1)),
            401,
            "invalid_signature",
            "does not match",
        ),
    ],
    ids=["wrong-signature", "missing-signature", "tampered-body"],
)
def test_a_forged_shopify_delivery_is_refused_and_writes_nothing(
    local: Any, mutate: Any, status: int, error: str, message: str
) -> None:
    body = event_bytes("shopify/order_pending.json")
    headers, sent = mutate(shopify_headers(body, local.shopify_secret, "orders/create"), body)
    code, answer = _post(local, "/webhooks/shopify", headers, sent)
    assert (code, answer["error"]) == (status, error)
    assert message in answer["message"]
    assert _queue_depth(local) == 0


@pytest.mark.parametrize(
    ("body", "headers_change", "message"),
    [
        (b"{not json", {}, "body is not valid JSON"),
        (b"[1, 2]", {}, "body must be a JSON object"),
        (b'{"financial_status": "pending", "currency": "USD"}', {}, "id is missing"),
        (
            b'{"id": 1, "currency": "USD", "financial_status": "pending", "total_price": "1.001"}',
            {},
            "total_price: amount '1.001' has more decimals than USD allows",
        ),
        (b'{"id": 1}', {"X-Shopify-Topic": None}, "missing header(s): x-shopify-topic"),
        (b'{"id": 1}', {"X-Shopify-Shop-Domain": "evil.example.com"}, "not a myshopify.com domain"),
    ],
    ids=["not-json", "not-object", "no-id", "bad-amount", "no-topic", "bad-shop"],
)
def test_a_malformed_shopify_delivery_gets_400_naming_the_problem(
    local: Any, body: bytes, headers_change: dict[str, str | None], message: str
) -> None:
    headers = shopify_headers(body, local.shopify_secret, "orders/create")
    for key, value in headers_change.items():
        if value is None:
            headers.pop(key)
        else:
            headers[key] = value
    code, answer = _post(local, "/webhooks/shopify", headers, body)
    assert code == 400
    assert answer["error"] == "malformed_webhook"
    assert message in answer["message"]
    assert _queue_depth(local) == 0


def test_an_unknown_shopify_topic_is_acknowledged_and_ignored(local: Any) -> None:
    body = event_bytes("shopify/app_uninstalled.json")
    headers = shopify_headers(body, local.shopify_secret, "products/update")
    code, answer = _post(local, "/webhooks/shopify", headers, body)
    assert (code, answer["status"]) == (200, "ignored")
    assert _queue_depth(local) == 0


def test_a_base64_encoded_body_is_verified_on_its_decoded_bytes(local: Any) -> None:
    # Given an event API Gateway base64-encoded
    body = event_bytes("shopify/order_pending.json")
    headers = shopify_headers(body, local.shopify_secret, "orders/create")
    api_event = http_event("POST", "/webhooks/shopify", headers, body)
    api_event["body"] = base64.b64encode(body).decode()
    api_event["isBase64Encoded"] = True
    # When the handler gets it / Then the signature matches the decoded bytes
    handler = local.lambdas.handlers["ShopifyWebhookFunction"]
    assert handler(api_event, LambdaContext("ShopifyWebhookFunction"))["statusCode"] == 200
    assert _queue_depth(local) == 1


def test_the_shopify_secret_can_be_rotated(local: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two secrets configured during a rotation
    from recoup.settings import get_settings

    monkeypatch.setenv("RECOUP_SHOPIFY_API_SECRET", f"new-secret,{local.shopify_secret}")
    get_settings.cache_clear()
    body = event_bytes("shopify/order_pending.json")
    # When deliveries are signed with either / Then both are accepted
    for secret in ("new-secret", "dev-shopify-client-secret-local-only"):
        code, _ = _post(
            local, "/webhooks/shopify", shopify_headers(body, secret, "orders/create"), body
        )
        assert code == 200
    get_settings.cache_clear()


def test_a_signed_stripe_event_is_queued(local: Any) -> None:
    body = event_bytes("stripe/payment_intent.payment_failed.json")
    code, answer = _post(local, "/webhooks/stripe", stripe_headers(body, local.stripe_secret), body)
    assert (code, answer["status"]) == (200, "queued")
    assert answer["event_id"] == json.loads(body)["id"]
    assert _queue_depth(local) == 1


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Stripe-Signature": "t=1,v1=00"}, "Stripe-Signature rejected"),
        ({}, "missing Stripe-Signature header"),
    ],
    ids=["bad", "missing"],
)
def test_a_forged_stripe_event_is_refused(
    local: Any, headers: dict[str, str], message: str
) -> None:
    body = event_bytes("stripe/payment_intent.payment_failed.json")
    code, answer = _post(local, "/webhooks/stripe", headers, body)
    assert (code, answer["error"]) == (401, "invalid_signature")
    assert message in answer["message"]
    assert _queue_depth(local) == 0


def test_a_replayed_stripe_event_older_than_five_minutes_is_refused(local: Any) -> None:
    # Given a genuine signature made six minutes ago
    body = event_bytes("stripe/payment_intent.payment_failed.json")
    old = stripe_headers(body, local.stripe_secret, timestamp=int(time.time()) - 360)
    # When replayed now / Then it is refused as outside the tolerance
    code, answer = _post(local, "/webhooks/stripe", old, body)
    assert code == 401
    assert "tolerance" in answer["message"].lower()
    assert _queue_depth(local) == 0


def test_an_ignored_stripe_type_is_acknowledged(local: Any) -> None:
    body = event_bytes("stripe/customer.created.json")
    code, answer = _post(local, "/webhooks/stripe", stripe_headers(body, local.stripe_secret), body)
    assert (code, answer["status"]) == (200, "ignored")
    assert _queue_depth(local) == 0


def test_a_missing_secret_is_a_500_that_names_no_secret(
    local: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recoup.settings import get_settings

    monkeypatch.setenv("RECOUP_SHOPIFY_API_SECRET", "")
    get_settings.cache_clear()
    body = event_bytes("shopify/order_pending.json")
    code, answer = _post(
        local, "/webhooks/shopify", shopify_headers(body, "x", "orders/create"), body
    )
    get_settings.cache_clear()
    assert code == 500
    assert answer == {"error": "configuration_error", "message": "service misconfigured"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"total_outstanding": "-1899.00"}, "total_outstanding: amount must not be negative"),
        ({"current_total_price": "1e308"}, "total_price: amount '1e308' is too large"),
        ({"updated_at": "0001-01-01T00:00:00+01:00"}, "updated_at is not an ISO 8601 time"),
        ({"updated_at": "9999-12-31T23:59:59Z"}, "updated_at is outside 2000-01-01"),
        ({"note_attributes": json.loads("[" * 40 + "]" * 40)}, "nests deeper than 32"),
    ],
    ids=["negative", "huge", "year-1", "year-9999", "deep"],
)
def test_a_signed_order_with_absurd_values_gets_400_and_nothing_is_queued(
    local: Any, change: dict[str, Any], message: str
) -> None:
    order = json.loads(event_bytes("shopify/order_pending.json"))
    order.update(change)
    body = json.dumps(order).encode()
    code, answer = _post(
        local,
        "/webhooks/shopify",
        shopify_headers(body, local.shopify_secret, "orders/create"),
        body,
    )
    assert (code, answer["error"]) == (400, "malformed_webhook")
    assert message in answer["message"]
    assert _queue_depth(local) == 0


@pytest.mark.parametrize("created", [0, 2**63], ids=["1970", "2^63"])
def test_a_signed_stripe_event_from_far_from_now_gets_400(local: Any, created: int) -> None:
    event = json.loads(event_bytes("stripe/payment_intent.payment_failed.json"))
    event["created"] = created
    body = json.dumps(event).encode()
    code, answer = _post(local, "/webhooks/stripe", stripe_headers(body, local.stripe_secret), body)
    assert (code, answer["error"]) == (400, "malformed_webhook")
    assert "created is outside" in answer["message"]
    assert _queue_depth(local) == 0


def test_a_fault_of_ours_is_a_500_json_answer_logged_without_the_body(
    local: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a normaliser that fails in a way nobody planned for, quoting the body
    from recoup.integrations import shopify

    def broken(*_: Any) -> None:
        raise RuntimeError("buyer@example.com owes 1899.00")

    monkeypatch.setattr(shopify, "normalise", broken)
    body = event_bytes("shopify/order_pending.json")
    headers = shopify_headers(body, local.shopify_secret, "orders/create")
    # When delivered / Then the answer is a 500 the sender retries, and the log names the
    # error's type and place, not its text
    code, answer = _post(local, "/webhooks/shopify", headers, body)
    assert (code, answer["error"]) == (500, "internal_error")
    [failed] = [r for r in caplog.records if r.getMessage() == "Webhook failed"]
    assert failed.__dict__["error"] == "RuntimeError"
    assert "buyer@example.com" not in repr([vars(r) for r in caplog.records])
    assert _queue_depth(local) == 0


def _serve(local: Any) -> Any:
    from recoup_local.front import make_server

    server = make_server(local.lambdas, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _http(server: Any, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    host, port = server.server_address
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request("POST", "/webhooks/shopify", body=body, headers=headers)
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def test_the_local_front_answers_a_crashing_handler_with_a_500_json(
    local: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a handler that raises out of the function (Lambda would answer 500)
    def crash(*_: Any) -> None:
        raise RecursionError("deep body from buyer@example.com")

    server = _serve(local)
    monkeypatch.setattr(local.lambdas, "invoke_http", crash)
    body = event_bytes("shopify/order_pending.json")
    try:
        # When a request arrives over HTTP / Then it is answered, and the body is not logged
        status, answer = _http(server, body, {"Content-Type": "application/json"})
    finally:
        server.shutdown()
    assert (status, answer["error"]) == (500, "internal_error")
    assert "RecursionError" in caplog.text
    assert "buyer@example.com" not in caplog.text
    assert b"1899.00" not in caplog.text.encode()


def test_the_local_front_answers_a_signed_absurd_delivery_over_http(local: Any) -> None:
    order = json.loads(event_bytes("shopify/order_pending.json"))
    order["updated_at"] = "0001-01-01T00:00:00+01:00"
    body = json.dumps(order).encode()
    server = _serve(local)
    try:
        status, answer = _http(
            server, body, shopify_headers(body, local.shopify_secret, "orders/create")
        )
        bad_length, refused = _http(server, b"", {"Content-Length": "-5"})
    finally:
        server.shutdown()
    assert (status, answer["error"]) == (400, "malformed_webhook")
    assert (bad_length, refused["error"]) == (400, "bad_request")
    assert _queue_depth(local) == 0


def test_a_privacy_request_with_megabytes_of_other_fields_is_queued_with_what_is_needed(
    local: Any,
) -> None:
    # Given a signed customers/redact carrying 2 MB of fields the worker never reads
    request = json.loads(event_bytes("shopify/customers_redact.json"))
    request["extra"] = "x" * (2 * 1024 * 1024)
    request["customer"]["note"] = "y" * 300_000
    body = json.dumps(request).encode()
    headers = shopify_headers(body, local.shopify_secret, "customers/redact")
    # When delivered / Then it is queued (an SQS message holds 256 KiB) with only what the
    # privacy worker reads
    code, answer = _post(local, "/webhooks/shopify", headers, body)
    assert (code, answer["status"]) == (200, "queued")
    sqs = boto3.client("sqs", region_name="us-east-1")
    [message] = sqs.receive_message(QueueUrl=local.stack.refs["PrivacyQueue"])["Messages"]
    payload = json.loads(message["Body"])["payload"]
    assert set(payload) == {"shop_id", "shop_domain", "customer", "orders_to_redact"}
    assert payload["customer"] == {
        k: request["customer"][k] for k in ("id", "email", "phone") if k in request["customer"]
    }
    assert payload["orders_to_redact"] == request["orders_to_redact"]
