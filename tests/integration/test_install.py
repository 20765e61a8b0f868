"""The install flow against moto, over the local stack's HTTP routes, with Shopify's token
endpoint faked by a transport; then uninstall and re-install."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError

from recoup import clock
from recoup.domain.dunning import DunningStatus
from recoup.integrations import shopify_http
from recoup.integrations.shopify_http import HttpRequest, HttpResponse
from recoup.services import cases, install, sending
from recoup.settings import get_settings
from recoup.store import cases as case_store
from recoup.store import shops as shop_store
from recoup.store import tokens
from recoup.store.models import shop_pk
from recoup_local import session_tokens
from recoup_local.outbox import sent_messages
from tests.conftest import SHOP, event_bytes, event_json, shopify_headers

NEW_SHOP = "new-gadgets.myshopify.com"
TOKEN = "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"
CODE = "0907a61c0c8d55e99db179b68161bc00"
PENDING = event_json("shopify/order_pending.json")
PENDING_ID = str(PENDING["id"])
OPENED = datetime.fromisoformat(PENDING["updated_at"]).astimezone(UTC)


# The GraphQL Admin API's answer to the shop identity query.
SHOP_RESOURCE = {
    "name": "New Gadgets",
    "contactEmail": "support@new-gadgets.example",
    "ianaTimezone": "Europe/Berlin",
    "currencyCode": "EUR",
    "billingAddress": {"countryCodeV2": "DE"},
    "primaryDomain": {"host": "new-gadgets.example"},
}


class FakeTokenEndpoint:
    """Shopify's /admin/oauth/access_token, as a transport."""

    def __init__(self, token: str = TOKEN, scope: str = "write_customers,read_orders") -> None:
        self.token, self.scope = token, scope
        self.requests: list[HttpRequest] = []  # to the token endpoint
        self.queries: list[HttpRequest] = []  # to the GraphQL Admin API

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.url.endswith("/graphql.json"):
            self.queries.append(request)
            return HttpResponse(200, json.dumps({"data": {"shop": SHOP_RESOURCE}}).encode())
        self.requests.append(request)
        body = {
            "access_token": self.token,
            "scope": self.scope,
            "expires_in": 3600,
            "refresh_token": "shprt_refresh",
            "refresh_token_expires_in": 7776000,
        }
        return HttpResponse(200, json.dumps(body).encode(), {"content-type": "application/json"})


@pytest.fixture
def shopify(monkeypatch: pytest.MonkeyPatch) -> FakeTokenEndpoint:
    fake = FakeTokenEndpoint()
    monkeypatch.setattr(shopify_http, "urllib_transport", fake)
    return fake


def signed(params: dict[str, str], secret: str) -> str:
    """A query as Shopify signs it: hex HMAC-SHA256 of the sorted name=value pairs."""
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode({**params, "hmac": digest})


def get(local: Any, path: str, query: str, cookie: str | None = None) -> dict[str, Any]:
    headers = {"Cookie": f"recoup_oauth_state={cookie}"} if cookie else {}
    result: dict[str, Any] = local.lambdas.invoke_http("GET", f"{path}?{query}", headers, b"")
    return result


def begin(local: Any, shop: str) -> tuple[str, str]:
    """GET /auth as Shopify sends the merchant there; returns (state, cookie value)."""
    query = signed({"shop": shop, "timestamp": str(int(time.time()))}, local.shopify_secret)
    answer = get(local, "/auth", query)
    assert answer["statusCode"] == 302, answer.get("body")
    location = urlsplit(answer["headers"]["Location"])
    state = parse_qs(location.query)["state"][0]
    (set_cookie,) = answer["cookies"]
    return state, set_cookie.split(";")[0].split("=", 1)[1]


def callback(local: Any, shop: str, state: str, cookie: str | None) -> dict[str, Any]:
    params = {
        "code": CODE,
        "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvbmV3LWdhZGdldHM",
        "shop": shop,
        "state": state,
        "timestamp": str(int(time.time())),
    }
    return get(local, "/auth/callback", signed(params, local.shopify_secret), cookie)


def install_through_oauth(local: Any, shop: str) -> dict[str, Any]:
    state, cookie = begin(local, shop)
    return callback(local, shop, state, cookie)


