"""One scenario per consumer: the state where it does its work (set up unarmed), the trigger
and the scheduler runs that drive it, and what "done" means for it, read from the stack.

Each `run` returns an Observation; `harness.World.classify` turns it into an outcome.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import boto3

from recoup.domain import cadence, strategies
from recoup.domain.aggregate import StoredCase
from recoup.domain.case import CaseStatus
from recoup.domain.customer_requests import RequestMeta
from recoup.domain.instalments import InstalmentTerms, Interval
from recoup.domain.referral import NotificationStatus
from recoup.domain.retries import RetryPolicy
from recoup.integrations import shopify_http
from recoup.integrations.shopify_http import HttpRequest, HttpResponse
from recoup.services import instalment_plans, shopify_tasks
from recoup.services import shops as shop_service
from recoup.settings import get_settings
from recoup.store import cases as case_store
from recoup.store import contacts, policies
from recoup.store.data_requests import marker_sk
from recoup.store.models import shop_pk
from recoup_local.outbox import sent_messages
from tests.conftest import SHOP, STRIPE_ACCOUNT, event_json, save_expiring_token
from tests.fault_matrix.harness import Observation, World
from tests.sequence_support import save_policy, with_platform_stripe
from tests.shopify_fakes import answer

PENDING = event_json("shopify/order_pending.json")
CASE = str(PENDING["id"])
CUSTOMER_EMAIL = str(PENDING["email"])
CUSTOMER_PHONE = "+15035550142"
OPENED = datetime.fromisoformat(PENDING["updated_at"]).astimezone(UTC)
FIRST_STEP_DUE = OPENED + timedelta(days=1, hours=2)  # daytime in the customer's zone
# Runs of the scheduler after the first: past the sender's five-minute claim timeout, and
# well before the next step is due.
MINUTES = (0, 6, 12, 30)
REFERRAL_CHECK = OPENED + timedelta(days=30)
AGENCY = "claims@agency.example"
OWNER = "owner@demo-electronics.example"
HANDOVER_SECRET = "legal-firm-shared-secret"
AGENCY_THRESHOLDS = {
    "USD": {"agency_minimum": 5000, "legal_minimum": 500000, "write_off_below": 2500}
}
REDACT = event_json("shopify/customers_redact.json")
REDACTED_ORDER = str(event_json("shopify/order_voided.json")["id"])
DATA_REQUEST = event_json("shopify/customers_data_request.json")
TOKEN = "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"


@dataclass(frozen=True)
class Scenario:
    name: str
    function: str  # the consumer under test (its AWS calls are faulted)
    what: str  # what "done" means, for the report
    start: datetime
    representative: tuple[str, str]  # the call the quick subset fails
    run: Callable[[World], Observation]


# ---------------------------------------------------------------------- shared steps


def open_case(w: World, name: str = "order_pending", webhook_id: str = "wh-open") -> None:
    with w.setup():
        w.post_shopify(name, "orders/create", webhook_id)
        w.drain()


def ticks(w: World, first: datetime) -> None:
    for minutes in MINUTES:
        w.tick(first + timedelta(minutes=minutes))


def stored(case_id: str = CASE) -> StoredCase:
    found = case_store.load(SHOP, case_id)
    assert found is not None
    return found


def first_step(w: World, kind: str, to: str) -> Observation:
    """Step 1 of the sequence: sent once by `kind`, or recorded unknown, or pending."""
    dunning = stored().dunning
    assert dunning is not None
    recorded = [m for m in dunning.sent if m.step == 0]
    made = w.sent(kind, to)
    if recorded:
        channel = recorded[0].channel
        unknown = channel == "unknown" or recorded[0].outcome == "unknown"
        return Observation(
            done=channel == kind and not unknown,
            effects=made,
            unknown=unknown,
            detail=f"recorded {channel} ({recorded[0].outcome}), {made} {kind} sent",
        )
    trail = [str(e.body["summary"]) for e in case_store.audit_trail(SHOP, CASE)]
    refused = [t for t in trail if "step 1" in t and "undeliverable" in t]
    if refused and not (dunning.due and dunning.next_step == 0):
        # A permanent refusal: the address is marked, the step skipped, the trail says why.
        return Observation(done=False, effects=made, ended=refused[-1], detail=f"{made} sent")
    pending = None
    if dunning.claimed_step >= 0 and dunning.next_step == 0:
        pending = "step 1 claimed, never recorded"
    elif dunning.due and dunning.next_step == 0:
        pending = "step 1 still due after every scheduler run"
    return Observation(done=False, effects=made, pending=pending, detail=f"{made} {kind} sent")


# ---------------------------------------------------------------------- the event worker


def event_worker(w: World) -> Observation:
    """orders/paid for an open case (step 1 scheduled); then the step's due time passes."""
    open_case(w)
    w.post_shopify("order_paid", "orders/paid", "wh-paid")
    w.drain()
    ticks(w, FIRST_STEP_DUE)  # payment must win: nothing may be sent now
    case = stored()
    reminders = w.sent("email", CUSTOMER_EMAIL) + w.sent("sms", CUSTOMER_PHONE)
    paid = str(case.case.status) == "paid"
    stopped = case.dunning is not None and str(case.dunning.status) == "stopped"
    return Observation(
        done=paid and stopped and reminders == 0,
        detail=f"case {case.case.status}, {reminders} reminders after the payment",
    )


