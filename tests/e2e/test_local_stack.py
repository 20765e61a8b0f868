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
    # taken by the shipped strategy for bank transfers, its first reminder three days on
    (opened,) = cases
    assert (opened["strategy"], opened["strategy_why"]) == (
        "manual-payments",
        "paid by bank_transfer",
    )
    assert (opened["next_step"], opened["next_step_at"]) == (
        "reminder step 1",
        "2026-11-05T15:15:00+00:00",
    )
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
    assert (cases[0]["strategy"], cases[0]["next_step_at"]) == ("manual-payments", None)
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
        # About a minute and a half alone on two cores; a test run beside it can double that.
        timeout=300,
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
    # Then the strategies chapter, on a second shop
    _assert_strategies_chapter(out)


def _assert_strategies_chapter(out: str) -> None:
    """Each scene of the demo's strategies chapter came out as it says, and the experiment's
    table and verdict are printed."""
    # A second shop, its merchant having approved write_orders
    chapter = out[out.index("Strategies: a second shop, demo-wholesale.myshopify.com") :]
    assert "Stripe connected through Connect OAuth: acct_1DemoWholesale" in chapter
    assert "Access granted by the merchant: read_orders, write_customers, write_orders" in chapter
    # a. Net 30, due 3 February at midnight in Portland (08:00 UTC): the courtesy reminder
    # at 10:00 there three days before (31 January, 18:00 UTC), paid on the date
    assert "next: courtesy reminder before the due date, 2027-01-31 18:00" in chapter
    assert (
        "a. Net 30 order #2001: 1 message (the courtesy reminder 3 days before), case paid on "
        "its due date; no reminder"
    ) in chapter
    # b. a transfer's own reminders, worded for it; cancelled and restocked in Shopify on day 10
    assert chapter.count("We have not yet received your bank transfer for this order.") == 2
    assert "holds order gid://shopify/Order/5960380000000002002 cancelled and restocked" in chapter
    assert (
        "b. bank transfer #2002: 2 reminders and the last message (3 emails), the order "
        "cancelled and restocked in Shopify; case cancelled"
    ) in chapter
    # c. declined at 17:10 on 22 February: retried 12 hours later, at 05:10 on the 23rd
    assert "retry 1 of 2 on 2027-02-23 05:10 UTC, 12 hours after a soft decline" in chapter
    assert (
        "c. card #2003 declined for insufficient funds: 1 retry off-session 12 hours later, "
        "case paid; no message"
    ) in chapter
    # d. a hard decline: no retry, and the first reminder a day after the order
    assert "no retry: the issuer declined for good (do_not_try_again)" in chapter
    assert (
        "d. card #2004 declined, do not try again: no retry; 1 reminder sent as planned, "
        "next: reminder step 2"
    ) in chapter
    # e. the experiment's table and verdict. The experiment's hash puts 80, 98 and 22 of the
    # 200 generated orders in control, early and holdout; the module's rule pays
    # 1 + (N - 1) * rate // 100 of an arm's N: control 1 + 79 * 30 // 100 = 24, plus #2003 paid
    # by its retry (#2004 unpaid): 25 of 82 (30.5%); early 1 + 97 * 42 // 100 = 41 of 98
    # (41.8%); holdout 1 + 21 * 18 // 100 = 4 of 22 (18.2%); early over control: 11.3 points.
    assert (
        "arm       cases  paid    rate  95% interval         recovered  median days  "
        "unsubscribes  complaints  over holdout (95% interval)"
    ) in chapter
    assert "verdict: no winner yet: arm early recovers 11.3 points more than arm control" in chapter
    assert (
        "e. experiment first-step: 202 cases, recovered control 30.5%, early 41.8%, holdout "
        "18.2%; no winner yet"
    ) in chapter