def stored_token_bytes(local: Any, shop: str) -> bytes | None:
    item = boto3.client("dynamodb", region_name=local.stack.region).get_item(
        TableName=local.stack.refs["Table"], Key={"pk": {"S": shop_pk(shop)}, "sk": {"S": "META"}}
    )["Item"]
    return item["access_token"]["B"] if "access_token" in item else None


def test_auth_redirects_to_shopify_with_a_signed_state_cookie(local: Any) -> None:
    # Given a request Shopify signed for a shop that is installing
    query = signed({"shop": NEW_SHOP, "timestamp": str(int(time.time()))}, local.shopify_secret)
    # When it reaches /auth
    answer = get(local, "/auth", query)
    # Then the merchant is sent to the shop's authorize page for an offline token
    assert answer["statusCode"] == 302
    location = urlsplit(answer["headers"]["Location"])
    assert (location.netloc, location.path) == (NEW_SHOP, "/admin/oauth/authorize")
    asked = parse_qs(location.query)
    assert asked["client_id"] == [local.shopify_api_key]
    assert asked["scope"] == ["read_orders,write_customers"]
    assert asked["redirect_uri"] == [f"{get_settings().public_base_url()}/auth/callback"]
    assert "grant_options[]" not in asked
    # with a state cookie only this app's /auth paths get back, over https, not to scripts
    (cookie,) = answer["cookies"]
    attributes = [part.strip() for part in cookie.split(";")]
    assert attributes[0].startswith("recoup_oauth_state=")
    assert set(attributes[1:]) == {
        "Path=/auth",
        "Max-Age=600",
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
    }
    assert answer["headers"]["Cache-Control"] == "no-store"


def test_a_shop_installs_and_its_token_is_stored_encrypted_for_that_shop_only(
    local: Any, shopify: FakeTokenEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a new shop going through /auth
    state, cookie = begin(local, NEW_SHOP)
    # When Shopify sends the merchant back with a code
    answer = callback(local, NEW_SHOP, state, cookie)
    # Then the merchant lands on the app's page in their admin, and the state cookie is gone
    assert answer["statusCode"] == 302, answer.get("body")
    assert answer["headers"]["Location"] == (
        f"https://{NEW_SHOP}/admin/apps/{local.shopify_api_key}"
    )
    assert "Max-Age=0" in answer["cookies"][0]
    # and the code was exchanged at the shop's token endpoint with the app's credentials
    (request,) = shopify.requests
    assert request.url == f"https://{NEW_SHOP}/admin/oauth/access_token"
    assert json.loads(request.body) == {
        "client_id": local.shopify_api_key,
        "client_secret": local.shopify_secret,
        "code": CODE,
        "expiring": "1",  # an expiring offline token: required of public apps from 2027
    }
    # and the shop's identity was read with the new token and kept
    (query,) = shopify.queries
    assert "ShopIdentity" in json.loads(query.body)["query"]
    item = shop_store.get(NEW_SHOP)
    assert item is not None
    assert (item.shop_name, item.contact_email, item.timezone, item.currency, item.country) == (
        "New Gadgets",
        "support@new-gadgets.example",
        "Europe/Berlin",
        "EUR",
        "DE",
    )
    # and the shop is installed, with the token encrypted: not in the stored bytes,
    # decryptable only under this shop's encryption context
    assert shop_store.is_installed(NEW_SHOP)
    blob = stored_token_bytes(local, NEW_SHOP)
    assert blob is not None
    assert TOKEN.encode() not in blob
    kms = boto3.client("kms", region_name=local.stack.region)
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"shop": NEW_SHOP})["Plaintext"] == (
        TOKEN.encode()
    )
    for wrong in ({"shop": SHOP}, {}):
        with pytest.raises(ClientError, match="InvalidCiphertext"):
            kms.decrypt(CiphertextBlob=blob, EncryptionContext=wrong)
    assert tokens.load_token(NEW_SHOP) == TOKEN
    # and nothing secret reached the logs
    logs = "\n".join(str(vars(record)) for record in caplog.records)
    assert "Shop installed" in logs
    for secret in (TOKEN, CODE, local.shopify_secret, state, cookie):
        assert secret not in logs