# ---------------------------------------------------------------------- scheduler and sender


def scheduler(w: World) -> Observation:
    open_case(w)
    ticks(w, FIRST_STEP_DUE)
    return first_step(w, "email", CUSTOMER_EMAIL)


def sender_email(w: World) -> Observation:
    open_case(w)
    ticks(w, FIRST_STEP_DUE)
    return first_step(w, "email", CUSTOMER_EMAIL)


def sender_sms(w: World) -> Observation:
    """A shop whose first step is a text message."""
    with w.setup():
        default = cadence.default_policy()
        sms_first = replace(default.steps[2], delay=timedelta(days=1), anchor=cadence.Anchor.OPENED)
        policies.save(SHOP, replace(default, steps=(sms_first, *default.steps[1:])), now=OPENED)
    open_case(w)
    ticks(w, FIRST_STEP_DUE)
    return first_step(w, "sms", CUSTOMER_PHONE)


# ---------------------------------------------------------------------- escalation, hand-over


class Receiver:
    """An agency's hand-over webhook on loopback; answers 200 and counts what it got."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.keys: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.received.append(self.rfile.read(int(self.headers["Content-Length"])))
                outer.keys.append(self.headers.get("Idempotency-Key") or "")
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/referrals"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def referred_case(w: World, *, legal_url: str | None) -> None:
    """An unpaid case whose sequence was spent 15 days before the referral check: to the
    agency by email (agency thresholds), or to legal by webhook (the default thresholds)."""
    with w.setup():
        doc: dict[str, Any] = {
            "version": 1,
            "agency": {
                "after_last_step_days": 14,
                "hand_over": {"channel": "email", "address": AGENCY},
            },
        }
        if legal_url:
            w.patch.setenv("RECOUP_HANDOVER_SECRET_LEGAL_FIRM", HANDOVER_SECRET)
            doc["legal"] = {
                "hand_over": {"channel": "webhook", "url": legal_url, "secret_ref": "legal-firm"}
            }
        else:
            doc["thresholds"] = AGENCY_THRESHOLDS
        policies.save_doc(SHOP, policies.REFERRAL, 1, doc, now=OPENED)
    open_case(w)
    with w.setup():
        case = stored()
        assert case.dunning is not None
        spent = OPENED + timedelta(days=15)
        case_store.save_dunning(case, case.dunning.spend(spent, "sequence spent"))


def handed_over(made: int, what: str, keys: list[str]) -> Observation:
    """`keys`: the Idempotency-Key of each copy the receiver got."""
    case = stored()
    referrals = case.referrals
    latest = referrals.latest if referrals else None
    if latest is None:
        return Observation(done=False, effects=made, detail=f"no referral; {made} {what}")
    status = latest.notification.status
    pending = None
    if status in (NotificationStatus.PENDING, NotificationStatus.RETRYING):
        pending = f"hand-over {status}, nothing will retry it"
    return Observation(
        done=status is NotificationStatus.DELIVERED,
        effects=made,
        pending=pending,
        keyed=len(set(keys)) == 1 and len(keys) == made,
        detail=f"{latest.kind} referral, hand-over {status}; {made} {what}",
    )


def agency_keys(w: World) -> list[str]:
    """The Idempotency-Key header of each email the agency got."""
    keys = []
    for message in sent_messages(w.region):
        if message.kind == "email" and AGENCY in message.to:
            parsed = message_from_bytes(message.content, policy=email_policy.default)
            keys.append(str(parsed.get("Idempotency-Key") or ""))
    return keys


def escalation(w: World) -> Observation:
    referred_case(w, legal_url=None)
    ticks(w, REFERRAL_CHECK)
    return handed_over(w.sent("email", AGENCY), "agency emails", agency_keys(w))


def handover_email(w: World) -> Observation:
    referred_case(w, legal_url=None)
    ticks(w, REFERRAL_CHECK)
    return handed_over(w.sent("email", AGENCY), "agency emails", agency_keys(w))


def handover_webhook(w: World) -> Observation:
    receiver = Receiver()
    try:
        referred_case(w, legal_url=receiver.url)
        ticks(w, REFERRAL_CHECK)
        keys = [k for k in receiver.keys if k]
        return handed_over(len(receiver.received), "webhook deliveries", keys)
    finally:
        receiver.close()


# ---------------------------------------------------------------------- privacy


def privacy_export(w: World) -> Observation:
    """customers/data_request: the export written, the merchant emailed once."""
    with w.setup():
        shop_service.install(SHOP, stripe_account=STRIPE_ACCOUNT, contact_email=OWNER)
    open_case(w)
    w.post_shopify("customers_data_request", "customers/data_request", "wh-export")
    w.drain()
    request_id = str(DATA_REQUEST["data_request"]["id"])
    key = f"exports/{SHOP}/{request_id}.json"
    with w.plan.armed(False):
        s3 = boto3.client("s3", region_name=w.region)
        listed = s3.list_objects_v2(Bucket=w.local.stack.refs["CaseFilesBucket"], Prefix=key)
        exported = bool(listed.get("Contents"))
        item = boto3.client("dynamodb", region_name=w.region).get_item(
            TableName=w.local.stack.refs["Table"],
            Key={"pk": {"S": shop_pk(SHOP)}, "sk": {"S": marker_sk(request_id)}},
        )
    status = item.get("Item", {}).get("status", {}).get("S")
    made = w.sent("email", OWNER)
    return Observation(
        done=exported and status == "emailed",
        unknown=exported and status == "emailed_outcome_unknown",
        effects=made,
        pending=f"data request marker {status}" if status == "claimed" else None,
        detail=f"export {'written' if exported else 'missing'}, marker {status}, {made} emails",
    )


def privacy_erasure(w: World) -> Observation:
    """customers/redact: the customer's case without their data, their items gone."""
    open_case(w, "order_voided", "wh-voided")
    w.post_shopify("customers_redact", "customers/redact", "wh-redact")
    w.drain()
    email = str(REDACT["customer"]["email"])
    case = stored(REDACTED_ORDER)
    with w.plan.armed(False):
        pages = boto3.client("dynamodb", region_name=w.region).get_paginator("scan")
        items = [
            item
            for page in pages.paginate(TableName=w.local.stack.refs["Table"])
            for item in page["Items"]
        ]
    left = [item["sk"]["S"] for item in items if email in json.dumps(item)]
    contact = contacts.contact_sk(email)
    left += [item["sk"]["S"] for item in items if item["sk"]["S"] == contact]
    erased = case.case.snapshot is not None and case.case.snapshot.customer is None
    return Observation(
        done=erased and not left,
        detail=f"case {'erased' if erased else 'still names the customer'}; {len(left)} items left",
    )


