"""Shopify OAuth checks: the request HMAC, the shop domain, the timestamp, the state nonce,
the authorize URL and the code exchange. Pure: the exchange goes to a fake transport."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from recoup.integrations import shopify_admin
from recoup.integrations import shopify_oauth as oauth
from recoup.integrations.shopify import HANDLED_TOPICS
from recoup.integrations.shopify_http import HttpResponse, TransportError
from recoup_local import demo
from tests.shopify_fakes import FakeShopify

SECRET = "test-client-secret"
OLD_SECRET = "previous-client-secret"
SHOP = "demo-electronics.myshopify.com"
NOW = datetime(2026, 11, 2, 15, 15, tzinfo=UTC)


def sign(params: dict[str, str], secret: str = SECRET) -> str:
    """Shopify's rule, written out independently of the code under test: hex HMAC-SHA256 of
    the parameters other than hmac, sorted, as name=value joined by &."""
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "hmac")
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def launch(
    shop: str = SHOP, *, at: datetime = NOW, secret: str = SECRET, **extra: str
) -> dict[str, str]:
    params = {"shop": shop, "timestamp": str(int(at.timestamp())), **extra}
    return {**params, "hmac": sign(params, secret)}


def parsed(params: dict[str, str]) -> oauth.Params:
    return oauth.parse_query(urlencode(params))


def verify(params: dict[str, str], *, now: datetime = NOW) -> None:
    oauth.verify_signed_request(parsed(params), secrets=(SECRET, OLD_SECRET), now=now)


# ---------------------------------------------------------------- HMAC


def test_a_request_shopify_signed_passes() -> None:
    # Given a launch request signed with the app's secret, with the parameters Shopify adds
    params = launch(host="YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvZGVtbw", embedded="1")
    # When it is verified / Then nothing is raised
    verify(params)


def test_a_request_signed_with_the_previous_secret_passes_while_rotating() -> None:
    verify(launch(secret=OLD_SECRET))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("hmac"), "hmac is missing"),
        (lambda p: p.update(hmac=""), "hmac is missing"),
        (lambda p: p.update(hmac="0" * 64), "hmac does not match"),
        (lambda p: p.update(hmac=sign(p, "someone-elses-secret")), "hmac does not match"),
        (lambda p: p.update(timestamp=str(int(p["timestamp"]) + 1)), "hmac does not match"),
        (lambda p: p.update(code="added-after-signing"), "hmac does not match"),
    ],
    ids=["missing", "empty", "wrong", "other-secret", "changed-parameter", "added-parameter"],
)
def test_a_missing_or_wrong_hmac_is_refused_with_401(change: Any, message: str) -> None:
    # Given a signed request, then altered
    params = launch()
    change(params)
    # When it is verified
    with pytest.raises(oauth.OAuthRejected) as refused:
        verify(params)
    # Then it is refused as unauthorized, saying why
    assert refused.value.status == 401
    assert message in refused.value.message


def test_a_repeated_parameter_is_refused_before_any_check() -> None:
    query = urlencode(launch()) + "&shop=evil.myshopify.com"
    with pytest.raises(oauth.OAuthRejected) as refused:
        oauth.parse_query(query)
    assert refused.value.status == 400
    assert "shop appears more than once" in refused.value.message


# ---------------------------------------------------------------- shop domain


@pytest.mark.parametrize(
    "shop",
    [
        "evil.com",
        "x.myshopify.com.evil.com",
        "myshopify.com",
        ".myshopify.com",
        "-x.myshopify.com",
        "x.myshopify.com/admin",
        "x.myshopify.com:8443",
        "a.b.myshopify.com",
        "Demo.myshopify.com",
        "x.myshopify.com\n",
        "evil.com#.myshopify.com",
        "",
    ],
)
def test_a_shop_that_is_not_a_myshopify_domain_is_refused_with_400(shop: str) -> None:
    # Given a correctly signed request for a bad shop domain
    params = parsed(launch(shop))
    # When the shop is read
    with pytest.raises(oauth.OAuthRejected) as refused:
        oauth.require_shop(params)
    # Then it is a bad request naming the shop
    assert refused.value.status == 400
    assert refused.value.message.startswith("shop ")


def test_a_missing_shop_is_refused_with_400() -> None:
    with pytest.raises(oauth.OAuthRejected) as refused:
        oauth.require_shop(parsed({"timestamp": "1"}))
    assert (refused.value.status, refused.value.message) == (400, "shop is missing")


# ---------------------------------------------------------------- timestamp


@pytest.mark.parametrize(
    "offset", [timedelta(minutes=-2), timedelta(hours=-30), timedelta(minutes=5)]
)
def test_a_request_signed_too_long_ago_or_ahead_is_refused_with_401(offset: timedelta) -> None:
    # Given a request Shopify signed, replayed later (or dated in the future)
    params = launch(at=NOW + offset)
    # When it is verified now
    with pytest.raises(oauth.OAuthRejected) as refused:
        verify(params)
    # Then it is refused: the signature is right, the time is not
    assert refused.value.status == 401
    assert "timestamp" in refused.value.message


def test_a_request_within_the_clock_tolerance_passes() -> None:
    verify(launch(at=NOW - timedelta(seconds=80)))
    verify(launch(at=NOW + timedelta(seconds=80)))


def test_a_timestamp_that_is_not_a_number_is_refused() -> None:
    params = {"shop": SHOP, "timestamp": "yesterday"}
    with pytest.raises(oauth.OAuthRejected) as refused:
        verify({**params, "hmac": sign(params)})
    assert refused.value.status == 400
    assert "timestamp" in refused.value.message


# ---------------------------------------------------------------- state nonce


def check_state(
    cookies: list[str], state: str | None, shop: str = SHOP, *, now: datetime = NOW
) -> None:
    oauth.verify_state(cookies, state, shop, now=now, secrets=(SECRET, OLD_SECRET))


def test_the_state_given_with_the_cookie_comes_back_valid() -> None:
    # Given the nonce and cookie /auth hands out
    nonce, cookie = oauth.new_state(SHOP, now=NOW, secret=SECRET)
    # When the callback brings them back within ten minutes / Then they pass
    check_state([cookie], nonce, now=NOW + timedelta(minutes=9))
    # and a new flow gets another nonce
    assert oauth.new_state(SHOP, now=NOW, secret=SECRET)[0] != nonce


def _tamper_payload(cookie: str) -> str:
    payload, mac = cookie.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["e"] += 3600  # extend the expiry, keep the signature
    return f"{base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip('=')}.{mac}"


@pytest.mark.parametrize(
    ("cookies", "state", "shop", "later", "message"),
    [
        ("none", "nonce", SHOP, 0, "cookie is missing"),
        ("good", None, SHOP, 0, "state is missing"),
        ("good", "another-nonce", SHOP, 0, "state does not match"),
        ("good", "nonce", "other-shop.myshopify.com", 0, "another shop"),
        ("good", "nonce", SHOP, 11, "expired"),
        ("tampered", "nonce", SHOP, 0, "signature does not match"),
        ("foreign", "nonce", SHOP, 0, "signature does not match"),
        ("garbage", "nonce", SHOP, 0, "malformed"),
    ],
    ids=[
        "missing-cookie",
        "missing-state",
        "other-nonce",
        "other-shop",
        "expired",
        "tampered",
        "signed-elsewhere",
        "malformed",
    ],
)
def test_a_state_that_is_not_this_browsers_for_this_shop_is_refused_with_403(
    cookies: str, state: str | None, shop: str, later: int, message: str
) -> None:
    # Given the cookie from /auth for SHOP, possibly altered
    nonce, cookie = oauth.new_state(SHOP, now=NOW, secret=SECRET)
    _, foreign = oauth.new_state(SHOP, now=NOW, secret="not-the-app-secret")
    jar = {
        "none": [],
        "good": [cookie],
        "tampered": [_tamper_payload(cookie)],
        "foreign": [foreign],
        "garbage": ["no-dot-here"],
    }[cookies]
    # When the callback's state is checked
    with pytest.raises(oauth.OAuthRejected) as refused:
        check_state(
            jar, nonce if state == "nonce" else state, shop, now=NOW + timedelta(minutes=later)
        )
    # Then it is forbidden, and the message names the problem
    assert refused.value.status == 403
    assert message in refused.value.message


def test_a_state_cookie_signed_before_a_secret_rotation_still_passes() -> None:
    nonce, cookie = oauth.new_state(SHOP, now=NOW, secret=OLD_SECRET)
    check_state([cookie], nonce)


# ---------------------------------------------------------------- authorize and exchange


def test_the_authorize_url_asks_for_an_offline_token_with_the_least_scopes() -> None:
    # When the authorize URL is built
    url = oauth.authorize_url(
        SHOP, api_key="client-id", redirect_uri="https://app.example/auth/callback", state="n1"
    )
    # Then it goes to the shop's own admin, with exactly these parameters
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", SHOP, "/admin/oauth/authorize")
    assert parse_qs(parts.query) == {
        "client_id": ["client-id"],
        "scope": ["read_orders,write_customers"],
        "redirect_uri": ["https://app.example/auth/callback"],
        "state": ["n1"],
    }  # no grant_options[]=per-user: the token is offline


def ok(body: dict[str, Any]) -> HttpResponse:
    return HttpResponse(200, json.dumps(body).encode(), {"content-type": "application/json"})


def exchange(transport: FakeShopify) -> oauth.Grant:
    return oauth.exchange_code(
        SHOP, "auth-code-1", api_key="client-id", secret=SECRET, transport=transport
    )


def test_the_code_is_exchanged_for_an_expiring_offline_token() -> None:
    # Given Shopify's token endpoint answering with an expiring offline token
    shopify = FakeShopify(
        ok(
            {
                "access_token": "shpat_secret_1",
                "scope": "write_customers,read_orders",
                "expires_in": 3600,
                "refresh_token": "shprt_secret_1",
                "refresh_token_expires_in": 7776000,
            }
        )
    )
    # When the code is exchanged
    grant = exchange(shopify)
    # Then the request is a JSON POST of client id, secret and code to the shop's endpoint
    (request,) = shopify.requests
    assert request.url == f"https://{SHOP}/admin/oauth/access_token"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "client_id": "client-id",
        "client_secret": SECRET,
        "code": "auth-code-1",
        "expiring": "1",
    }
    # and the grant holds the tokens and their lifetimes; its repr shows neither token
    assert (grant.access_token, grant.scopes) == ("shpat_secret_1", "write_customers,read_orders")
    assert (grant.refresh_token, grant.expires_in, grant.refresh_token_expires_in) == (
        "shprt_secret_1",
        3600,
        7776000,
    )
    assert grant.expiring
    assert "shpat_secret_1" not in repr(grant) and "shprt_secret_1" not in repr(grant)


@pytest.mark.parametrize(
    ("answer", "status", "message"),
    [
        (
            HttpResponse(400, b'{"error":"invalid_request","error_description":"code was used"}'),
            400,
            "code was used",
        ),
        (HttpResponse(503, b"unavailable"), 502, "HTTP 503"),
        (TransportError("no answer from shop: timed out"), 502, "did not answer"),
        (ok({"scope": "read_orders"}), 502, "no access_token"),
        (
            ok({"access_token": "t", "scope": "read_orders", "associated_user": {"id": 1}}),
            502,
            "online",
        ),
        (
            ok({"access_token": "t", "scope": "read_orders", "expires_in": 3600}),
            502,
            "without a refresh_token",
        ),
        (
            ok({"access_token": "t", "scope": "read_orders", "expires_in": "soon"}),
            502,
            "bad expires_in",
        ),
    ],
    ids=[
        "refused-code",
        "shopify-down",
        "no-connection",
        "no-token",
        "online-token",
        "expiring-without-refresh-token",
        "bad-lifetime",
    ],
)
def test_a_failed_exchange_is_refused_naming_the_problem(
    answer: HttpResponse | Exception, status: int, message: str
) -> None:
    with pytest.raises(oauth.OAuthRejected) as refused:
        exchange(FakeShopify(answer))
    assert refused.value.status == status
    assert message in refused.value.message
    assert SECRET not in refused.value.message


@pytest.mark.parametrize(
    ("granted", "missing"),
    [
        ("read_orders,write_customers", []),
        ("write_customers,write_orders", []),  # write implies read
        ("read_orders,read_customers", ["write_customers"]),
        ("write_customers", ["read_orders"]),
        ("", ["read_orders", "write_customers"]),
    ],
)
def test_the_granted_scopes_must_cover_the_required_ones(granted: str, missing: list[str]) -> None:
    assert oauth.missing_scopes(granted) == missing


def test_the_app_configuration_declares_what_the_code_handles_and_needs() -> None:
    # Given shopify.app.toml, which the Shopify CLI deploys
    config = tomllib.loads((Path(__file__).resolve().parents[2] / "shopify.app.toml").read_text())
    regular, compliance = config["webhooks"]["subscriptions"]
    # When its scopes and subscriptions are read
    # Then it asks for exactly the scopes the callback checks for
    assert config["access_scopes"]["scopes"].split(",") == list(oauth.REQUIRED_SCOPES)
    assert config["access_scopes"]["optional_scopes"] == list(oauth.OPTIONAL_SCOPES)
    # in the one API version the code is written against (the local stack's deliveries too)
    assert config["webhooks"]["api_version"] == oauth.API_VERSION == shopify_admin.API_VERSION
    assert demo.API_VERSION == oauth.API_VERSION
    # and subscribes to every topic the intake handles, the uninstall, the shop's updates,
    # and the three mandatory compliance topics, all delivered to the one webhook endpoint
    assert set(regular["topics"]) == set(HANDLED_TOPICS) | {"app/uninstalled", "shop/update"}
    assert set(compliance["compliance_topics"]) == {
        "customers/data_request",
        "customers/redact",
        "shop/redact",
    }
    for subscription in (regular, compliance):
        assert subscription["uri"].endswith("/webhooks/shopify")
        assert subscription["uri"].startswith("https://")
    assert config["auth"]["redirect_urls"] == [
        config["application_url"].rsplit("/", 1)[0] + "/auth/callback"
    ]
