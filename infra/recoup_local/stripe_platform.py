"""A stand-in for the parts of Stripe the platform calls, on a loopback port: Connect OAuth
(the authorize page approves at once and redirects with a code; the code is exchanged once
for the connected account; deauthorize), Customers, Checkout Sessions (payment and setup
mode, with a page at their URL where a test card completes them) and PaymentIntents charged
off-session. The stack's functions reach it through RECOUP_STRIPE_API_BASE, which the stripe
SDK uses as its API and Connect base address.

Requests are form-encoded as the SDK sends them; answers are the JSON shapes Stripe documents
(https://docs.stripe.com/connect/oauth-reference, /api/customers/object,
/api/checkout/sessions/object, /api/payment_intents/object, /api/setup_intents/object,
/api/events/object, /api/errors). As on Stripe, an API POST's first answer is saved per
account and idempotency key and replayed to a retry with the same parameters; a retry with
other parameters is an idempotency_error. Objects live per connected account.

Webhook events (payment_intent.succeeded, payment_intent.payment_failed,
setup_intent.succeeded, checkout.session.completed) are appended to `events` and, when
`webhook_url` and `webhook_secret` are set, posted there signed as Stripe signs them.

Controls for tests and the demo: `complete(session_id, card)` pays a Checkout Session as its
page would; `fail_off_session[payment_method] = "insufficient_funds"` (or any decline code,
"authentication_required" among them) declines that card's off-session charges;
`fail_next_post = 500` answers the next API POST with that status before doing anything,
`fail_next_post = "lost"` does the work and drops the connection instead of answering;
`api_key`, when set, is the only key accepted.
"""

from __future__ import annotations

import copy
import html
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock, Thread
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from recoup.integrations.stripe import API_VERSION
from recoup_local.stripe_signing import stripe_signature

DEFAULT_ACCOUNT = "acct_1DemoElectronics"
LOST = "lost"  # `fail_next_post`: the work is done, the answer never arrives

Answer = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Card:
    """A test card of Stripe's (https://docs.stripe.com/testing) the checkout page offers."""

    label: str
    last4: str
    decline: str | None  # the decline code its charges get, None when they succeed