# ---------------------------------------------------------------------- Shopify tasks


class AdminApi:
    """The shop's GraphQL endpoint: every tagsAdd succeeds and is counted."""

    def __init__(self) -> None:
        self.tagged = 0

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.tagged += "tagsAdd" in request.body.decode()
        return answer({"tagsAdd": {"node": {"id": "x"}, "userErrors": []}})


# ---------------------------------------------------------------------- instalment plans

PLAN_AGREED = FIRST_STEP_DUE + timedelta(hours=1)
SECOND_INSTALMENT = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)  # 10:00 in Oregon
PLAN_TERMS = InstalmentTerms(enabled=True, max_count=3, intervals=(Interval.MONTHLY,))


def _stripe_events(w: World) -> None:
    """What the stand-in for Stripe sent, delivered to the (unfaulted) webhook function."""
    stand_in = w.local.stripe
    assert stand_in is not None
    while stand_in.events:
        body, headers = stand_in.delivery(stand_in.events.pop(0), w.local.stripe_secret)
        with w.plan.armed(False):
            reply = w.local.lambdas.invoke_http("POST", "/webhooks/stripe", headers, body)
        assert reply is not None and reply["statusCode"] == 200, reply
    w.drain()


def plan_charges(w: World) -> Observation:
    """A plan of three monthly instalments, the first paid at Checkout (set up unarmed);
    then the second's date comes: charged off-session once, and recorded."""
    stand_in = w.local.stripe
    assert stand_in is not None
    with_platform_stripe(w.patch, stand_in, lambda: w.now)
    with w.setup():
        save_policy(OPENED, instalments=PLAN_TERMS)
    open_case(w)
    ticks(w, FIRST_STEP_DUE)
    with w.setup():
        w.now = PLAN_AGREED
        meta = RequestMeta("203.0.113.50", "Mozilla/5.0")
        agreed = instalment_plans.agree(
            SHOP, CASE, count=3, interval="monthly", start=None, locale="en", meta=meta, now=w.now
        )
        url = instalment_plans.card_checkout(agreed, return_url=f"https://{SHOP}")
        stand_in.complete(url.rsplit("/", 1)[1], "visa")
        _stripe_events(w)
    ticks(w, SECOND_INSTALMENT)
    _stripe_events(w)
    get_settings.cache_clear()
    plan = stored().dunning_or_raise().plan
    assert plan is not None
    charged = [
        o
        for o in stand_in.objects.values()
        if o.get("object") == "payment_intent"
        and o.get("metadata", {}).get("recoup_instalment") == "2"
    ]
    second = plan.instalments[1]
    return Observation(
        done=second.paid,
        effects=len(charged),
        pending=None if second.paid else "instalment 2 still due",
        detail=f"{len(charged)} PaymentIntents for instalment 2, plan {plan.status}",
    )


