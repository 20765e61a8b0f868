"""`recoup demo`: the main job on the local stack, start to finish, in under a minute.

A demo shop is installed; signed Shopify and Stripe webhooks are delivered over HTTP to the
local front (unpaid orders, failed payments, one paid later, one cancelled, a duplicate
delivery, a forged one, a late failure after payment, an event type Recoup ignores); the
queue consumer applies them; each order's timeline and a summary are printed.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from threading import Thread
from typing import Any

from recoup.integrations.shopify import sign as shopify_sign
from recoup.services import cases, shops
from recoup_local import report
from recoup_local.front import make_server
from recoup_local.stack import LocalStack, emulated
from recoup_local.stripe_signing import stripe_signature
from recoup_local.template import ROOT

SHOP = "demo-electronics.myshopify.com"
STRIPE_ACCOUNT = "acct_1DemoElectronics"
EVENTS = ROOT / "tests" / "events"


@dataclass(frozen=True)
class Delivery:
    note: str
    source: str  # "shopify" or "stripe"
    file: str
    topic: str = ""
    webhook_id: str | None = None
    forged: bool = False
    edit: Callable[[dict[str, Any]], None] | None = None


def _mark_paid(order: dict[str, Any]) -> None:
    order["financial_status"] = "paid"
    order["total_outstanding"] = "0.00"


STORY = [
    Delivery(
        "an order placed by bank transfer, unpaid",
        "shopify",
        "shopify/order_pending.json",
        "orders/create",
        "demo-wh-1001-create",
    ),
    Delivery("its card payment declined", "stripe", "stripe/payment_intent.payment_failed.json"),
    Delivery(
        "the order updated, still unpaid",
        "shopify",
        "shopify/order_pending_updated.json",
        "orders/updated",
        "demo-wh-1001-update",
    ),
    Delivery(
        "the first delivery again (Shopify retried)",
        "shopify",
        "shopify/order_pending.json",
        "orders/create",
        "demo-wh-1001-create",
    ),
    Delivery(
        "an order whose authorisation was voided",
        "shopify",
        "shopify/order_voided.json",
        "orders/updated",
        "demo-wh-1002-voided",
    ),
    Delivery(
        "an order paid in part",
        "shopify",
        "shopify/order_partially_paid.json",
        "orders/create",
        "demo-wh-1003-create",
    ),
    Delivery(
        "a forged 'paid' for it (wrong signature)",
        "shopify",
        "shopify/order_partially_paid.json",
        "orders/paid",
        "demo-wh-1003-forged",
        forged=True,
        edit=_mark_paid,
    ),
    Delivery(
        "its Checkout payment failed later",
        "stripe",
        "stripe/checkout.session.async_payment_failed.json",
    ),
    Delivery(
        "an order whose payment expired",
        "shopify",
        "shopify/order_expired.json",
        "orders/create",
        "demo-wh-1004-create",
    ),
    Delivery("its invoice payment failed", "stripe", "stripe/invoice.payment_failed.json"),
    Delivery(
        "an order in yen, unpaid",
        "shopify",
        "shopify/order_jpy_pending.json",
        "orders/create",
        "demo-wh-1005-create",
    ),
    Delivery("its card declined", "stripe", "stripe/jpy.payment_intent.payment_failed.json"),
    Delivery(
        "a Stripe payment with no Shopify order, declined",
        "stripe",
        "stripe/payment_intent.payment_failed.unlinked.json",
    ),
    Delivery(
        "an early fraud warning on it", "stripe", "stripe/radar.early_fraud_warning.created.json"
    ),
    Delivery(
        "an ordinary order, paid at checkout",
        "shopify",
        "shopify/order_paid_normal.json",
        "orders/create",
        "demo-wh-1006-create",
    ),
    Delivery(
        "the bank transfer order paid",
        "shopify",
        "shopify/order_paid.json",
        "orders/paid",
        "demo-wh-1001-paid",
    ),
    Delivery("Stripe confirms the payment", "stripe", "stripe/payment_intent.succeeded.json"),
    Delivery("a late copy of the declined charge", "stripe", "stripe/charge.failed.json"),
    Delivery(
        "the voided order cancelled",
        "shopify",
        "shopify/order_cancelled.json",
        "orders/cancelled",
        "demo-wh-1002-cancel",
    ),
    Delivery("a Stripe event type Recoup ignores", "stripe", "stripe/customer.created.json"),
]


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def deliver(front: str, local: LocalStack, delivery: Delivery) -> tuple[int, dict[str, Any]]:
    body = (EVENTS / delivery.file).read_bytes()
    if delivery.edit is not None:
        data = json.loads(body)
        delivery.edit(data)
        body = json.dumps(data).encode()
    if delivery.source == "shopify":
        secret = "not-the-app-secret" if delivery.forged else local.shopify_secret
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Hmac-Sha256": shopify_sign(body, secret),
            "X-Shopify-Topic": delivery.topic,
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Webhook-Id": delivery.webhook_id or "",
            "X-Shopify-API-Version": "2024-10",
        }
        return _post(f"{front}/webhooks/shopify", body, headers)
    secret = "whsec_forged" if delivery.forged else local.stripe_secret
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": stripe_signature(body, secret),
    }
    return _post(f"{front}/webhooks/stripe", body, headers)


def run(out: Callable[[str], None] = print) -> int:
    started = time.monotonic()
    with emulated() as local:
        server = make_server(local.lambdas, port=0)
        front = f"http://127.0.0.1:{server.server_address[1]}"
        Thread(target=server.serve_forever, daemon=True).start()
        try:
            return _story(local, front, out, started)
        finally:
            server.shutdown()


def _story(local: LocalStack, front: str, out: Callable[[str], None], started: float) -> int:
    out(f"Recoup demo: AWS emulated by moto at {local.endpoint}, webhooks to {front}")
    shops.install(SHOP, stripe_account=STRIPE_ACCOUNT)
    out(f"Installed {SHOP} (Stripe account {STRIPE_ACCOUNT})\n")
    out("Deliveries")
    answers: dict[str, int] = {}
    first_seen: dict[str, int] = {}
    for number, delivery in enumerate(STORY, 1):
        status, body = deliver(front, local, delivery)
        local.lambdas.drain()  # the worker applies it, as Lambda's SQS trigger would
        outcome = body.get("status") or f"{body.get('error')}: {body.get('message')}"
        if delivery.webhook_id in first_seen and status == 200:
            outcome += f" (same webhook id as {first_seen[delivery.webhook_id]}: applied once)"
        elif delivery.webhook_id:
            first_seen.setdefault(delivery.webhook_id, number)
        key = "rejected" if status >= 400 else str(body.get("status"))
        answers[key] = answers.get(key, 0) + 1
        out(f"  {number:>2}. {delivery.source:<7} {delivery.note:<50} HTTP {status} {outcome}")

    tracked = sorted(cases.list_cases(SHOP), key=report.status_order)
    out("\nCases (each timeline in the order its events arrived)")
    for case in tracked:
        out(report.case_headline(case))
        for line in report.timeline_lines(cases.timeline(SHOP, case.case_id)):
            out(line)
        out("")
    untracked = [c for c in cases.list_cases(SHOP, include_untracked=True) if not c.opened]
    sums = report.totals(tracked)
    by_status = sums["by_status"]
    out("Summary")
    out(
        f"  deliveries: {len(STORY)} sent; {answers.get('queued', 0)} queued, "
        f"{answers.get('ignored', 0)} ignored (type Recoup doesn't handle), "
        f"{answers.get('rejected', 0)} rejected (bad signature, nothing written)"
    )
    out(
        f"  cases tracked: {len(tracked)}: {by_status.get('open', 0)} open, "
        f"{by_status.get('paid', 0)} paid, {by_status.get('cancelled', 0)} cancelled; "
        f"{len(untracked)} paid order(s) never owed anything and are not tracked"
    )
    out(f"  outstanding: {report.amounts(sums['owed'])}")
    out(f"  recovered:   {report.amounts(sums['recovered'])}")
    out(f"  finished in {time.monotonic() - started:.1f} s")
    return 0


def available() -> bool:
    return all((EVENTS / d.file).exists() for d in STORY)


__all__ = ["available", "run"]