# Keyed as Stripe's test PaymentMethods are named (pm_card_visa, ...).
CARDS = {
    "visa": Card("4242 4242 4242 4242 (succeeds)", "4242", None),
    "visa_chargeDeclinedInsufficientFunds": Card(
        "4000 0000 0000 9995 (declined: insufficient funds)", "9995", "insufficient_funds"
    ),
}
# decline code -> (error code, message), as Stripe answers them
_DECLINES = {
    "insufficient_funds": ("card_declined", "Your card has insufficient funds."),
    "authentication_required": (
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    ),
    "expired_card": ("expired_card", "Your card has expired."),
    "incorrect_cvc": ("incorrect_cvc", "Your card's security code is incorrect."),
    "processing_error": (
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
}
_DECLINED = ("card_declined", "Your card was declined.")


@dataclass
class Session:
    session_id: str
    account: str
    amount: int
    currency: str
    name: str
    return_url: str
    mode: str = "payment"
    customer: str | None = None
    cancel_url: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    payment_intent_data: dict[str, Any] = field(default_factory=dict)
    setup_intent_data: dict[str, Any] = field(default_factory=dict)
    status: str = "open"
    payment_intent: str | None = None
    setup_intent: str | None = None
    created: int = 0
    idempotency_key: str = ""

    def to_object(self, base: str) -> dict[str, Any]:
        paid = {"payment": "paid", "setup": "no_payment_required"}[self.mode]
        payment = self.mode == "payment"
        return {
            "id": self.session_id,
            "object": "checkout.session",
            "amount_subtotal": self.amount if payment else None,
            "amount_total": self.amount if payment else None,
            "cancel_url": self.cancel_url or None,
            "created": self.created,
            "currency": self.currency,
            "customer": self.customer,
            "expires_at": self.created + 24 * 3600,
            "livemode": False,
            "metadata": dict(self.metadata),
            "mode": self.mode,
            "payment_intent": self.payment_intent,
            "payment_status": paid if self.status == "complete" else "unpaid",
            "setup_intent": self.setup_intent,
            "status": self.status,
            "success_url": self.return_url,
            "url": f"{base}/checkout/{self.session_id}" if self.status == "open" else None,
        }


@dataclass
class StripePlatform:
    """What the stand-in holds; `account` is the one the next authorization connects."""

    account: str = DEFAULT_ACCOUNT
    codes: dict[str, str] = field(default_factory=dict)  # unused code -> account
    sessions: dict[str, Session] = field(default_factory=dict)  # idempotency key -> session
    deauthorized: list[str] = field(default_factory=list)
    url: str = ""
    webhook_url: str = ""  # where events are posted (the stack's /webhooks/stripe)
    webhook_secret: str = ""  # the endpoint's signing secret
    events: list[dict[str, Any]] = field(default_factory=list)  # every event, in order
    deliveries: list[tuple[str, int]] = field(default_factory=list)  # event id, HTTP status
    fail_off_session: dict[str, str] = field(default_factory=dict)  # payment method -> code
    fail_next_post: int | str | None = None
    api_key: str = ""  # when set, the only secret key accepted
    clock: Callable[[], float] = time.time  # `created` of objects and events
    # (account, id) -> the object: customers, payment methods, Payment- and SetupIntents
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _revoked: set[str] = field(default_factory=set)
    _replies: dict[tuple[str, str, str], tuple[dict[str, str], Answer]] = field(
        default_factory=dict
    )
    _lock: Lock = field(default_factory=Lock)  # one API request at a time
    _server: ThreadingHTTPServer | None = None

    def start(self) -> StripePlatform:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                account = self.headers.get("Stripe-Account") or ""
                status, headers, body = platform.get(self.path, account)
                self._answer(status, headers, body)

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(size).decode(), keep_blank_values=True))
                path = urlsplit(self.path).path
                if path.startswith("/checkout/"):
                    self._answer(*platform.checkout_form(path, form))
                    return
                fault = platform.take_fault(path)
                if isinstance(fault, int):
                    self._json(fault, _error("api_error", "An unexpected error occurred."))
                    return
                key = self.headers.get("Idempotency-Key") or ""
                account = self.headers.get("Stripe-Account") or ""
                if not platform.authorized(self.headers.get("Authorization") or ""):
                    self._json(401, _error("invalid_request_error", "Invalid API Key provided"))
                    return
                status, payload = platform.post(path, form, key, account)
                if fault == LOST:
                    self.close_connection = True  # the answer is lost on the way back
                    return
                self._json(status, payload)

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self._answer(status, {"Content-Type": "application/json"}, body)

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # A short poll: closing waits for the loop's next turn (half a second by default).
        Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def take_fault(self, path: str) -> int | str | None:
        """The fault set for the next API POST, used once."""
        if not path.startswith("/v1/"):
            return None
        with self._lock:
            fault, self.fail_next_post = self.fail_next_post, None
        return fault

    def authorized(self, header: str) -> bool:
        return not self.api_key or header == f"Bearer {self.api_key}"

    # ------------------------------------------------------------------ GET

    def get(self, path: str, account: str = "") -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(path)
        if parts.path == "/oauth/authorize":
            return self._authorize(dict(parse_qsl(parts.query)))
        if parts.path.startswith("/checkout/"):
            return self._checkout_page(parts.path.removeprefix("/checkout/"))
        if parts.path.startswith("/v1/"):
            status, payload = self._retrieve(parts.path, account)
            return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()
        return 404, {"Content-Type": "text/plain"}, b"not found"

    def _authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """Stripe's page where the merchant signs in and picks the account: approved at once."""
        redirect = query.get("redirect_uri") or ""
        if not redirect or query.get("response_type", "code") != "code":
            return 400, {"Content-Type": "text/plain"}, b"redirect_uri and response_type=code"
        code = f"ac_{secrets.token_hex(12)}"
        with self._lock:
            self.codes[code] = self.account
        answer = {"code": code, "scope": query.get("scope") or "read_write"}
        if "state" in query:
            answer["state"] = query["state"]
        return 302, {"Location": f"{redirect}?{urlencode(answer)}"}, b""

    def _retrieve(self, path: str, account: str) -> Answer:
        """GET /v1/<objects>/<id> for what the stand-in holds on the account."""
        object_id = path.rsplit("/", 1)[-1]
        with self._lock:
            found = self.objects.get((account, object_id))
            session = self._session_by_id(object_id)
        if session is not None and session.account == account:
            found = session.to_object(self.url)
        if found is None:
            return 404, _error(
                "invalid_request_error", f"No such object: '{object_id}'", "resource_missing"
            )
        return 200, _public(found)

    def _session_by_id(self, session_id: str) -> Session | None:
        return next((s for s in self.sessions.values() if s.session_id == session_id), None)

    def _checkout_page(self, session_id: str, note: str = "") -> tuple[int, dict[str, str], bytes]:
        found = self._session_by_id(session_id)
        if found is None:
            return 404, {"Content-Type": "text/plain"}, b"no such Checkout Session"
        page = _page(found, note)
        return 200, {"Content-Type": "text/html; charset=utf-8"}, page.encode()

    # ------------------------------------------------------------------ POST

    def post(self, path: str, form: dict[str, str], key: str, account: str) -> Answer:
        if path == "/oauth/token":
            return self._token(form)
        if path == "/oauth/deauthorize":
            user = form.get("stripe_user_id", "")
            self.deauthorized.append(user)
            with self._lock:
                self._revoked.add(user)
            return 200, {"stripe_user_id": form.get("stripe_user_id")}
        if not path.startswith("/v1/"):
            return 404, _error("invalid_request_error", f"Unrecognized request URL ({path})")
        if not account:
            return 400, _error("invalid_request_error", "Stripe-Account header required here")
        if account in self._revoked:
            message = (
                f"The provided key does not have access to account '{account}' (or that "
                "account does not exist). Application access may have been revoked."
            )
            return 403, _error("invalid_request_error", message, "account_invalid")
        answer, events = self._idempotent(path, form, key, account)
        for event in events:
            self._emit(event)
        return answer

    def _idempotent(
        self, path: str, form: dict[str, str], key: str, account: str
    ) -> tuple[Answer, list[dict[str, Any]]]:
        """Stripe's idempotency layer: the first answer to a key is the answer to its retries
        (events are sent once, by the first). A request refused before it ran (a parameter
        missing or unknown: 400, 404) leaves nothing saved, as on Stripe."""
        with self._lock:
            saved = self._replies.get((account, path, key)) if key else None
            if saved is not None:
                if saved[0] != form:
                    message = (
                        "Keys for idempotent requests can only be used with the same "
                        f"parameters they were first used with. Try using a key other than "
                        f"'{key}' if you meant to execute a different request."
                    )
                    return (400, _error("idempotency_error", message)), []
                return copy.deepcopy(saved[1]), []
            answer, events = self._route(path, form, key, account)
            if key and answer[0] not in (400, 404):
                self._replies[(account, path, key)] = (dict(form), copy.deepcopy(answer))
        return answer, events

    def _route(
        self, path: str, form: dict[str, str], key: str, account: str
    ) -> tuple[Answer, list[dict[str, Any]]]:
        if path == "/v1/customers":
            return self._customer(form, account), []
        if path == "/v1/checkout/sessions":
            return self._session(form, key, account), []
        if path == "/v1/payment_intents":
            return self._off_session(form, key, account)
        return (404, _error("invalid_request_error", f"Unrecognized request URL ({path})")), []

    def _token(self, form: dict[str, str]) -> Answer:
        with self._lock:
            account = self.codes.pop(form.get("code", ""), None)
            if account is not None:
                self._revoked.discard(account)
        if form.get("grant_type") != "authorization_code" or account is None:
            return 400, {
                "error": "invalid_grant",
                "error_description": "Authorization code does not exist or was already used",
            }
        return 200, {
            "access_token": "sk_test_local_connected",
            "livemode": False,
            "scope": "read_write",
            "stripe_user_id": account,
            "token_type": "bearer",
        }

    def _held(self, account: str, object_id: str, kind: str) -> dict[str, Any] | None:
        """The account's object of that kind with that id, if the stand-in holds one."""
        found = self.objects.get((account, object_id))
        return found if found is not None and found["object"] == kind else None

    def _customer(self, form: dict[str, str], account: str) -> Answer:
        customer: dict[str, Any] = {
            "id": _new_id("cus"),
            "object": "customer",
            "created": self._now(),
            "description": form.get("description"),
            "email": form.get("email"),
            "invoice_settings": {"default_payment_method": None},
            "livemode": False,
            "metadata": _nested(form, "metadata"),
            "name": form.get("name"),
        }
        self.objects[(account, customer["id"])] = customer
        return 200, copy.deepcopy(customer)

    def _session(self, form: dict[str, str], key: str, account: str) -> Answer:
        mode = form.get("mode", "payment")
        customer = form.get("customer")
        if customer and self._held(account, customer, "customer") is None:
            return 400, _no_such("customer", customer, "customer")
        currency = form.get("currency") or form.get("line_items[0][price_data][currency]")
        if mode not in ("payment", "setup") or not currency:
            message = "mode must be payment or setup; setup mode needs currency"
            return 400, _error("invalid_request_error", message, "parameter_missing")
        session = Session(
            session_id=f"cs_test_{secrets.token_hex(12)}",
            account=account,
            amount=_amount(form.get("line_items[0][price_data][unit_amount]", "0")),
            currency=currency,
            name=form.get("line_items[0][price_data][product_data][name]")
            or form.get("setup_intent_data[description]", ""),
            return_url=form.get("success_url", ""),
            mode=mode,
            customer=customer,
            cancel_url=form.get("cancel_url", ""),
            metadata=_nested(form, "metadata"),
            payment_intent_data=_intent_data(form, "payment_intent_data"),
            setup_intent_data=_intent_data(form, "setup_intent_data"),
            created=self._now(),
            idempotency_key=key,
        )
        self.sessions[key or session.session_id] = session
        return 200, session.to_object(self.url)

    # ------------------------------------------------------------------ paying

    def _off_session(
        self, form: dict[str, str], key: str, account: str
    ) -> tuple[Answer, list[dict[str, Any]]]:
        """POST /v1/payment_intents with confirm=true: a saved card charged at once."""
        problem = self._charge_problem(form, account)
        if problem is not None:
            return problem, []
        method = self.objects[(account, form["payment_method"])]
        decline = self.fail_off_session.get(method["id"]) or CARDS[method["_card"]].decline
        intent = self._attempt(
            account,
            amount=int(form["amount"]),
            currency=form["currency"],
            customer=form["customer"],
            method=method,
            decline=decline,
            extra={
                "description": form.get("description"),
                "metadata": _nested(form, "metadata"),
                "setup_future_usage": None,
            },
        )
        events = [self._event(_intent_event(intent), intent, account, key)]
        if decline is None:
            return (200, copy.deepcopy(intent)), events
        return (402, _card_error(intent)), events

    def _charge_problem(self, form: dict[str, str], account: str) -> Answer | None:
        if form.get("confirm") != "true":
            message = "The stand-in takes PaymentIntents created with confirm=true only."
            return 400, _error("invalid_request_error", message, "parameter_invalid_empty")
        required = ("amount", "currency", "customer", "payment_method")
        missing = [name for name in required if not form.get(name)]
        if missing:
            message = f"Missing required param: {missing[0]}."
            return 400, _error("invalid_request_error", message, "parameter_missing")
        if not form["amount"].isdigit() or int(form["amount"]) <= 0:
            message = "This value must be greater than or equal to 1."
            return 400, _error("invalid_request_error", message, "parameter_invalid_integer")
        if self._held(account, form["customer"], "customer") is None:
            return 400, _no_such("customer", form["customer"], "customer")
        method = self._held(account, form["payment_method"], "payment_method")
        if method is None:
            return 400, _no_such("PaymentMethod", form["payment_method"], "payment_method")
        if method.get("customer") != form["customer"]:
            message = (
                f"The provided PaymentMethod {method['id']} does not belong to the Customer "
                f"{form['customer']}."
            )
            code = "payment_method_invalid_parameter"
            return 400, _error("invalid_request_error", message, code)
        return None

    def _attempt(
        self,
        account: str,
        *,
        amount: int,
        currency: str,
        customer: str | None,
        method: dict[str, Any],
        decline: str | None,
        extra: dict[str, Any],
        intent_id: str | None = None,
    ) -> dict[str, Any]:
        """A PaymentIntent confirmed with the card: succeeded, or back to
        requires_payment_method with the decline as its last_payment_error."""
        charge = _new_id("ch")
        intent: dict[str, Any] = {
            "id": intent_id or _new_id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0 if decline else amount,
            "capture_method": "automatic",
            "confirmation_method": "automatic",
            "created": self._now(),
            "currency": currency,
            "customer": customer,
            "last_payment_error": None,
            "latest_charge": charge,
            "livemode": False,
            "payment_method": method["id"] if decline is None else None,
            "payment_method_types": ["card"],
            "status": "succeeded" if decline is None else "requires_payment_method",
            **extra,
        }
        if decline is not None:
            code, message = _DECLINES.get(decline, _DECLINED)
            intent["last_payment_error"] = {
                "type": "card_error",
                "code": code,
                "decline_code": decline,
                "message": message,
                "charge": charge,
                "doc_url": f"https://docs.stripe.com/error-codes/{code.replace('_', '-')}",
                "payment_method": _public(method),
            }
        self.objects[(account, intent["id"])] = intent
        return intent

    def _new_method(self, account: str, card: str) -> dict[str, Any]:
        if card not in CARDS:
            raise ValueError(f"no test card {card!r}; one of {', '.join(CARDS)}")
        method: dict[str, Any] = {
            "id": _new_id("pm"),
            "object": "payment_method",
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "card": {
                "brand": "visa",
                "country": "US",
                "exp_month": 12,
                "exp_year": 2034,
                "fingerprint": f"fp{CARDS[card].last4}{account[-6:]}",
                "funding": "credit",
                "last4": CARDS[card].last4,
            },
            "created": self._now(),
            "customer": None,
            "livemode": False,
            "metadata": {},
            "type": "card",
            "_card": card,
        }
        self.objects[(account, method["id"])] = method
        return method

    def add_card(self, account: str, customer: str, card: str = "visa") -> str:
        """A test card saved to the customer (as a completed setup would); its id."""
        with self._lock:
            method = self._new_method(account, card)
            method["customer"] = customer
        return str(method["id"])

    def new_customer(self, account: str) -> str:
        """A Customer on the account, as POST /v1/customers makes one; its id."""
        with self._lock:
            _, customer = self._customer({}, account)
        return str(customer["id"])

    def declined_saved_payment(
        self,
        account: str,
        *,
        customer: str,
        amount: int,
        currency: str,
        metadata: dict[str, str],
        decline: str,
        card: str = "visa",
    ) -> dict[str, Any]:
        """A payment at checkout whose card the customer saved for later payments
        (`setup_future_usage=off_session`) and the bank declined: the failed PaymentIntent,
        its event sent. Later off-session charges of the card go as the card goes."""
        with self._lock:
            method = self._new_method(account, card)
            method["customer"] = customer
            intent = self._attempt(
                account,
                amount=amount,
                currency=currency,
                customer=customer,
                method=method,
                decline=decline,
                extra={"metadata": dict(metadata), "setup_future_usage": "off_session"},
            )
            event = self._event("payment_intent.payment_failed", intent, account, "")
        self._emit(event)
        return copy.deepcopy(intent)

    def complete(self, session_id: str, card: str = "visa") -> dict[str, Any]:
        """Pay (payment mode) or save the card (setup mode) on a Checkout Session, as its
        page does; returns the PaymentIntent or SetupIntent. A declined card leaves the
        session open with a failed PaymentIntent, as Checkout does."""
        with self._lock:
            session = self._session_by_id(session_id)
            if session is None:
                raise KeyError(f"no Checkout Session {session_id}")
            if session.status != "open":
                raise ValueError(f"Checkout Session {session_id} is {session.status}")
            method = self._new_method(session.account, card)
            if session.mode == "setup":
                intent, events = self._setup(session, method)
            else:
                intent, events = self._pay(session, method)
        for event in events:
            self._emit(event)
        return copy.deepcopy(intent)

    def _pay(
        self, session: Session, method: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        data = session.payment_intent_data
        decline = CARDS[method["_card"]].decline
        intent = self._attempt(
            session.account,
            amount=session.amount,
            currency=session.currency,
            customer=session.customer,
            method=method,
            decline=decline,
            extra={
                "description": data.get("description"),
                "metadata": dict(data.get("metadata") or {}),
                "setup_future_usage": data.get("setup_future_usage"),
            },
            intent_id=session.payment_intent,  # a retry on the page reuses the intent
        )
        session.payment_intent = intent["id"]
        events = [self._event(_intent_event(intent), intent, session.account, "")]
        if decline is None:
            if data.get("setup_future_usage") and session.customer:
                method["customer"] = session.customer
            session.status = "complete"
            completed = session.to_object(self.url)
            events.append(self._event("checkout.session.completed", completed, session.account, ""))
        return intent, events

    def _setup(
        self, session: Session, method: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        data = session.setup_intent_data
        method["customer"] = session.customer
        intent: dict[str, Any] = {
            "id": _new_id("seti"),
            "object": "setup_intent",
            "created": self._now(),
            "customer": session.customer,
            "description": data.get("description"),
            "last_setup_error": None,
            "latest_attempt": _new_id("setatt"),
            "livemode": False,
            "metadata": dict(data.get("metadata") or {}),
            "payment_method": method["id"],
            "payment_method_types": ["card"],
            "status": "succeeded",
            "usage": "off_session",
        }
        self.objects[(session.account, intent["id"])] = intent
        session.setup_intent = intent["id"]
        session.status = "complete"
        completed = session.to_object(self.url)
        return intent, [
            self._event("setup_intent.succeeded", intent, session.account, ""),
            self._event("checkout.session.completed", completed, session.account, ""),
        ]

    def checkout_form(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """POST /checkout/<id>/complete from the page: paid (or saved), then back to the
        store; a declined card shows the page again with Stripe's message."""
        session_id = path.removeprefix("/checkout/").removesuffix("/complete")
        session = self._session_by_id(session_id)
        if session is None or not path.endswith("/complete"):
            return 404, {"Content-Type": "text/plain"}, b"no such Checkout Session"
        try:
            intent = self.complete(session_id, form.get("card", "visa"))
        except ValueError as error:
            return 400, {"Content-Type": "text/plain"}, str(error).encode()
        failure = intent.get("last_payment_error")
        if failure:
            return self._checkout_page(session_id, note=str(failure["message"]))
        return 303, {"Location": session.return_url}, b""

    # ------------------------------------------------------------------ events

    def _event(self, kind: str, obj: dict[str, Any], account: str, key: str) -> dict[str, Any]:
        return {
            "id": _new_id("evt"),
            "object": "event",
            "account": account,
            "api_version": API_VERSION,
            "created": self._now(),
            "data": {"object": _public(obj)},
            "livemode": False,
            "pending_webhooks": 1 if self.webhook_url else 0,
            "request": {"id": _new_id("req") if key else None, "idempotency_key": key or None},
            "type": kind,
        }

    def _emit(self, event: dict[str, Any]) -> None:
        """Keep the event; post it to the webhook endpoint, signed, when one is set."""
        self.events.append(event)
        if not (self.webhook_url and self.webhook_secret):
            return
        if urlsplit(self.webhook_url).scheme not in ("http", "https"):
            raise ValueError("webhook_url must be an http(s) URL")
        body, headers = self.delivery(event, self.webhook_secret)
        # The stack's own front (recoup_local.stack sets it); the scheme is checked above.
        request = urllib.request.Request(self.webhook_url, data=body, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                status = int(answer.status)
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError:
            status = 0
        self.deliveries.append((str(event["id"]), status))

    @staticmethod
    def delivery(event: dict[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
        """The body and headers Stripe would post for the event, signed with `secret`."""
        body = json.dumps(event).encode()
        return body, {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": stripe_signature(body, secret),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }

    def _now(self) -> int:
        return int(self.clock())


def _page(session: Session, note: str) -> str:
    if session.mode == "setup":
        heading = "Save a card for your payment plan"
    else:
        heading = f"Pay {session.currency.upper()} {session.amount / 100:,.2f}"
    parts = [
        "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>",
        "<title>Checkout (local stand-in)</title>",
        "<body style='font-family:system-ui;max-width:28rem;margin:3rem auto;padding:1rem'>",
        f"<h1>{html.escape(heading)}</h1><p>{html.escape(session.name)}</p>",
        f"<p>Stripe Checkout on {html.escape(session.account)}: this page stands in for it "
        "on the local stack.</p>",
    ]
    if note:
        parts.append(f"<p role=alert><strong>{html.escape(note)}</strong></p>")
    if session.status == "open":
        action = html.escape(f"/checkout/{session.session_id}/complete")
        choices = "".join(
            f"<p><label><input type=radio name=card value='{html.escape(name)}'"
            f"{' checked' if name == 'visa' else ''}> {html.escape(card.label)}</label></p>"
            for name, card in CARDS.items()
        )
        button = "Save card" if session.mode == "setup" else "Pay"
        parts.append(
            f"<form method=post action='{action}'><fieldset><legend>Test card</legend>"
            f"{choices}</fieldset><p><button type=submit>{button}</button></p></form>"
        )
    else:
        parts.append(f"<p>This Checkout Session is {html.escape(session.status)}.</p>")
    parts.append(f"<p><a href='{html.escape(session.return_url)}'>Back to the store</a></p>")
    return "".join(parts)


def _intent_event(intent: dict[str, Any]) -> str:
    succeeded = intent["status"] == "succeeded"
    return "payment_intent.succeeded" if succeeded else "payment_intent.payment_failed"


def _card_error(intent: dict[str, Any]) -> dict[str, Any]:
    """Stripe's 402 answer to a declined confirmation: the error names the PaymentIntent."""
    failure = intent["last_payment_error"]
    return {
        "error": {
            **{k: v for k, v in failure.items() if k != "payment_method"},
            "payment_intent": _public(intent),
            "payment_method": failure["payment_method"],
            "request_log_url": None,
        }
    }


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of an object as Stripe shows it (without the stand-in's own fields)."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}


def _intent_data(form: dict[str, str], prefix: str) -> dict[str, Any]:
    data: dict[str, Any] = {"metadata": _nested(form, f"{prefix}[metadata]")}
    for name in ("setup_future_usage", "description"):
        if f"{prefix}[{name}]" in form:
            data[name] = form[f"{prefix}[{name}]"]
    return data


def _nested(form: dict[str, str], prefix: str) -> dict[str, str]:
    """`prefix[key]=value` fields as a dict (how the SDK encodes a hash such as metadata)."""
    start = f"{prefix}["
    return {
        name[len(start) : -1]: value
        for name, value in form.items()
        if name.startswith(start) and name.endswith("]") and "[" not in name[len(start) : -1]
    }


def _amount(value: str) -> int:
    return int(value) if value.isdigit() else 0


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _no_such(kind: str, object_id: str, param: str) -> dict[str, Any]:
    answer = _error("invalid_request_error", f"No such {kind}: '{object_id}'", "resource_missing")
    answer["error"]["param"] = param
    return answer


def _error(kind: str, message: str, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code is not None:
        error["code"] = code
    return {"error": error}