# ---------------------------------------------------------------------- payment retries

RETRY_POLICY = RetryPolicy(enabled=True, max_retries=2, soft_delays=(timedelta(hours=12),))


def payment_retry(w: World) -> Observation:
    """A card saved for later is declined (insufficient funds, set up unarmed); twelve hours
    on the retry charges it off-session once, under one idempotency key, and is recorded."""
    stand_in = w.local.stripe
    assert stand_in is not None
    with_platform_stripe(w.patch, stand_in, lambda: w.now)
    with w.setup():
        save_policy(OPENED, retries=RETRY_POLICY)
    open_case(w)
    with w.setup():
        customer = stand_in.new_customer(STRIPE_ACCOUNT)
        stand_in.declined_saved_payment(
            STRIPE_ACCOUNT,
            customer=customer,
            amount=189900,
            currency="usd",
            metadata={"shop_domain": SHOP, "shopify_order_id": CASE},
            decline="insufficient_funds",
        )
        _stripe_events(w)
    ticks(w, OPENED + timedelta(hours=12, minutes=5))
    _stripe_events(w)
    get_settings.cache_clear()
    retried = [
        o
        for o in stand_in.objects.values()
        if o.get("object") == "payment_intent" and o.get("metadata", {}).get("recoup_retry")
    ]
    found = stored()
    recorded = found.dunning_or_raise().retry_log
    return Observation(
        done=found.case.status is CaseStatus.PAID and bool(recorded),
        effects=len(retried),
        pending=None if recorded else "retry 1 claimed, not recorded",
        keyed=True,
        detail=f"{len(retried)} retry PaymentIntents, {len(recorded)} recorded",
    )


# ---------------------------------------------------------------------- auto-cancel


class CancellingAdminApi:
    """The shop's GraphQL endpoint: the first orderCancel cancels, a repeat is told the
    order is cancelled already (as Shopify answers)."""

    def __init__(self) -> None:
        self.cancelled = 0
        self.calls = 0

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.calls += 1
        errors = []
        if self.cancelled:
            errors = [{"field": ["orderId"], "message": "Order has already been cancelled"}]
        else:
            self.cancelled = 1
        result = {"job": None if errors else {"id": "gid://shopify/Job/1"}}
        return answer({"orderCancel": {**result, "orderCancelUserErrors": errors}})


CANCEL_AFTER = 4


