"""The currency of a template preview's sample order when Shopify has not said the shop's
(services/sample_sends._shop_currency): that of one of the shop's tracked cases, found by
one key of the shop index and one case read, whatever the number of cases."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from botocore.client import BaseClient

from recoup import clock
from recoup.services import sample_sends
from tests.conftest import SHOP, event_bytes, shopify_headers

OPENED = datetime(2026, 11, 2, 16, tzinfo=UTC)


def _open_orders(local: Any, first: int, count: int, currency: str) -> None:
    """`count` pending orders in `currency`, order ids from `first`, through the worker."""
    from recoup.integrations import shopify
    from recoup.services import cases

    order = json.loads(event_bytes("shopify/order_pending.json"))
    for n in range(first, first + count):
        order.update(id=9_100_000 + n, name=f"#S{n}", currency=currency)
        body = json.dumps(order).encode()
        headers = shopify_headers(body, local.shopify_secret, "orders/create", webhook_id=f"s{n}")
        event = shopify.normalise(shopify.read_delivery(headers), body)
        assert event is not None
        at = OPENED + timedelta(minutes=n)
        clock.use(lambda at=at: at)
        try:
            assert cases.apply_event(event, now=at) is not None
        finally:
            clock.use(None)


@contextmanager
def _items_read() -> Iterator[list[int]]:
    """The items every DynamoDB read returned or scanned, one entry per read."""
    read: list[int] = []
    original: Callable[..., Any] = BaseClient._make_api_call  # type: ignore[attr-defined]

    def call(client: BaseClient, operation: str, params: Any) -> Any:
        answer = original(client, operation, params)
        if client.meta.service_model.service_name == "dynamodb":
            if operation in ("Query", "Scan"):
                read.append(int(answer.get("ScannedCount", 0)))
            elif operation == "GetItem":
                read.append(1 if answer.get("Item") else 0)
            elif operation == "BatchGetItem":
                read.append(sum(len(v) for v in answer.get("Responses", {}).values()))
        return answer

    with mock.patch.object(BaseClient, "_make_api_call", call):
        yield read


def test_a_shop_without_cases_gets_the_default_currency(local: Any) -> None:
    with _items_read() as read:
        assert sample_sends._shop_currency(SHOP, None) == sample_sends.SAMPLE_CURRENCY
    assert sum(read) == 0


def test_the_sample_takes_a_cases_currency_reading_one_key_and_one_case(local: Any) -> None:
    # Given a shop without a currency from Shopify and one case in EUR
    _open_orders(local, 0, 1, "EUR")
    with _items_read() as one:
        assert sample_sends._shop_currency(SHOP, None) == "EUR"
    # When it has twenty more
    _open_orders(local, 1, 20, "EUR")
    with _items_read() as many:
        assert sample_sends._shop_currency(SHOP, None) == "EUR"
    # Then the sample reads a key and a case either way
    assert sum(one) == sum(many) == 2
