"""`recoup demo`: the main job on the local stack, start to finish, in a minute or two.

A demo shop is installed; a simulated month (November 2026) runs: signed Shopify and Stripe
webhooks are delivered over HTTP to the local front at the times they happened (unpaid
orders, failed payments, one paid later, one cancelled, a duplicate delivery, a forged one,
a late failure after payment, an event type Recoup ignores), a bounce and an SMS STOP come
back, four customers answer on the page their reminder links to (`customer_demo`), and
between them the scheduler runs every five minutes of simulated time, so the reminder
sequence goes out as it would. The clock then runs on to mid-December, so the
cases still unpaid after their sequence (and its final notice) are referred: to an agency by
email, or to legal through a signed webhook to a receiver on loopback. Each case's timeline,
the outbox, the case files (copied to `out/casefiles/`) and a summary are printed. Then a
second shop shows its strategies on the same stack (`strategy_demo`), and the summary of that
chapter ends the demo.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from threading import Thread
from typing import Any

from recoup import clock
from recoup.domain.instalments import InstalmentTerms, Interval
from recoup.integrations import casefile_key
from recoup.integrations.shopify import sign as shopify_sign
from recoup.integrations.shopify_version import API_VERSION
from recoup.services import cases
from recoup.store import cases as case_store
from recoup.store.cases import DUE_SHARDS
from recoup_local import (
    casefile_check,
    customer_demo,
    install_demo,
    referral_demo,
    report,
    strategy_demo,
)
from recoup_local import outbox as outbox_module
from recoup_local.front import make_server
from recoup_local.stack import LocalStack, emulated
from recoup_local.stripe_signing import stripe_signature
from recoup_local.template import ROOT

SHOP = "demo-electronics.myshopify.com"
STRIPE_ACCOUNT = "acct_1DemoElectronics"
REPLY_TO = "support@demo-electronics.example"
EVENTS = ROOT / "tests" / "events"
OUTBOX = Path("out") / "outbox"
MONTH_START = datetime(2026, 11, 1, tzinfo=UTC)
# Final notices promise 14 days before referral: the story runs on until they have passed.
ESCALATION_END = datetime(2026, 12, 20, tzinfo=UTC)


@dataclass(frozen=True)
class Delivery:
    note: str
    # "shopify", "stripe", "bounce" (an SES notification), "sms" (inbound), "customer" (the
    # order's customer answers on their page: `topic` is the form, `form` its fields)
    source: str
    file: str
    topic: str = ""
    webhook_id: str | None = None
    forged: bool = False
    edit: Callable[[dict[str, Any]], None] | None = None
    at: datetime | None = None  # when it happens; default: the time in its payload
    form: tuple[tuple[str, str], ...] = ()


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
        at=datetime(2026, 11, 2, 15, 25, tzinfo=UTC),
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
        at=datetime(2026, 11, 4, 10, 3, tzinfo=UTC),
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
        "that customer's mailbox bounces the reminder",
        "bounce",
        "shopify/order_expired.json",
        at=datetime(2026, 11, 6, 15, 0, tzinfo=UTC),
    ),
    Delivery(
        "an order in yen, unpaid",
        "shopify",
        "shopify/order_jpy_pending.json",
        "orders/create",
        "demo-wh-1005-create",
    ),
    Delivery("its card declined", "stripe", "stripe/jpy.payment_intent.payment_failed.json"),
    Delivery(
        "that customer replies STOP to a text",
        "sms",
        "shopify/order_jpy_pending.json",
        at=datetime(2026, 11, 9, 3, 0, tzinfo=UTC),
    ),
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
    Delivery(
        "a late copy of the declined charge",
        "stripe",
        "stripe/charge.failed.json",
        at=datetime(2026, 11, 5, 9, 0, tzinfo=UTC),
    ),
    Delivery(
        "the voided order cancelled",
        "shopify",
        "shopify/order_cancelled.json",
        "orders/cancelled",
        "demo-wh-1002-cancel",
    ),
    Delivery("a Stripe event type Recoup ignores", "stripe", "stripe/customer.created.json"),
]


def _customer_scenes() -> list[Delivery]:
    """Four more unpaid orders of 10 November, each customer answering on their page two
    days later, after their first reminder: a promise kept (paid the day before the date),
    a promise broken (its nudge, then the sequence resumes), "I already paid" (paused for the
    merchant) and "not my order" (held for a fraud decision, never chased)."""
    expired = "shopify/order_expired.json"
    placed = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    scenes = [
        (1049, "Maya", "Lopez", "Cambridge", "promise", (("pay_by", "2026-11-20"),)),
        (1050, "Noah", "Brooks", "Somerville", "promise", (("pay_by", "2026-11-16"),)),
        (
            1051,
            "Grace",
            "Kim",
            "Brookline",
            "report",
            (("kind", "already_paid"), ("note", "Paid by bank transfer on 9 November, ref. 88123")),
        ),
        (1052, "Owen", "Price", "Quincy", "report", (("kind", "not_mine"),)),
        (
            1053,
            "Liam",
            "Chen",
            "Newton",
            "plan",
            (("plan_interval", "monthly"), ("plan_count", "3")),
        ),
    ]
    notes = {  # what each says on their page
        1049: "I will pay by 11-20",
        1050: "I will pay by 11-16",
        1051: "I already paid",
        1052: "I didn't place this order",
        1053: "3 monthly instalments",
    }
    story: list[Delivery] = []
    for offset, (number, first, last, city, action, form) in enumerate(scenes):
        edit = customer_demo.order_edit(number, first, last, city, "Massachusetts")
        story.append(
            Delivery(
                f"another unpaid order, #{number}",
                "shopify",
                expired,
                "orders/create",
                f"demo-wh-{number}-create",
                edit=edit,
                at=placed + timedelta(minutes=offset),
            )
        )
        story.append(
            Delivery(
                f"#{number}'s customer: {notes[number]}",
                "customer",
                expired,
                action,
                edit=edit,
                at=datetime(2026, 11, 12, 20, offset * 5, tzinfo=UTC),
                form=form,
            )
        )
    story.append(
        Delivery(
            "#1049 paid, before the date promised",
            "shopify",
            expired,
            "orders/paid",
            "demo-wh-1049-paid",
            edit=customer_demo.order_edit(
                1049, "Maya", "Lopez", "Cambridge", "Massachusetts", paid=True
            ),
            at=datetime(2026, 11, 19, 18, 0, tzinfo=UTC),
        )
    )
    return story


STORY += _customer_scenes()


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
    if delivery.source in ("bounce", "sms"):
        return _feedback(local, delivery, json.loads(body))
    if delivery.source == "customer" and delivery.topic == "plan":
        return customer_demo.plan(front, local, json.loads(body), dict(delivery.form))
    if delivery.source == "customer":
        return customer_demo.act(
            front, local, json.loads(body), delivery.topic, dict(delivery.form)
        )
    if delivery.source == "shopify":
        secret = "not-the-app-secret" if delivery.forged else local.shopify_secret
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Hmac-Sha256": shopify_sign(body, secret),
            "X-Shopify-Topic": delivery.topic,
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Webhook-Id": delivery.webhook_id or "",
            "X-Shopify-API-Version": API_VERSION,
        }
        return _post(f"{front}/webhooks/shopify", body, headers)
    secret = "whsec_forged" if delivery.forged else local.stripe_secret
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": stripe_signature(body, secret),
    }
    return _post(f"{front}/webhooks/stripe", body, headers)


def _feedback(
    local: LocalStack, delivery: Delivery, order: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """What SES and the SMS number would publish to their SNS topics."""
    if delivery.source == "bounce":
        topic = local.stack.refs["EmailFeedbackTopic"]
        message: dict[str, Any] = {
            "eventType": "Bounce",
            "bounce": {
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "bouncedRecipients": [{"emailAddress": order["email"]}],
            },
            "mail": {"tags": {"shop": [SHOP.replace(".", "_")]}},
        }
    else:
        topic = local.stack.refs["InboundSmsTopic"]
        message = {
            "originationNumber": order["shipping_address"]["phone"],
            "destinationNumber": "+18005550100",
            "messageKeyword": "KEYWORD_STOP",
            "messageBody": "STOP",
            "inboundMessageId": f"in-{order['id']}",
        }
    local.lambdas.publish(topic, message)
    return 200, {"status": "applied"}


def _happened_at(delivery: Delivery) -> datetime:
    if delivery.at is not None:
        return delivery.at
    data = json.loads((EVENTS / delivery.file).read_bytes())
    if delivery.source == "stripe":
        return datetime.fromtimestamp(int(data["created"]), tz=UTC)
    return datetime.fromisoformat(data["updated_at"]).astimezone(UTC)


PLAN_TERMS = InstalmentTerms(
    enabled=True,
    max_count=4,
    intervals=(Interval.BIWEEKLY, Interval.MONTHLY),
    max_days=120,
)


def _offer_plans(now: datetime) -> None:
    """The shop's reminder policy: the default sequence, with instalment plans offered."""
    from dataclasses import replace

    from recoup.store import policies

    stored = policies.load_doc(SHOP, policies.REMINDERS)
    version = stored[0] + 1 if stored else 1
    policy = replace(policies.load(SHOP), version=version, instalments=PLAN_TERMS)
    policies.save(SHOP, policy, now=now)