def auto_cancel(w: World) -> Observation:
    """The shop cancels bank transfers unpaid after four days: the last message goes, then
    the order is cancelled in Shopify once and the outcome recorded."""
    api = CancellingAdminApi()
    w.patch.setattr(shopify_http, "urllib_transport", api)
    with w.setup():
        save_expiring_token(SHOP, TOKEN, scopes="read_orders,write_customers,write_orders")
        transfers = strategies.Strategy(
            "transfers",
            "Bank transfers",
            strategies.Conditions(methods=frozenset({strategies.Method.BANK_TRANSFER})),
            policies.load(SHOP).steps[:1],
            cancel_after_days=CANCEL_AFTER,
        )
        save_policy(OPENED, strategies=(transfers,))
    open_case(w)
    ticks(w, OPENED + timedelta(days=CANCEL_AFTER, hours=2))
    dunning = stored().dunning_or_raise()
    return Observation(
        done=dunning.cancel_outcome == "cancelled",
        effects=api.cancelled,
        pending=None if dunning.cancel_outcome else "the cancellation not recorded",
        detail=f"{api.calls} orderCancel calls, outcome {dunning.cancel_outcome or 'none'}",
    )


def tasks(w: World) -> Observation:
    api = AdminApi()
    w.patch.setattr(shopify_http, "urllib_transport", api)
    with w.setup():
        save_expiring_token(SHOP, TOKEN)
        shopify_tasks.enqueue_tag(SHOP, CASE, "7001234567890", ["recoup:fraud"], "fraud: high")
    w.drain()
    return Observation(done=api.tagged >= 1, effects=api.tagged, detail=f"{api.tagged} tagsAdd")


SCENARIOS = {
    s.name: s
    for s in (
        Scenario(
            "event-worker",
            "EventWorkerFunction",
            "orders/paid applied, sequence stopped, no reminder after it",
            OPENED,
            ("dynamodb", "TransactWriteItems"),
            event_worker,
        ),
        Scenario(
            "scheduler",
            "SchedulerFunction",
            "step 1 queued, then sent once",
            OPENED,
            ("sqs", "SendMessageBatch"),
            scheduler,
        ),
        Scenario(
            "sender-email",
            "SenderFunction",
            "step 1 emailed once and recorded",
            OPENED,
            ("sesv2", "SendEmail"),
            sender_email,
        ),
        Scenario(
            "sender-sms",
            "SenderFunction",
            "step 1 texted once and recorded",
            OPENED,
            ("sns", "Publish"),
            sender_sms,
        ),
        Scenario(
            "escalation",
            "EscalationFunction",
            "referred once, hand-over queued and delivered",
            OPENED,
            ("sqs", "SendMessage"),
            escalation,
        ),
        Scenario(
            "handover-email",
            "HandOverFunction",
            "agency emailed once, notification delivered",
            OPENED,
            ("sesv2", "SendEmail"),
            handover_email,
        ),
        Scenario(
            "handover-webhook",
            "HandOverFunction",
            "webhook delivered once, notification delivered",
            OPENED,
            ("dynamodb", "TransactWriteItems"),
            handover_webhook,
        ),
        Scenario(
            "privacy-export",
            "PrivacyFunction",
            "export written, merchant emailed once",
            OPENED,
            ("sesv2", "SendEmail"),
            privacy_export,
        ),
        Scenario(
            "privacy-erasure",
            "PrivacyFunction",
            "customer's data erased from the case and the table",
            OPENED,
            ("dynamodb", "TransactWriteItems"),
            privacy_erasure,
        ),
        Scenario(
            "plan-charges",
            "PlanChargesFunction",
            "instalment 2 charged once and recorded",
            OPENED,
            ("dynamodb", "TransactWriteItems"),
            plan_charges,
        ),
        Scenario(
            "payment-retry",
            "PlanChargesFunction",
            "a declined card retried once off-session and recorded",
            OPENED,
            ("dynamodb", "TransactWriteItems"),
            payment_retry,
        ),
        Scenario(
            "auto-cancel",
            "PlanChargesFunction",
            "an unpaid transfer cancelled in Shopify once and recorded",
            OPENED,
            ("dynamodb", "TransactWriteItems"),
            auto_cancel,
        ),
        Scenario(
            "shopify-tasks",
            "ShopifyTasksFunction",
            "customer tagged",
            OPENED,
            ("kms", "Decrypt"),
            tasks,
        ),
    )
}
