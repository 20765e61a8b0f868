"""Stripe Connect from the admin page: OAuth with a state bound to the shop and used once,
disconnecting, Stripe's deauthorization, and what becomes of a disconnected account's
events (ignored, never dead-lettered)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import pytest

from recoup.services import shops as shop_service
from recoup.settings import get_settings
from recoup.store import shops
from recoup_local import session_tokens
from recoup_local.stack import LOCAL_STRIPE_KEYS
from recoup_local.stripe_platform import StripePlatform
from tests.conftest import SHOP, event_json, stripe_headers

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

ACCOUNT = "acct_1NewConnectedShop"
OTHER = "rival-gadgets.myshopify.com"


@pytest.fixture
def stripe_platform(local: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[StripePlatform]:
    """The platform's key and Connect client id set: the stripe SDK calls the local
    stand-in for Stripe (Connect OAuth over HTTP, codes used once)."""
    for name, value in LOCAL_STRIPE_KEYS.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    assert local.stripe is not None
    yield local.stripe
    get_settings.cache_clear()


def _admin(local: Any, method: str, path: str) -> tuple[int, dict[str, Any]]:
    claims = session_tokens.claims(SHOP, api_key=local.shopify_api_key)
    bearer = session_tokens.sign(claims, local.shopify_secret)
    answer = local.lambdas.invoke_http(
        method, f"/admin/api{path}", {"Authorization": f"Bearer {bearer}"}, b""
    )
    return int(answer["statusCode"]), json.loads(answer["body"])


def _begin(local: Any) -> dict[str, str]:
    status, body = _admin(local, "POST", "/stripe/connect")
    assert status == 200, body
    url = urlsplit(body["url"])
    assert (f"{url.scheme}://{url.netloc}", url.path) == (local.stripe.url, "/oauth/authorize")
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["client_id"] == LOCAL_STRIPE_KEYS["RECOUP_STRIPE_CONNECT_CLIENT_ID"]
    assert query["scope"] == "read_write"
    assert query["redirect_uri"].endswith("/stripe/callback")
    return query


def _charge_failed_on_the_account(local: Any) -> None:
    """A payment failure on ACCOUNT, with no shop in its metadata, through the worker."""
    event = event_json("stripe/charge.failed.json")
    event["account"] = ACCOUNT
    event["data"]["object"]["metadata"] = {}
    body = json.dumps(event).encode()
    headers = stripe_headers(body, local.stripe_secret)
    assert local.lambdas.invoke_http("POST", "/webhooks/stripe", headers, body)["statusCode"] == 200
    local.lambdas.drain()


def _callback(local: Any, **params: str) -> dict[str, Any]:
    answer = local.lambdas.invoke_http("GET", f"/stripe/callback?{urlencode(params)}", {}, b"")
    assert answer is not None
    return answer


def test_a_merchant_connects_their_account_and_its_events_reach_the_shop(
    local: Any, stripe_platform: StripePlatform
) -> None:
    shop_service.install(SHOP)  # no account connected yet
    query = _begin(local)
    stripe_platform.codes["ac_good"] = ACCOUNT
    # When Stripe sends the merchant back with a code
    answer = _callback(local, code="ac_good", state=query["state"], scope="read_write")
    # Then they land back in the app, and the account is the shop's
    assert answer["statusCode"] == 302
    assert answer["headers"]["Location"] == f"https://{SHOP}/admin/apps/{local.shopify_api_key}"
    assert shops.shop_for_stripe_account(ACCOUNT) == SHOP
    assert _admin(local, "GET", "/stripe") == (200, {"connected": True, "account": ACCOUNT})
    # and a payment failure on that account, with no shop in its metadata, opens a case there
    _charge_failed_on_the_account(local)
    from recoup.services import cases

    assert len(cases.list_cases(SHOP)) == 1


def test_a_replayed_forged_or_refused_callback_connects_nothing(
    local: Any, stripe_platform: StripePlatform
) -> None:
    shop_service.install(SHOP)
    query = _begin(local)
    stripe_platform.codes["ac_1"] = ACCOUNT
    assert _callback(local, code="ac_1", state=query["state"])["statusCode"] == 302
    # The same state again (a replay, even with a fresh code) is refused
    stripe_platform.codes["ac_2"] = "acct_1Attacker"
    replay = _callback(local, code="ac_2", state=query["state"])
    assert replay["statusCode"] == 400 and "already used" in replay["body"]
    # A state signed with another secret, or changed, is refused
    payload, mac = query["state"].split(".")
    forged = _callback(local, code="ac_2", state=f"{payload}.{mac[::-1]}")
    assert forged["statusCode"] == 400 and "signature" in forged["body"]
    # The merchant declining on Stripe's page is said so
    declined = _callback(
        local,
        error="access_denied",
        error_description="The user denied your request",
        state=_begin(local)["state"],
    )
    assert declined["statusCode"] == 400 and "denied" in declined["body"]
    assert shops.shop_for_stripe_account("acct_1Attacker") is None
    assert shops.shop_for_stripe_account(ACCOUNT) == SHOP


def test_an_account_another_shop_holds_is_refused(
    local: Any, stripe_platform: StripePlatform
) -> None:
    shop_service.install(OTHER, stripe_account=ACCOUNT)
    shop_service.install(SHOP)
    stripe_platform.codes["ac_taken"] = ACCOUNT
    answer = _callback(local, code="ac_taken", state=_begin(local)["state"])
    assert answer["statusCode"] == 400 and "another shop" in answer["body"]
    assert shops.shop_for_stripe_account(ACCOUNT) == OTHER


def test_disconnecting_revokes_access_and_later_events_are_ignored_not_dead_lettered(
    local: Any, stripe_platform: StripePlatform
) -> None:
    shop_service.install(SHOP, stripe_account=ACCOUNT)
    # When the merchant disconnects from the admin page
    assert _admin(local, "POST", "/stripe/disconnect") == (
        200,
        {"connected": False, "disconnected": ACCOUNT},
    )
    # Then Stripe was asked to revoke access, and the account no longer routes to the shop
    assert stripe_platform.deauthorized == [ACCOUNT]
    assert shops.shop_for_stripe_account(ACCOUNT) is None
    _charge_failed_on_the_account(local)
    sqs = boto3.client("sqs", region_name=local.stack.region)
    dlq = sqs.receive_message(QueueUrl=local.stack.refs["EventsDeadLetterQueue"])
    assert "Messages" not in dlq


def test_stripes_deauthorization_disconnects_the_shop(local: Any) -> None:
    shop_service.install(SHOP, stripe_account=ACCOUNT)
    event = {
        "id": "evt_1Deauthorized",
        "object": "event",
        "type": "account.application.deauthorized",
        "account": ACCOUNT,
        "created": 1764000000,
        "livemode": False,
        "data": {"object": {"id": "ca_TestPlatform", "object": "application", "name": "Recoup"}},
    }
    body = json.dumps(event).encode()
    headers = stripe_headers(body, local.stripe_secret)
    answer = local.lambdas.invoke_http("POST", "/webhooks/stripe", headers, body)
    assert answer["statusCode"] == 200
    local.lambdas.drain()
    assert shops.shop_for_stripe_account(ACCOUNT) is None
    item = shops.get_fresh(SHOP)
    assert item is not None and item.stripe_account is None
