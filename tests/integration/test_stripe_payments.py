"""Instalment payments through the real stripe SDK against the local stand-in for Stripe:
the plan's Customer, Checkout in payment and setup mode (the card saved for off-session use,
the metadata on the intents), off-session charges with their declines and faults, and the
webhook events the stand-in sends, signed as Stripe signs them."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any, Literal

import pytest

from recoup.domain.money import Money
from recoup.errors import SignatureInvalid
from recoup.integrations.stripe import API_VERSION, META_SHOP, read_event, verify_signature
from recoup.integrations.stripe_payments import (
    META_CASE,
    META_FINAL,
    META_INSTALMENT,
    META_PLAN,
    ChargeNotConfirmed,
    ChargeRefused,
    ChargeResult,
    charge_off_session,
    create_customer,
    create_plan_checkout,
)
from recoup_local.stripe_platform import StripePlatform
from tests.conftest import SHOP, STRIPE_ACCOUNT

KEY = "sk_test_local_platform"
CASE = "5012345678901"
PLAN = "plan_01"
INSTALMENT = Money.of(30_000, "USD")
RETURN = f"https://{SHOP}/pages/plan"


@pytest.fixture
def platform() -> Iterator[StripePlatform]:
    started = StripePlatform().start()
    yield started
    started.close()


def _call(platform: StripePlatform) -> dict[str, Any]:
    return {"api_key": KEY, "account": STRIPE_ACCOUNT, "api_base": platform.url}


def _customer(platform: StripePlatform, key: str = "recoup:plan:plan_01:customer") -> str:
    return create_customer(
        shop=SHOP, case_id=CASE, plan_id=PLAN, idempotency_key=key, **_call(platform)
    )


def _meta(number: int, *, final: bool = False) -> dict[str, str]:
    meta = {META_SHOP: SHOP, META_CASE: CASE, META_PLAN: PLAN, META_INSTALMENT: str(number)}
    return {**meta, META_FINAL: "1"} if final else meta


def _checkout(
    platform: StripePlatform, customer: str, mode: Literal["payment", "setup"] = "payment"
) -> str:
    url = create_plan_checkout(
        customer=customer,
        mode=mode,
        amount=INSTALMENT if mode == "payment" else None,
        currency="USD",
        description="Order #1042, instalment 1 of 3",
        metadata=_meta(1),
        return_url=RETURN,
        idempotency_key=f"recoup:plan:{PLAN}:checkout:{mode}",
        **_call(platform),
    )
    assert url.startswith(f"{platform.url}/checkout/cs_test_")
    return url.rsplit("/", 1)[1]


def _saved_card(platform: StripePlatform, customer: str, card: str = "visa") -> str:
    """A card saved through Checkout in setup mode; its PaymentMethod id."""
    intent = platform.complete(_checkout(platform, customer, "setup"), card=card)
    return str(intent["payment_method"])


def _charge(
    platform: StripePlatform, customer: str, method: str, key: str, number: int = 2
) -> ChargeResult:
    return charge_off_session(
        customer=customer,
        payment_method=method,
        amount=INSTALMENT,
        description=f"Order #1042, instalment {number} of 3",
        metadata=_meta(number, final=number == 3),
        idempotency_key=key,
        **_call(platform),
    )


def _intents(platform: StripePlatform) -> list[dict[str, Any]]:
    return [o for o in platform.objects.values() if o["object"] == "payment_intent"]


def _types(platform: StripePlatform) -> list[str]:
    return [str(e["type"]) for e in platform.events]


def test_the_plans_customer_is_made_once_per_key_and_carries_no_personal_data(
    platform: StripePlatform,
) -> None:
    first = _customer(platform)
    # A retried job with the same key gets the same Customer; another key makes another
    assert _customer(platform) == first
    assert first.startswith("cus_")
    assert _customer(platform, key="recoup:plan:plan_02:customer") != first
    stored = platform.objects[(STRIPE_ACCOUNT, first)]
    assert stored["metadata"] == {META_SHOP: SHOP, META_CASE: CASE, META_PLAN: PLAN}
    assert (stored["name"], stored["email"], stored["description"]) == (None, None, None)


def test_payment_mode_takes_the_first_instalment_and_saves_the_card_for_later(
    platform: StripePlatform,
) -> None:
    customer = _customer(platform)
    session_id = _checkout(platform, customer)
    (session,) = platform.sessions.values()
    assert (session.mode, session.customer, session.amount) == ("payment", customer, 30_000)
    assert session.metadata == _meta(1)
    assert session.payment_intent_data["setup_future_usage"] == "off_session"
    assert session.payment_intent_data["metadata"] == _meta(1)
    # When the customer pays with the card that succeeds
    intent = platform.complete(session_id, card="visa")
    # Then the PaymentIntent carries the metadata, the customer and the saved card
    assert intent["status"] == "succeeded"
    assert (intent["amount"], intent["currency"]) == (30_000, "usd")
    assert intent["metadata"] == _meta(1)
    assert intent["customer"] == customer
    assert intent["setup_future_usage"] == "off_session"
    assert intent["latest_charge"].startswith("ch_")
    method = platform.objects[(STRIPE_ACCOUNT, intent["payment_method"])]
    assert method["customer"] == customer
    assert _types(platform) == ["payment_intent.succeeded", "checkout.session.completed"]
    completed = platform.events[1]["data"]["object"]
    assert completed["status"] == "complete" and completed["payment_status"] == "paid"
    assert completed["payment_intent"] == intent["id"] and completed["metadata"] == _meta(1)
    # and the saved card pays the next instalment off-session
    result = _charge(platform, customer, intent["payment_method"], "recoup:plan:plan_01:2")
    assert result.outcome == "succeeded" and result.payment_intent is not None
    charged = platform.objects[(STRIPE_ACCOUNT, result.payment_intent)]
    assert charged["metadata"] == _meta(2)
    assert charged["payment_method"] == intent["payment_method"]
    assert platform.events[-1]["type"] == "payment_intent.succeeded"
    assert platform.events[-1]["data"]["object"]["id"] == result.payment_intent


def test_the_checkout_page_offers_test_cards_and_a_decline_keeps_the_session_open(
    platform: StripePlatform,
) -> None:
    session_id = _checkout(platform, _customer(platform))
    page_url = f"{platform.url}/checkout/{session_id}"
    page = urllib.request.urlopen(page_url, timeout=10).read().decode()
    assert "USD 300.00" in page
    assert "4242 4242 4242 4242 (succeeds)" in page
    assert "4000 0000 0000 9995 (declined: insufficient funds)" in page
    # A declined card: the page again with Stripe's message; no redirect, session open
    declined = _submit(f"{page_url}/complete", "visa_chargeDeclinedInsufficientFunds")
    assert declined[0] == 200 and "Your card has insufficient funds." in declined[2]
    assert _types(platform) == ["payment_intent.payment_failed"]
    failed = platform.events[0]["data"]["object"]
    assert failed["last_payment_error"]["decline_code"] == "insufficient_funds"
    assert failed["metadata"] == _meta(1)
    # The working card then completes it, on the same PaymentIntent, and goes back to the store
    status, location, _ = _submit(f"{page_url}/complete", "visa")
    assert (status, location) == (303, RETURN)
    assert _types(platform)[1:] == ["payment_intent.succeeded", "checkout.session.completed"]
    assert platform.events[1]["data"]["object"]["id"] == failed["id"]
    with pytest.raises(ValueError, match="complete"):
        platform.complete(session_id)


def _submit(url: str, card: str) -> tuple[int, str | None, str]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *_: Any, **__: Any) -> None:
            return None

    body = urllib.parse.urlencode({"card": card}).encode()
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, data=body), timeout=10) as answer:
            return answer.status, answer.headers.get("Location"), answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location"), error.read().decode()


def test_setup_mode_saves_the_card_only(platform: StripePlatform) -> None:
    customer = _customer(platform)
    session_id = _checkout(platform, customer, mode="setup")
    (session,) = platform.sessions.values()
    assert (session.mode, session.currency, session.amount) == ("setup", "usd", 0)
    assert session.setup_intent_data["metadata"] == _meta(1)
    intent = platform.complete(session_id)
    assert intent["object"] == "setup_intent" and intent["status"] == "succeeded"
    assert (intent["customer"], intent["metadata"], intent["usage"]) == (
        customer,
        _meta(1),
        "off_session",
    )
    assert platform.objects[(STRIPE_ACCOUNT, intent["payment_method"])]["customer"] == customer
    assert _types(platform) == ["setup_intent.succeeded", "checkout.session.completed"]
    completed = platform.events[1]["data"]["object"]
    assert completed["setup_intent"] == intent["id"]
    assert completed["payment_status"] == "no_payment_required"
    assert _intents(platform) == []  # nothing was charged


def test_a_declined_off_session_charge_is_a_failed_result_with_the_decline_code(
    platform: StripePlatform,
) -> None:
    customer = _customer(platform)
    # The card that declines is saved fine; its charges then fail
    method = _saved_card(platform, customer, card="visa_chargeDeclinedInsufficientFunds")
    result = _charge(platform, customer, method, "recoup:plan:plan_01:2")
    assert result.outcome == "failed"
    assert result.code == "insufficient_funds"
    assert result.message == "Your card has insufficient funds."
    assert result.payment_intent is not None
    event = platform.events[-1]
    assert event["type"] == "payment_intent.payment_failed"
    failed = event["data"]["object"]
    assert failed["id"] == result.payment_intent
    assert failed["status"] == "requires_payment_method"
    assert failed["metadata"] == _meta(2)
    assert failed["last_payment_error"]["code"] == "card_declined"
    assert failed["last_payment_error"]["payment_method"]["id"] == method
    # The same key again is Stripe's saved answer: the same failure, no second attempt
    assert _charge(platform, customer, method, "recoup:plan:plan_01:2") == result
    assert len(_intents(platform)) == 1


def test_a_card_that_needs_the_customer_to_authenticate_fails_with_that_code(
    platform: StripePlatform,
) -> None:
    customer = _customer(platform)
    method = platform.add_card(STRIPE_ACCOUNT, customer)
    platform.fail_off_session[method] = "authentication_required"
    result = _charge(platform, customer, method, "recoup:plan:plan_01:3", number=3)
    assert (result.outcome, result.code) == ("failed", "authentication_required")
    assert result.message is not None and "requires authentication" in result.message
    failed = platform.events[-1]["data"]["object"]
    assert failed["metadata"][META_FINAL] == "1"
    assert failed["last_payment_error"]["decline_code"] == "authentication_required"


def test_a_server_error_is_not_confirmed_and_the_retry_charges_once(
    platform: StripePlatform,
) -> None:
    customer = _customer(platform)
    method = _saved_card(platform, customer)
    key = "recoup:plan:plan_01:2"
    platform.fail_next_post = 500
    with pytest.raises(ChargeNotConfirmed):
        _charge(platform, customer, method, key)
    assert _intents(platform) == []
    result = _charge(platform, customer, method, key)
    assert result.outcome == "succeeded"
    assert len(_intents(platform)) == 1
    assert _types(platform).count("payment_intent.succeeded") == 1


def test_a_request_met_by_another_with_its_key_is_not_confirmed_and_retried(
    platform: StripePlatform,
) -> None:
    # Stripe answers 409 when another request with the same key is still being carried
    # out (two runs of one retry's job at once): not a refusal, tried again later
    customer = _customer(platform)
    method = _saved_card(platform, customer)
    key = "recoup:retry:demo.myshopify.com:1001:1"
    platform.fail_next_post = 409
    with pytest.raises(ChargeNotConfirmed):
        _charge(platform, customer, method, key)
    result = _charge(platform, customer, method, key)
    assert result.outcome == "succeeded"
    assert len(_intents(platform)) == 1


def test_a_lost_answer_is_not_confirmed_and_the_retry_gets_the_same_payment(
    platform: StripePlatform,
) -> None:
    customer = _customer(platform)
    method = _saved_card(platform, customer)
    key = "recoup:plan:plan_01:2"
    platform.fail_next_post = "lost"
    with pytest.raises(ChargeNotConfirmed):
        _charge(platform, customer, method, key)
    (made,) = _intents(platform)  # Stripe charged; the answer never arrived
    result = _charge(platform, customer, method, key)
    assert (result.outcome, result.payment_intent) == ("succeeded", made["id"])
    assert len(_intents(platform)) == 1
    assert _types(platform).count("payment_intent.succeeded") == 1


def test_requests_stripe_refuses_are_not_card_failures(platform: StripePlatform) -> None:
    customer = _customer(platform)
    method = _saved_card(platform, customer)
    # The key reused with other parameters
    _charge(platform, customer, method, "recoup:plan:plan_01:2")
    with pytest.raises(ChargeRefused) as reused:
        _charge(platform, customer, method, "recoup:plan:plan_01:2", number=3)
    assert reused.value.code == "idempotency_error"
    # A card that is not the customer's
    other = _customer(platform, key="recoup:plan:plan_02:customer")
    with pytest.raises(ChargeRefused) as foreign:
        _charge(platform, other, method, "recoup:plan:plan_02:2")
    assert foreign.value.code == "payment_method_invalid_parameter"
    # A wrong platform key
    platform.api_key = "sk_test_the_right_one"
    with pytest.raises(ChargeRefused):
        _charge(platform, customer, method, "recoup:plan:plan_01:3", number=3)
    platform.api_key = ""
    # The merchant revoked the platform's access: the account is refused
    platform.post("/oauth/deauthorize", {"stripe_user_id": STRIPE_ACCOUNT}, "", "")
    with pytest.raises(ChargeRefused) as revoked:
        _charge(platform, customer, method, "recoup:plan:plan_01:3", number=3)
    assert revoked.value.code == "account_invalid"
    assert len(_intents(platform)) == 1


class _Receiver:
    """A webhook endpoint on loopback that keeps what it is sent."""

    def __init__(self) -> None:
        received: list[tuple[bytes, str]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((body, self.headers.get("Stripe-Signature") or ""))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/stripe"
        Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_events_are_posted_signed_for_the_endpoint_in_stripes_shape(
    platform: StripePlatform,
) -> None:
    receiver = _Receiver()
    platform.webhook_url, platform.webhook_secret = receiver.url, "whsec_endpoint"
    try:
        customer = _customer(platform)
        intent = platform.complete(_checkout(platform, customer))
    finally:
        receiver.close()
    assert [status for _, status in platform.deliveries] == [200, 200]
    assert len(receiver.received) == 2
    for (body, signature), kept in zip(receiver.received, platform.events, strict=True):
        verify_signature(body, signature, ["whsec_endpoint"])
        with pytest.raises(SignatureInvalid):
            verify_signature(body, signature, ["whsec_another"])
        event = json.loads(body)
        assert event == kept
        assert event["id"].startswith("evt_") and event["object"] == "event"
        assert (event["account"], event["api_version"]) == (STRIPE_ACCOUNT, API_VERSION)
        assert isinstance(event["created"], int) and event["livemode"] is False
        assert read_event(body).account == STRIPE_ACCOUNT
    succeeded = json.loads(receiver.received[0][0])
    assert succeeded["type"] == "payment_intent.succeeded"
    assert succeeded["data"]["object"]["id"] == intent["id"]
    assert succeeded["data"]["object"]["metadata"] == _meta(1)


def test_the_in_process_stacks_stand_in_keeps_events_for_the_test_to_deliver(
    local: Any,
) -> None:
    platform: StripePlatform = local.stripe
    assert platform.webhook_url == ""
    customer = _customer(platform)
    platform.complete(_checkout(platform, customer, mode="setup"))
    assert platform.deliveries == []
    for event in platform.events:
        body, headers = platform.delivery(event, local.stripe_secret)
        verify_signature(body, headers["Stripe-Signature"], [local.stripe_secret])
        answer = local.lambdas.invoke_http("POST", "/webhooks/stripe", headers, body)
        assert answer["statusCode"] == 200, answer
