"""A stand-in for the parts of Stripe the platform calls, on a loopback port: Connect OAuth
(the authorize page approves at once and redirects with a code; the code is exchanged once
for the connected account; deauthorize) and Checkout Sessions (created per idempotency key,
with a page at their URL). The stack's functions reach it through RECOUP_STRIPE_API_BASE,
which the stripe SDK uses as its API and Connect base address.

Requests are form-encoded as the SDK sends them; answers are the JSON shapes Stripe documents
(https://docs.stripe.com/connect/oauth-reference, /api/checkout/sessions/object).
"""

from __future__ import annotations

import html
import json
import secrets
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock, Thread
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

DEFAULT_ACCOUNT = "acct_1DemoElectronics"


@dataclass
class Session:
    session_id: str
    account: str
    amount: int
    currency: str
    name: str
    return_url: str


@dataclass
class StripePlatform:
    """What the stand-in holds; `account` is the one the next authorization connects."""

    account: str = DEFAULT_ACCOUNT
    codes: dict[str, str] = field(default_factory=dict)  # unused code -> account
    sessions: dict[str, Session] = field(default_factory=dict)  # idempotency key -> session
    deauthorized: list[str] = field(default_factory=list)
    url: str = ""
    _lock: Lock = field(default_factory=Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> StripePlatform:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, headers, body = platform.get(self.path)
                self._answer(status, headers, body)

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(size).decode(), keep_blank_values=True))
                key = self.headers.get("Idempotency-Key") or ""
                account = self.headers.get("Stripe-Account") or ""
                status, payload = platform.post(urlsplit(self.path).path, form, key, account)
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
        Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ------------------------------------------------------------------ GET

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(path)
        if parts.path == "/oauth/authorize":
            return self._authorize(dict(parse_qsl(parts.query)))
        if parts.path.startswith("/checkout/"):
            return self._checkout_page(parts.path.removeprefix("/checkout/"))
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

    def _checkout_page(self, session_id: str) -> tuple[int, dict[str, str], bytes]:
        found = next((s for s in self.sessions.values() if s.session_id == session_id), None)
        if found is None:
            return 404, {"Content-Type": "text/plain"}, b"no such Checkout Session"
        amount = f"{found.currency.upper()} {found.amount / 100:,.2f}"
        page = (
            "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            "<title>Checkout (local stand-in)</title>"
            "<body style='font-family:system-ui;max-width:28rem;margin:3rem auto;padding:1rem'>"
            f"<h1>Pay {html.escape(amount)}</h1><p>{html.escape(found.name)}</p>"
            f"<p>Stripe Checkout on {html.escape(found.account)}: this page stands in for it "
            "on the local stack.</p>"
            f"<p><a href='{html.escape(found.return_url)}'>Back to the store</a></p>"
        )
        return 200, {"Content-Type": "text/html; charset=utf-8"}, page.encode()

    # ------------------------------------------------------------------ POST

    def post(
        self, path: str, form: dict[str, str], key: str, account: str
    ) -> tuple[int, dict[str, Any]]:
        if path == "/oauth/token":
            return self._token(form)
        if path == "/oauth/deauthorize":
            self.deauthorized.append(form.get("stripe_user_id", ""))
            return 200, {"stripe_user_id": form.get("stripe_user_id")}
        if path == "/v1/checkout/sessions":
            return self._session(form, key, account)
        return 404, _error("invalid_request_error", f"Unrecognized request URL (POST: {path})")

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            account = self.codes.pop(form.get("code", ""), None)
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

    def _session(self, form: dict[str, str], key: str, account: str) -> tuple[int, dict[str, Any]]:
        if not account:
            return 400, _error("invalid_request_error", "Stripe-Account header required here")
        with self._lock:
            found = self.sessions.get(key) if key else None
            if found is None:
                found = Session(
                    session_id=f"cs_test_{secrets.token_hex(12)}",
                    account=account,
                    amount=int(form.get("line_items[0][price_data][unit_amount]", "0")),
                    currency=form.get("line_items[0][price_data][currency]", "usd"),
                    name=form.get("line_items[0][price_data][product_data][name]", ""),
                    return_url=form.get("success_url", ""),
                )
                self.sessions[key or found.session_id] = found
        return 200, {
            "id": found.session_id,
            "object": "checkout.session",
            "amount_total": found.amount,
            "currency": found.currency,
            "mode": "payment",
            "status": "open",
            "url": f"{self.url}/checkout/{found.session_id}",
        }


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}
