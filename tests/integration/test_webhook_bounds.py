"""Signed deliveries with absurd but well-formed values: every one gets a 2xx or a 4xx, never
a 5xx or no answer; a refused one queues nothing; an accepted one applies in its worker.

The deliveries are the project's real payloads (tests/events) with one value changed, at or
past a bound: deep nesting, huge numbers, dates at the ends of the calendar, long strings,
wrong types; plus odd unsigned headers.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from recoup_local.lambdas import LambdaContext
from tests.conftest import EVENTS, SHOP, STRIPE_ACCOUNT, shopify_headers, stripe_headers

SHOPIFY_TOPICS = {
    "order_pending.json": "orders/create",
    "order_pending_updated.json": "orders/updated",
    "order_paid.json": "orders/paid",
    "order_partially_paid.json": "orders/updated",
    "order_jpy_pending.json": "orders/create",
    "order_cancelled.json": "orders/cancelled",
    "order_risky.json": "orders/create",
    "order_risk_assessment_changed.json": "orders/risk_assessment_changed",
    "order_transaction_failure.json": "order_transactions/create",
    "refund_partial.json": "refunds/create",
    "customers_data_request.json": "customers/data_request",
    "customers_redact.json": "customers/redact",
}
# shop/redact and app/uninstalled are left out: they would end the shop every later example
# delivers to (their bounds are the same code as the other privacy topics').
STRIPE_EVENTS = sorted(
    p.name for p in (EVENTS / "stripe").glob("*.json") if p.name != "customer.created.json"
)


class Deep:
    """A value nested `levels` arrays deep, built when the body is (Hypothesis prints the
    examples it draws, and a 5,000-deep value is too deep to print)."""

    def __init__(self, levels: int) -> None:
        self.levels = levels

    def __repr__(self) -> str:
        return f"Deep({self.levels})"

    def text(self) -> str:
        return "[" * self.levels + "1" + "]" * self.levels


ODD_DATES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",  # a zone pushes it off the calendar
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59Z",
    "10000-01-01T00:00:00Z",
    "1999-12-31T23:59:59Z",
    "2000-01-01T00:00:00Z",
    "2026-11-02T15:15:00",  # no zone
    "2126-11-02T15:15:00Z",
    "not a date",
]
ODD_NUMBERS: list[Any] = [
    0,
    -1,
    -(2**63),
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    10**400,
    1e308,
    -1e308,
    0.5,
    10**15,
    10**15 + 1,
]
ODD_STRINGS = [
    "",
    " ",
    "-1.00",
    "-0.00",
    "1e308",
    "1E+400",
    "9" * 400,
    "1" * 15,
    "1000000000000.000",
    "1000000000000.001",
    "0.0000000000000000000000000000001",
    "1.00000000000000000000000000000001",
    "NaN",
    "Infinity",
    "x" * 255,
    "x" * 256,
    "x" * 2049,
    "é" * 300,
    "josé@example.com",
    "\x00",
    "pi_" + "a" * 300,
    "gid://shopify/Order/" + "9" * 30,
    *ODD_DATES,
]
ODD_VALUES = st.one_of(
    st.sampled_from(ODD_NUMBERS),
    st.sampled_from(ODD_STRINGS),
    st.sampled_from([None, True, False, [], {}, {"a": 1}, ["x"]]),
    st.sampled_from([Deep(30), Deep(40), Deep(3000)]),
    st.text(max_size=40),
    st.integers(),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document a value can be replaced (lists: their first entries)."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value[:2]):
            found += _paths(child, (*prefix, index))
    return found


def _set(document: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        document = document[step]
    document[path[-1]] = _DEEP if isinstance(value, Deep) else value


_DEEP = "__nested_value__"


def _dumps(body: Any, change: Change | None) -> bytes:
    """The body as a sender writes it; a deep value is spliced in as text (json.dumps
    recurses, and Python's recursion limit is below 3,000)."""
    text = json.dumps(body)
    if change is not None and isinstance(change[1], Deep):
        text = text.replace(json.dumps(_DEEP), change[1].text(), 1)
    return text.encode()


Change = tuple[tuple[Any, ...], Any]  # (path in the body, new value)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[str, Change | None, dict[str, Any] | None]:
    """(payload, body change, header changes): one real payload with one value at or past
    a bound."""
    source = draw(st.sampled_from(["shopify", "stripe"]))
    name = draw(st.sampled_from(sorted(SHOPIFY_TOPICS) if source == "shopify" else STRIPE_EVENTS))
    body = json.loads((EVENTS / source / name).read_bytes())
    headers: dict[str, Any] | None = None
    change: Change | None = None
    target = draw(st.sampled_from(["body", "body", "body", "headers", "whole"]))
    if target == "body":
        change = (draw(st.sampled_from(_paths(body))), draw(ODD_VALUES))
    elif target == "whole":
        change = (("nested",), Deep(draw(st.sampled_from([31, 32, 100, 5000]))))
    elif source == "shopify":
        header = draw(
            st.sampled_from(
                [
                    "X-Shopify-Triggered-At",
                    "X-Shopify-Webhook-Id",
                    "X-Shopify-API-Version",
                    "X-Shopify-Order-Id",
                    "X-Shopify-Topic",
                ]
            )
        )
        headers = {header: draw(st.sampled_from([*ODD_DATES, "x" * 5000, "é", "", " ", "1"]))}
    else:
        change = (("created",), draw(st.sampled_from([0, -1, 946684799, 2**31, 2**63, 10**20])))
    return f"{source}:{name}", change, headers


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    """One stack for every example; each delivery is checked against the queues' depth."""
    from recoup.services import shops
    from recoup_local.stack import in_process

    saved = {name: os.environ.pop(name, None) for name in ("AWS_ENDPOINT_URL",)}
    with in_process() as local:
        shops.install(SHOP, stripe_account=STRIPE_ACCOUNT)
        yield local
    os.environ.update({k: v for k, v in saved.items() if v is not None})


def _depth(url: str) -> int:
    sqs = boto3.client("sqs", region_name="us-east-1")
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attrs[name]) for name in names)


