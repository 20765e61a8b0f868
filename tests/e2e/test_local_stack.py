"""The local stack as a person uses it: `recoup serve` in its own process, webhooks over
HTTP, `recoup cases` reading the result."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from recoup_local.stack import DEV_SECRETS
from tests.conftest import SHOP, event_bytes, event_json, shopify_headers, stripe_headers
from tests.e2e.conftest import RECOUP, recoup_env


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _cases(served: dict[str, Any]) -> list[dict[str, Any]]:
    result = subprocess.run(
        [*RECOUP, "cases", "--shop", SHOP, "--json"],
        cwd=served["cwd"],
        env=recoup_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    cases: list[dict[str, Any]] = json.loads(result.stdout)["cases"]
    return cases


def _wait_for(served: dict[str, Any], predicate: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        cases = _cases(served)
        if predicate(cases) or time.monotonic() > deadline:
            return cases


def test_webhooks_over_http_open_and_close_a_case(served: dict[str, Any]) -> None:
    front = served["front"]
    secret = DEV_SECRETS["RECOUP_SHOPIFY_API_SECRET"]
    order_id = str(event_json("shopify/order_pending.json")["id"])
    # Given a pending order posted to the running stack with the documented dev secret
    body = event_bytes("shopify/order_pending.json")
    status, _ = _post(
        f"{front}/webhooks/shopify", body, shopify_headers(body, secret, "orders/create")
    )
    assert status == 200
    # Then the poller applies it and `recoup cases` shows an open case
    cases = _wait_for(served, lambda cs: any(c["case_id"] == order_id for c in cs))
    assert [(c["case_id"], c["status"]) for c in cases] == [(order_id, "open")]
    # When a forged payment arrives it is refused
    paid = event_bytes("shopify/order_paid.json")
    status, answer = _post(
        f"{front}/webhooks/shopify", paid, shopify_headers(paid, "guess", "orders/paid")
    )
    assert (status, answer["error"]) == (401, "invalid_signature")
    # And when the real payment arrives, through Stripe, the case closes as paid
    succeeded = event_bytes("stripe/payment_intent.succeeded.json")
    status, _ = _post(
        f"{front}/webhooks/stripe",
        succeeded,
        stripe_headers(succeeded, DEV_SECRETS["RECOUP_STRIPE_WEBHOOK_SECRET"]),
    )
    assert status == 200
    cases = _wait_for(served, lambda cs: cs and cs[0]["status"] == "paid")
    assert cases[0]["status"] == "paid"
    assert cases[0]["recovered"] == {"minor": 189900, "currency": "USD"}
    assert cases[0]["audit"]["verified"] is True
    assert [t["kind"] for t in cases[0]["timeline"]] == [
        "orders/create",
        "payment_intent.succeeded",
    ]


def test_unknown_routes_get_a_json_404(served: dict[str, Any]) -> None:
    status, answer = _post(f"{served['front']}/webhooks/paypal", b"{}", {})
    assert (status, answer["error"]) == (404, "not_found")


def test_the_demo_runs_to_the_end(tmp_path: Path) -> None:
    result = subprocess.run(
        [*RECOUP, "demo"],
        env=recoup_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "HTTP 401 invalid_signature" in out
    assert "applied once" in out
    assert "case stays paid (paid is final)" in out
    assert "cases tracked: 11: 8 open, 2 paid, 1 cancelled" in out
    assert "recovered:   USD 4,398.00" in out
    # The customers who answered on their own pages: each answer took, and did what it says
    assert "5 answers on customers' own pages" in out
    assert "reminder(s) of a promise" in out and "customer.promise_broken" in out
    assert "#1049 paid  ->  case open -> paid" in out
    assert "reminders paused; the merchant is told" in out
    assert "held for fraud review; the merchant is told at once" in out
    # One picked a plan, paid the first instalment at Checkout; the second was charged on
    # its date, off-session, with the card Checkout saved
    assert "agreed to a plan on their page, first instalment paid at Checkout" in out
    assert "instalment 2 of 3 charged: USD 833.00" in out
    assert (
        "instalment plans: 1 agreed; 2 of 3 instalments paid (USD 1,666.00 of USD 2,499.00), active"
        in out
    )
    # And the German and Japanese customers were written to in their languages
    outbox = {f.name: f.read_bytes() for f in (tmp_path / "out" / "outbox").iterdir()}
    subjects = [
        str(message_from_bytes(raw, policy=policy.default)["Subject"])
        for name, raw in sorted(outbox.items())
        if name.endswith(".eml")
    ]
    assert any("Zahlungserinnerung für Bestellung #1043" in s for s in subjects), subjects
    assert any("ご注文#1045のお支払いについて" in s for s in subjects), subjects
    # Installed as a merchant would: token exchange, the shop query, Connect OAuth
    assert "by token exchange: Demo Electronics <help@demo-electronics.example>" in out
    assert "replies to support@demo-electronics.example" in out
    assert "Stripe connected through Connect OAuth: acct_1DemoElectronics" in out
