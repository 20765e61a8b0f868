"""The Admin API client against a scripted fake Shopify: rate limits, retries, final errors,
and the access token kept out of every error."""

from __future__ import annotations

import json

import pytest

from recoup.integrations.shopify_admin import (
    MAX_ATTEMPTS,
    Order,
    ShopifyAdmin,
    ShopifyApiError,
    ShopifyUserError,
)
from recoup.integrations.shopify_http import (
    HttpRequest,
    HttpResponse,
    TransportError,
    urllib_transport,
)
from recoup.integrations.shopify_version import API_VERSION
from tests.shopify_fakes import FakeShopify, answer, cost

SHOP = "demo-electronics.myshopify.com"
TOKEN = "shpat_0123456789abcdef"
CUSTOMER = "gid://shopify/Customer/7001234567890"


class FakeTime:
    """A monotonic clock that only moves when the client sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def tagged() -> HttpResponse:
    return answer({"tagsAdd": {"node": {"id": CUSTOMER}, "userErrors": []}})


def throttled(*, requested: int, available: float) -> HttpResponse:
    body = {
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": cost(requested, available),
    }
    return HttpResponse(200, json.dumps(body).encode())


def client(shopify: FakeShopify, time: FakeTime) -> ShopifyAdmin:
    return ShopifyAdmin(SHOP, TOKEN, transport=shopify, sleep=time.sleep, clock=time.clock)


def test_add_tags_sends_tags_add_for_the_gid_to_the_shops_graphql_endpoint() -> None:
    shopify, time = FakeShopify(tagged()), FakeTime()
    # When a customer is tagged
    client(shopify, time).add_tags(CUSTOMER, ["recoup:fraud"])
    # Then one GraphQL POST went to the shop, in the app's API version, with the token in its header
    (request,) = shopify.requests
    assert request.url == f"https://{SHOP}/admin/api/{API_VERSION}/graphql.json"
    assert request.headers["X-Shopify-Access-Token"] == TOKEN
    sent = shopify.sent()
    assert "tagsAdd(id: $id, tags: $tags)" in sent["query"]
    assert sent["variables"] == {"id": CUSTOMER, "tags": ["recoup:fraud"]}
    assert time.slept == []


def test_throttled_twice_then_ok_waits_as_the_throttle_status_says() -> None:
    # Given Shopify throttling twice (cost 10; 2, then 6 points left; 50 points a second)
    shopify = FakeShopify(
        throttled(requested=10, available=2.0), throttled(requested=10, available=6.0), tagged()
    )
    time = FakeTime()
    # When the tags are added
    client(shopify, time).add_tags(CUSTOMER, ["a"])
    # Then the client waited for the missing points each time, and the third try went through
    assert time.slept == [0.16, 0.08]
    assert len(shopify.requests) == 3


def test_http_429_is_retried_after_the_retry_after_header() -> None:
    shopify = FakeShopify(HttpResponse(429, b"", {"retry-after": "2.0"}), tagged())
    time = FakeTime()
    client(shopify, time).add_tags(CUSTOMER, ["a"])
    assert time.slept == [2.0]
    assert len(shopify.requests) == 2


def test_a_server_error_or_lost_connection_is_retried_with_backoff() -> None:
    shopify = FakeShopify(
        HttpResponse(500, b"Internal Server Error"), TransportError("no answer: reset"), tagged()
    )
    time = FakeTime()
    client(shopify, time).add_tags(CUSTOMER, ["a"])
    assert time.slept == [0.5, 1.0]
    assert len(shopify.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 423])
def test_a_client_error_other_than_429_is_final(status: int) -> None:
    shopify = FakeShopify(
        HttpResponse(status, b'{"errors":"[API] Invalid API key or access token"}')
    )
    time = FakeTime()
    with pytest.raises(ShopifyApiError) as failed:
        client(shopify, time).add_tags(CUSTOMER, ["a"])
    # Then it was asked once, never retried, and the error says what Shopify answered
    assert len(shopify.requests) == 1
    assert time.slept == []
    assert failed.value.status == status
    assert f"HTTP {status}" in failed.value.message


def test_attempts_are_bounded_then_a_clear_error_is_raised() -> None:
    shopify = FakeShopify(*[HttpResponse(503, b"unavailable")] * MAX_ATTEMPTS)
    time = FakeTime()
    with pytest.raises(ShopifyApiError) as failed:
        client(shopify, time).add_tags(CUSTOMER, ["a"])
    assert len(shopify.requests) == MAX_ATTEMPTS
    assert time.slept == [0.5, 1.0, 2.0, 4.0]  # doubling, between the attempts only
    assert f"gave up after {MAX_ATTEMPTS} attempts: HTTP 503" in failed.value.message
    assert SHOP in failed.value.message


def test_a_wait_longer_than_a_lambda_should_sleep_fails_the_call_at_once() -> None:
    shopify = FakeShopify(HttpResponse(429, b"", {"retry-after": "120"}), tagged())
    time = FakeTime()
    with pytest.raises(ShopifyApiError) as failed:
        client(shopify, time).add_tags(CUSTOMER, ["a"])
    assert time.slept == []
    assert "wait 120 s" in failed.value.message


def test_a_query_it_cannot_afford_waits_for_the_bucket_to_refill() -> None:
    # Given an answer leaving 4 points, refilling 50 a second; the next query costs 10
    shopify = FakeShopify(tagged_with(available=4.0), tagged_with(available=0.0), tagged())
    time = FakeTime()
    admin = client(shopify, time)
    admin.add_tags(CUSTOMER, ["a"])
    # When the next query is made at once
    admin.add_tags(CUSTOMER, ["b"])
    # Then the client waited (10 - 4) / 50 s before sending it
    assert time.slept == [0.12]
    # and after the bucket has had time to refill, it does not wait at all
    time.now += 1.0
    admin.add_tags(CUSTOMER, ["c"])
    assert time.slept == [0.12]


def tagged_with(*, available: float) -> HttpResponse:
    return answer({"tagsAdd": {"node": {"id": CUSTOMER}, "userErrors": []}}, available=available)


def test_the_token_never_appears_in_an_error_or_the_clients_repr() -> None:
    # Given answers that quote the token back (a proxy error page, a GraphQL error)
    echoed = f"forbidden for token {TOKEN}".encode()
    graphql_error = json.dumps({"errors": [{"message": f"bad token {TOKEN}"}]}).encode()
    for response in (HttpResponse(403, echoed), HttpResponse(200, graphql_error)):
        admin = client(FakeShopify(response), FakeTime())
        # When the call fails
        with pytest.raises(ShopifyApiError) as failed:
            admin.add_tags(CUSTOMER, ["a"])
        # Then neither the message nor the exception's text holds the token
        assert TOKEN not in str(failed.value)
        assert "[token]" in failed.value.message
        assert TOKEN not in repr(admin)


def test_user_errors_name_the_field_shopify_refused() -> None:
    refused = answer(
        {
            "tagsAdd": {
                "node": None,
                "userErrors": [{"field": ["tags", "0"], "message": "Tag is too long"}],
            }
        }
    )
    with pytest.raises(ShopifyUserError) as failed:
        client(FakeShopify(refused), FakeTime()).add_tags(CUSTOMER, ["x" * 300])
    assert failed.value.fields == ("tags.0",)
    assert "tags.0: Tag is too long" in failed.value.message


def test_remove_tags_sends_tags_remove() -> None:
    removed = answer({"tagsRemove": {"node": {"id": CUSTOMER}, "userErrors": []}})
    shopify = FakeShopify(removed)
    client(shopify, FakeTime()).remove_tags(CUSTOMER, ["recoup:fraud"])
    assert "tagsRemove(id: $id, tags: $tags)" in shopify.sent()["query"]


def test_an_order_lookup_returns_what_recoup_needs() -> None:
    found = answer(
        {
            "order": {
                "id": "gid://shopify/Order/5601234567890",
                "name": "#1042",
                "displayFinancialStatus": "PENDING",
                "tags": ["vip"],
                "customer": {"id": "gid://shopify/Customer/7001234567890"},
            }
        },
        requested=3,
    )
    shopify = FakeShopify(found, answer({"order": None}))
    admin = client(shopify, FakeTime())
    # When an order is looked up by its numeric id
    order = admin.order("5601234567890")
    # Then the query names its gid and the answer is read into an Order
    assert shopify.sent()["variables"] == {"id": "gid://shopify/Order/5601234567890"}
    assert order == Order("5601234567890", "#1042", "PENDING", "7001234567890", ("vip",))
    # and an order the shop does not have is None
    assert admin.order("gid://shopify/Order/1") is None
    with pytest.raises(ValueError, match="order_id"):
        admin.order("1; drop")


def test_the_default_transport_calls_https_only_and_reports_no_answer_as_transport_error() -> None:
    request = HttpRequest(
        "http://127.0.0.1:1/graphql.json", b"{}", {"X-Shopify-Access-Token": TOKEN}
    )
    with pytest.raises(ValueError, match="only https"):
        urllib_transport(request)
    # Nothing listens on port 1: the connection is refused, which is no answer at all
    with pytest.raises(TransportError) as failed:
        urllib_transport(HttpRequest("https://127.0.0.1:1/graphql.json", b"{}", request.headers))
    assert "no answer from 127.0.0.1:1" in str(failed.value)
    assert TOKEN not in str(failed.value)