@pytest.mark.parametrize(
    ("scenario", "status", "message"),
    [
        ("missing-cookie", 403, "cookie is missing"),
        ("tampered-state", 403, "state does not match"),
        ("other-shop", 403, "another shop"),
        ("bad-hmac", 401, "hmac does not match"),
        ("too-few-scopes", 403, "write_customers"),
    ],
)
def test_a_refused_callback_answers_plainly_and_stores_nothing(
    local: Any, shopify: FakeTokenEndpoint, scenario: str, status: int, message: str
) -> None:
    state, cookie = begin(local, NEW_SHOP)
    query_shop, sent_cookie = NEW_SHOP, cookie
    if scenario == "missing-cookie":
        sent_cookie = None
    elif scenario == "tampered-state":
        state = state[:-2] + ("AA" if state[-2:] != "AA" else "BB")
    elif scenario == "other-shop":
        query_shop = "other-store.myshopify.com"
    elif scenario == "too-few-scopes":
        shopify.scope = "read_orders"
    if scenario == "bad-hmac":
        query = signed({"code": CODE, "shop": NEW_SHOP, "state": state, "timestamp": "1"}, "x")
        answer = get(local, "/auth/callback", query, sent_cookie)
    else:
        answer = callback(local, query_shop, state, sent_cookie)
    # Then the answer names the problem in plain text
    assert answer["statusCode"] == status
    assert answer["headers"]["Content-Type"].startswith("text/plain")
    assert message in answer["body"]
    # and nothing was stored: no shop, no token
    assert shop_store.get(NEW_SHOP) is None
    assert tokens.load_token(NEW_SHOP) is None
    # and the code was only ever exchanged when everything before it passed
    assert len(shopify.requests) == (1 if scenario == "too-few-scopes" else 0)


# ---------------------------------------------------------------- uninstall, re-install


def open_case(local: Any) -> None:
    body = event_bytes("shopify/order_pending.json")
    headers = shopify_headers(body, local.shopify_secret, "orders/create", webhook_id="wh-1")
    assert (
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"] == 200
    )
    local.lambdas.drain()


def dunning() -> Any:
    stored = case_store.load(SHOP, PENDING_ID)
    assert stored is not None
    return stored.dunning


def test_uninstall_stops_every_sequence_and_deletes_the_token(
    local: Any, shopify: FakeTokenEndpoint
) -> None:
    # Given the installed shop with a token and a reminder due
    assert install_through_oauth(local, SHOP)["statusCode"] == 302
    open_case(local)
    # (the step was due a day after the order opened, in the past: keyed when it was written)
    later = clock.now() + timedelta(days=2)
    assert [d.case_id for d in case_store.due_cases(later)] == [PENDING_ID]
    # When the app is uninstalled
    result = install.uninstall(SHOP, now=clock.now())
    # Then the sequence is stopped, says why, and is out of the due index
    assert (result.applied, result.sequences_stopped) == (True, 1)
    assert dunning().status is DunningStatus.STOPPED
    assert dunning().reason == "app uninstalled"
    assert list(case_store.due_cases(later)) == []
    assert cases.timeline(SHOP, PENDING_ID)[-1].body["kind"] == "reminders.stopped"
    # and the token is gone, the shop marked not installed, its settings kept
    assert tokens.load_token(SHOP) is None
    assert stored_token_bytes(local, SHOP) is None
    item = shop_store.get(SHOP)
    assert item is not None and not item.active and item.uninstalled_at is not None
    assert item.stripe_account == "acct_1DemoElectronics"
    # and a job queued before the uninstall sends nothing
    assert sending.send_step(SHOP, PENDING_ID, 0, now=later).outcome == "stale"
    assert sent_messages(local.stack.region) == []
    # and a redelivered uninstall changes nothing more
    trail = len(cases.timeline(SHOP, PENDING_ID))
    again = install.uninstall(SHOP, now=clock.now())
    assert (again.applied, again.sequences_stopped) == (True, 0)
    assert len(cases.timeline(SHOP, PENDING_ID)) == trail