class SimulatedMonth:
    """Drives the clock: the scheduler runs on five-minute marks whenever a step is due,
    exactly as the EventBridge schedule would, skipping the idle marks in between."""

    def __init__(self, local: LocalStack, start: datetime) -> None:
        self.local = local
        self.now = start
        self.runs = 0
        clock.use(lambda: self.now)

    def advance_to(self, target: datetime) -> None:
        for _ in range(10_000):
            due = self._earliest_due()
            if due is None or due > target:
                break
            slot = max(_next_mark(due), _next_mark(self.now))
            if slot > target:
                break
            self.now = slot
            self.local.lambdas.run_schedules(slot)
            self.local.lambdas.drain()
            self.runs += 1
        self.now = max(self.now, target)

    def _earliest_due(self) -> datetime | None:
        import boto3

        ddb = boto3.client("dynamodb", region_name=self.local.stack.region)
        earliest: str | None = None
        for shard in range(DUE_SHARDS):
            items = ddb.query(
                TableName=self.local.stack.refs["Table"],
                IndexName="due",
                KeyConditionExpression="due_pk = :p",
                ExpressionAttributeValues={":p": {"S": f"DUE#{shard}"}},
                Limit=1,
            )["Items"]
            if items:
                key = items[0]["due_sk"]["S"].split("#", 1)[0]
                earliest = key if earliest is None or key < earliest else earliest
        if earliest is None:
            return None
        return datetime.fromisoformat(earliest.replace("Z", "+00:00"))

    def close(self) -> None:
        clock.use(None)