def _run_worker(local: Any, queue: str, function: str) -> None:
    """Hand what the delivery queued to its worker: every record must apply."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = local.stack.refs[queue]
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]
    ).get("Messages", [])
    for message in messages:
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "0",
                "SenderId": "local",
                "ApproximateFirstReceiveTimestamp": "0",
                **message.get("Attributes", {}),
            },
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
            "awsRegion": "us-east-1",
        }
        response = local.lambdas.handlers[function]({"Records": [record]}, LambdaContext(function))
        assert (response or {}).get("batchItemFailures", []) == [], message["Body"][:500]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


# The quick suite's count; BOUNDS_EXAMPLES=2000 for a long run.
EXAMPLES = int(os.environ.get("BOUNDS_EXAMPLES", "60"))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(deliveries())
# Found by earlier runs: kept so every run checks them.
@example(("shopify:order_cancelled.json", (("nested",), Deep(31)), None))
@example(("shopify:customers_data_request.json", (("nested",), Deep(31)), None))
@example(("shopify:customers_redact.json", (("customer", "email"), "x" * 255), None))
@example(("stripe:charge.failed.json", (("account",), None), None))
def test_every_signed_delivery_is_answered_and_what_passes_applies(
    stack: Any, delivery: tuple[str, Change | None, dict[str, Any] | None]
) -> None:
    what, change, header_changes = delivery
    source, name = what.split(":", 1)
    body = json.loads((EVENTS / source / name).read_bytes())
    if source == "stripe":
        body["id"] = f"evt_bounds{uuid.uuid4().hex}"  # unique: SQS deduplicates by event id
    if change is not None:
        _set(body, *change)
    raw = _dumps(body, change)
    if source == "shopify":
        topic = SHOPIFY_TOPICS[what.split(":", 1)[1]]
        headers = shopify_headers(raw, stack.shopify_secret, topic)
        headers.update(header_changes or {})
        path = "/webhooks/shopify"
    else:
        headers = stripe_headers(raw, stack.stripe_secret)
        path = "/webhooks/stripe"
    queues = [stack.stack.refs[name] for name in ("EventsQueue", "PrivacyQueue")]

    result = stack.lambdas.invoke_http("POST", path, headers, raw)

    status = result["statusCode"]
    answer = json.loads(result["body"])
    assert 200 <= status < 300 or 400 <= status < 500, (status, answer, what)
    if status >= 400:
        assert answer["error"] in ("malformed_webhook", "invalid_signature"), answer
        # Every example leaves the queues empty (below), so a refusal must find them empty.
        assert [_depth(url) for url in queues] == [0, 0]
        return
    _run_worker(stack, "EventsQueue", "EventWorkerFunction")
    _run_worker(stack, "PrivacyQueue", "PrivacyFunction")
    assert [_depth(url) for url in queues] == [0, 0]


def test_the_bounds_hold_for_a_plain_delivery(stack: Any) -> None:
    """The generator's baseline: an unchanged payload is accepted and applies."""
    raw = (EVENTS / "shopify" / "order_pending.json").read_bytes()
    headers = shopify_headers(raw, stack.shopify_secret, "orders/create")
    result = stack.lambdas.invoke_http("POST", "/webhooks/shopify", headers, raw)
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["status"] == "queued"
    _run_worker(stack, "EventsQueue", "EventWorkerFunction")