def test_the_sender_refuses_a_shop_that_is_not_installed(local: Any) -> None:
    # Given a case with its first step due, and the shop marked uninstalled (nothing else)
    open_case(local)
    assert shop_store.mark_uninstalled(SHOP, at=clock.now())
    due = OPENED + timedelta(days=1, hours=2)
    # When the sender gets the job
    result = sending.send_step(SHOP, PENDING_ID, 0, now=due)
    # Then nothing is claimed or sent, and it says why
    assert result.outcome == "stale"
    assert "not installed" in result.detail
    assert dunning().claimed_step == -1
    assert sent_messages(local.stack.region) == []


def test_a_reinstall_after_uninstall_works_and_keeps_the_shops_settings(
    local: Any, shopify: FakeTokenEndpoint
) -> None:
    # Given a shop with settings of its own, uninstalled
    shop_store.save_templates(SHOP, {"friendly": {"subject": "About your order"}})
    assert install_through_oauth(local, SHOP)["statusCode"] == 302
    uninstalled_at = clock.now()
    install.uninstall(SHOP, now=uninstalled_at)
    # When the merchant installs it again, and Shopify grants a new token
    shopify.token = "shpat_second_token_after_reinstall"
    answer = install_through_oauth(local, SHOP)
    # Then it is installed with the new token, and its settings are still there
    assert answer["statusCode"] == 302
    item = shop_store.get(SHOP)
    assert item is not None and item.active and item.uninstalled_at is None
    assert item.templates == {"friendly": {"subject": "About your order"}}
    assert item.stripe_account == "acct_1DemoElectronics"
    assert tokens.load_token(SHOP) == "shpat_second_token_after_reinstall"
    # and an uninstall webhook from before the re-install, delivered late, undoes nothing
    late = install.uninstall(SHOP, now=uninstalled_at)
    assert not late.applied
    assert tokens.load_token(SHOP) == "shpat_second_token_after_reinstall"
    assert shop_store.is_installed(SHOP)


def test_the_app_page_sends_a_shop_without_a_token_to_install_first(
    local: Any, shopify: FakeTokenEndpoint
) -> None:
    # Shopify opens the app's page with a signed launch query; the demo shop never ran OAuth.
    launch = {"shop": SHOP, "host": "YWRtaW4uc2hvcGlmeS5jb20", "timestamp": str(int(time.time()))}
    first = get(local, "/app", signed(launch, local.shopify_secret))
    assert first["statusCode"] == 200
    assert 'href="/auth?' in first["body"] and "install.js" in first["body"]
    # A forged launch is not a launch: the ordinary page loads (its API calls need tokens).
    forged = get(local, "/app", signed(launch, "not-the-app-secret"))
    assert "/auth?" not in forged["body"] and "<title>" in forged["body"]
    # Once installed, the same launch opens the page itself.
    install_through_oauth(local, SHOP)
    shop_store.forget(SHOP)
    again = get(local, "/app", signed(launch, local.shopify_secret))
    assert "/auth?" not in again["body"] and "app-bridge.js" in again["body"]


def test_an_embedded_launch_with_a_session_token_installs_without_a_redirect(
    local: Any,
) -> None:
    # Shopify-managed installation: the launch of a shop Recoup never saw carries id_token
    shop = "fresh-gadgets.myshopify.com"
    claims = session_tokens.claims(shop, api_key=local.shopify_api_key)
    id_token = session_tokens.sign(claims, local.shopify_secret)
    launch = {
        "shop": shop,
        "host": "YWRtaW4uc2hvcGlmeS5jb20",
        "id_token": id_token,
        "timestamp": str(int(time.time())),
    }
    page = get(local, "/app", signed(launch, local.shopify_secret))
    assert page["statusCode"] == 200
    assert "/auth?" not in page["body"] and "app-bridge.js" in page["body"]
    # The page's first API call exchanges the session token and installs the shop
    headers = {"Authorization": f"Bearer {id_token}"}
    answer = local.lambdas.invoke_http("GET", "/admin/api/onboarding", headers, b"")
    assert answer["statusCode"] == 200, answer
    assert shop_store.is_installed(shop)
    assert tokens.status(shop).expiring