def _next_mark(at: datetime) -> datetime:
    """The first five-minute mark at or after `at`."""
    floor = at.replace(second=0, microsecond=0, minute=at.minute - at.minute % 5)
    return floor if floor >= at else floor + timedelta(minutes=5)


def run(out: Callable[[str], None] = print, outbox: Path = OUTBOX) -> int:
    started = time.monotonic()
    with emulated() as local:
        server = make_server(local.lambdas, port=0)
        front = f"http://127.0.0.1:{server.server_address[1]}"
        Thread(target=server.serve_forever, daemon=True).start()
        if local.stripe is not None:  # Stripe's events go to the front that serves the demo
            local.stripe.webhook_url = f"{front}/webhooks/stripe"
        month = SimulatedMonth(local, MONTH_START)
        receiver = referral_demo.LawFirmReceiver()
        try:
            return _story(local, front, month, out, outbox, started, receiver)
        finally:
            month.close()
            receiver.close()
            server.shutdown()


def _story(
    local: LocalStack,
    front: str,
    month: SimulatedMonth,
    out: Callable[[str], None],
    outbox: Path,
    started: float,
    receiver: referral_demo.LawFirmReceiver,
) -> int:
    out(f"Recoup demo: AWS emulated by moto at {local.endpoint}, webhooks to {front}")
    out(
        f"Simulated: {MONTH_START:%Y-%m-%d} to {ESCALATION_END:%Y-%m-%d}; "
        "the scheduler runs every five minutes of it"
    )
    if local.stripe is not None:
        local.stripe.account = STRIPE_ACCOUNT  # the account the merchant picks on Stripe's page
        local.stripe.clock = lambda: month.now.timestamp()  # its events dated in the story
    shop = install_demo.install(local, front, SHOP, reply_to=REPLY_TO)
    referral_demo.install_policy(SHOP, receiver, month.now)
    _offer_plans(month.now)
    out(
        f"Installed {SHOP} by token exchange: {shop.shop_name} <{shop.contact_email}>, "
        f"{shop.timezone}; replies to {shop.reply_to}"
    )
    out(
        f"Stripe connected through Connect OAuth: {shop.stripe_account}; default reminder "
        f"policy, with instalment plans of up to {PLAN_TERMS.max_count} payments every two "
        f"weeks or monthly, within {PLAN_TERMS.max_days} days"
    )
    out(
        f"Referral policy: default thresholds; agency hand-over by email to "
        f"{referral_demo.AGENCY_ADDRESS}, legal by signed webhook to {receiver.url}\n"
    )
    out("Deliveries")
    answers: dict[str, int] = {}
    first_seen: dict[str, int] = {}
    # Each delivery at the time it happened (stable for ties, so the story reads in order).
    for number, delivery in enumerate(sorted(STORY, key=_happened_at), 1):
        month.advance_to(_happened_at(delivery))
        status, body = deliver(front, local, delivery)
        local.lambdas.drain()  # the worker applies it, as Lambda's SQS trigger would
        outcome = body.get("status") or f"{body.get('error')}: {body.get('message')}"
        if delivery.webhook_id in first_seen and status == 200:
            outcome += f" (same webhook id as {first_seen[delivery.webhook_id]}: applied once)"
        elif delivery.webhook_id:
            first_seen.setdefault(delivery.webhook_id, number)
        key = "rejected" if status >= 400 else str(body.get("status"))
        if delivery.source == "customer" and status < 400:
            key = "customer"
        answers[key] = answers.get(key, 0) + 1
        out(
            f"  {number:>2}. {month.now:%m-%d %H:%M} {delivery.source:<8} "
            f"{delivery.note:<48} HTTP {status} {outcome}"
        )
    month.advance_to(ESCALATION_END)

    tracked = sorted(cases.list_cases(SHOP), key=report.status_order)
    out("\nCases (each timeline in the order its entries were written; times UTC)")
    reminders_sent = held = nudges = 0
    for case in tracked:
        out(report.case_headline(case))
        trail = cases.timeline(SHOP, case.case_id)
        reminders_sent += sum(1 for e in trail if e.body.get("kind") == "reminder.sent")
        nudges += sum(1 for e in trail if e.body.get("kind") == "customer.promise_nudge")
        held += sum(
            1 for e in trail if e.body.get("kind") in ("reminder.deferred", "reminder.skipped")
        )
        for line in report.timeline_lines(trail):
            out(line)
        out("")
    messages = outbox_module.sent_messages(local.stack.region)
    folder = outbox_module.write(messages, outbox)
    hand_overs = sum(1 for m in messages if m.to == referral_demo.AGENCY_ADDRESS)
    to_merchant = sum(1 for m in messages if m.to == shop.contact_email)
    emails = sum(1 for m in messages if m.kind == "email")
    # A fresh copy: files of an earlier run were signed by that run's key.
    shutil.rmtree(outbox.parent / "casefiles", ignore_errors=True)
    files = referral_demo.copy_case_files(local, SHOP, outbox.parent / "casefiles")
    # What an agency does: verify each file with openssl and the published public key.
    public_key = outbox.parent / "casefiles" / "casefile-signing.pem"
    public_key.write_text(casefile_key.public_key_pem())
    verified, unverified = casefile_check.verify_folder(outbox.parent / "casefiles", public_key)
    kept = case_store.load_many(SHOP, [c.case_id for c in tracked]).values()
    referred = referral_demo.counts(stored.referrals for stored in kept)
    plans = [s.dunning.plan for s in kept if s.dunning is not None and s.dunning.plan]
    untracked = [c for c in cases.list_cases(SHOP, include_untracked=True) if not c.opened]
    sums = report.totals(tracked)
    by_status = sums["by_status"]
    out("Summary")
    out(
        f"  deliveries: {len(STORY)} sent; {answers.get('queued', 0)} queued, "
        f"{answers.get('applied', 0)} feedback notifications applied, "
        f"{answers.get('ignored', 0)} ignored (type Recoup doesn't handle), "
        f"{answers.get('rejected', 0)} rejected (bad signature, nothing written); "
        f"{answers.get('customer', 0)} answers on customers' own pages"
    )
    out(
        f"  cases tracked: {len(tracked)}: {by_status.get('open', 0)} open, "
        f"{by_status.get('paid', 0)} paid, {by_status.get('cancelled', 0)} cancelled; "
        f"{len(untracked)} paid order(s) never owed anything and are not tracked"
    )
    out(
        f"  reminders sent: {reminders_sent}, and {nudges} reminder(s) of a promise; "
        f"{held} held back or skipped; scheduler ran {month.runs} times with work to do"
    )
    out(
        f"  instalment plans: {len(plans)} agreed; "
        + "; ".join(
            f"{sum(i.paid for i in p.instalments)} of {len(p.instalments)} instalments paid "
            f"({p.paid} of {p.total}), {p.status}"
            for p in plans
        )
    )
    out(
        f"  referrals: {referred['agency']} to the agency ({hand_overs} hand-over email(s)), "
        f"{referred['legal']} to legal ({sum(ok for ok, _ in receiver.deliveries)} signed "
        f"webhook(s) received); {referred['written_off']} written off"
    )
    out(
        f"  case files: {len(files)} files in {outbox.parent / 'casefiles'}; "
        f"{verified} of {verified + len(unverified)} record(s) verified with openssl and "
        f"the public key {public_key} (chain, digest, signature, amounts; "
        "check one with `.venv/bin/recoup verify-chain <record.json> --public-key <pem>`)"
    )
    for problem in unverified:
        out(f"  NOT VERIFIED: {problem}")
    out(
        f"  outbox: {folder} ({len(messages)} files: {emails} emails, "
        f"{len(messages) - emails} SMS; {to_merchant} notice(s) to the merchant and "
        f"{hand_overs} hand-over(s) among the emails; .eml opens in a mail client)"
    )
    out(f"  outstanding: {report.amounts(sums['owed'])}")
    out(
        f"  recovered:   {report.amounts(sums['recovered'])} "
        f"({by_status.get('paid', 0)} case(s) paid)"
    )
    out(strategy_demo.run(local, front, month, out))  # the chapter, then its summary
    out(f"  finished in {time.monotonic() - started:.1f} s")
    return 1 if unverified else 0


def available() -> bool:
    return all((EVENTS / d.file).exists() for d in STORY)


__all__ = ["available", "run"]
