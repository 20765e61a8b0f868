"""`recoup demo`'s strategies chapter: a second shop on the same local stack, with a reminder
policy of its own, and one scene for each thing that policy does.

`demo-wholesale.myshopify.com` is installed as the first shop was (token exchange, the shop
query, Connect OAuth with its own Stripe account); its merchant also approved the optional
`write_orders` scope, which cancelling orders needs. Its policy, tried in this order:

- "wholesale": orders on payment terms; the default steps, counted from the due date, and a
  courtesy reminder 3 days before it;
- "transfers": bank transfers; a friendly email after 3 days, a firm one 4 days later, and
  the order cancelled and restocked 10 days after it was placed if still unpaid;
- "cards": card payments; the default steps, in experiment `first-step`: control 45%, early
  45% (its first step 4 hours after the order instead of a day), holdout 10% (no reminders),
  150 cases an arm planned;
- and retries of a soft card decline, off-session, 12 hours apart, at most 2.

The scenes run one after the other on the simulated clock (the scheduler on its five-minute
marks, as in the main story); each order arrives as Shopify's signed webhook at the front:

a. a Net 30 order paid on its due date: the courtesy reminder before it, no other message;
b. a bank transfer never paid: its two reminders, the last message, the order cancelled and
   restocked in (the stand-in for) Shopify, whose orders/cancelled closes the case;
c. a card saved at checkout and declined for insufficient funds: retried 12 hours later
   off-session, paid, no message;
d. a card declined "do not try again": never retried; its first reminder goes as planned;
e. the experiment: 200 more card orders, one every 50 minutes for a week, each applied
   straight to the case store (`services.cases.apply_event`, as the worker applies a
   delivery, without HTTP or queues), then the experiment's figures per arm and its verdict.
   The scheduler never runs over them (it would send hundreds of reminders): this scene is
   the last and the clock goes no further.

Who pays in scene e, by a fixed rule: the n-th generated order of an arm (from 0, in the
order they were placed; the arm is the experiment's hash of the case, the one the worker
records) is paid `2 + n % 5` days after it was placed when `(n * rate) % 100 < rate`, where
rate is 30 for control, 42 for early and 18 for holdout: the paid orders are spread evenly
through each arm, `1 + (N - 1) * rate // 100` of an arm's N orders. The card orders of
scenes c and d are in the experiment too, in the arm their hash gives.
"""

from __future__ import annotations

import copy
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from typing import Any, Protocol

from recoup.domain import experiments, strategies
from recoup.domain.aggregate import StoredCase
from recoup.domain.cadence import Anchor, Channel, ReminderPolicy, Step, Tone
from recoup.domain.experiments import Arm, Experiment
from recoup.domain.money import Money
from recoup.domain.retries import RetryPolicy
from recoup.domain.strategies import Conditions, Method, Strategy
from recoup.integrations import shopify
from recoup.integrations.shopify_version import API_VERSION
from recoup.services import cases, experiment_results
from recoup.store import cases as case_store
from recoup.store import policies, shops
from recoup_local import install_demo, report
from recoup_local import outbox as outbox_module
from recoup_local.shopify_tokens import ShopApi
from recoup_local.stack import LocalStack
from recoup_local.template import ROOT

SHOP = "demo-wholesale.myshopify.com"
STRIPE_ACCOUNT = "acct_1DemoWholesale"
REPLY_TO = "accounts@demo-wholesale.example"
ORDER = ROOT / "tests" / "events" / "shopify" / "order_pending.json"
ORDER_IDS = 5960380000000000000  # an order's id: this plus its number
# 09:00 in Portland, Oregon, where the customers live: within the hours messages may go.
NET30_PLACED = datetime(2027, 1, 4, 17, 0, tzinfo=UTC)
NET30_DUE = "2027-02-03T00:00:00-08:00"  # midnight in Portland, 30 days on
NET30_PAID = datetime(2027, 2, 3, 17, 0, tzinfo=UTC)
TRANSFER_PLACED = datetime(2027, 2, 8, 17, 0, tzinfo=UTC)
SOFT_DECLINE_PLACED = datetime(2027, 2, 22, 17, 0, tzinfo=UTC)
HARD_DECLINE_PLACED = datetime(2027, 2, 24, 17, 0, tzinfo=UTC)
DECLINED_AFTER = timedelta(minutes=10)
# Each order and payment applied costs about 55 ms of CPU on the emulator (moto over loopback):
# 200 orders and their payments take about 14 s.
EXPERIMENT_ORDERS = 200
EXPERIMENT_START = datetime(2027, 3, 1, 17, 0, tzinfo=UTC)
EXPERIMENT_SPACING = timedelta(minutes=50)  # 200 orders in 6 days 22 hours
FIRST_EXPERIMENT_ORDER = 3000
PAY_RATES = {"control": 30, "early": 42, "holdout": 18}  # percent of each arm's orders


class Clock(Protocol):
    """The demo's simulated month, as the chapter drives it."""

    now: datetime
    runs: int

    def advance_to(self, target: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer of the wholesale shop; they all live in Portland, Oregon."""

    first: str
    last: str
    street: str
    phone: str

    @property
    def email(self) -> str:
        return f"{self.first}.{self.last}@example.com".lower()


ROSA = Customer("Rosa", "Mendes", "810 SE Belmont St", "+15035550171")
JONAS = Customer("Jonas", "Berg", "1520 NE Alberta St", "+15035550172")
AISHA = Customer("Aisha", "Khan", "3304 SE Division St", "+15035550173")
TOM = Customer("Tom", "Walsh", "455 N Mississippi Ave", "+15035550174")


@dataclass(frozen=True, slots=True)
class Chapter:
    """What the chapter needs of the running demo."""

    local: LocalStack
    front: str
    month: Clock
    out: Callable[[str], None]

    @property
    def shop_api(self) -> ShopApi:
        tokens = self.local.shopify_tokens
        api = tokens.inner if tokens is not None else None
        if not isinstance(api, ShopApi):
            raise RuntimeError("the stack has no stand-in for Shopify's Admin API")
        return api


def run(local: LocalStack, front: str, month: Clock, out: Callable[[str], None]) -> str:
    """The chapter, printed with `out`; returns its summary, a heading and a line a scene,
    for the demo to print last."""
    chapter = Chapter(local, front, month, out)
    runs = month.runs
    out(f"\nStrategies: a second shop, {SHOP}, on the same stack (times UTC)")
    _install(chapter)
    said = [
        _net_30(chapter),
        _bank_transfer(chapter),
        _soft_decline(chapter),
        _hard_decline(chapter),
        _experiment(chapter),
        f"scheduler ran {month.runs - runs} more times with work to do",
    ]
    return "\n".join([f"\nSummary of the strategies chapter ({SHOP})", *(f"  {s}" for s in said)])


# --- the shop and its policy ------------------------------------------------------------------


def policy_for(base: ReminderPolicy, now: datetime, *, version: int) -> ReminderPolicy:
    """The wholesale shop's policy: `base` (the default) with its three strategies and
    retries, as version `version`; its experiment starts at `now`."""
    steps = base.steps
    transfer_steps = (
        Step(timedelta(days=3), Anchor.OPENED, Channel.EMAIL, "friendly", Tone.FRIENDLY, True),
        Step(timedelta(days=4), Anchor.PREVIOUS, Channel.EMAIL, "firm", Tone.FIRM, True),
    )
    experiment = Experiment(
        "first-step",
        (Arm("control", 45), Arm("early", 45), Arm("holdout", 10, holdout=True)),
        now,
        planned_cases_per_arm=150,
    )
    early = (replace(steps[0], delay=timedelta(hours=4)), *steps[1:])
    chosen = (
        Strategy(
            "wholesale",
            "Wholesale on terms",
            Conditions(payment_terms=True),
            steps,
            courtesy_days=3,
        ),
        Strategy(
            "transfers",
            "Bank transfers",
            Conditions(methods=frozenset({Method.BANK_TRANSFER})),
            transfer_steps,
            cancel_after_days=10,
        ),
        Strategy(
            "cards",
            "Cards",
            Conditions(methods=frozenset({Method.CARD})),
            steps,
            experiment=experiment,
            variants={"early": early},
        ),
    )
    retries = RetryPolicy(enabled=True, max_retries=2, soft_delays=(timedelta(hours=12),))
    return replace(base, version=version, strategies=chosen, retries=retries)


def _install(chapter: Chapter) -> None:
    local, out = chapter.local, chapter.out
    if local.stripe is None or local.shopify_tokens is None:
        raise RuntimeError("the chapter needs the stand-ins for Stripe and Shopify")
    local.stripe.account = STRIPE_ACCOUNT  # the account this merchant picks on Stripe's page
    local.shopify_tokens.optional_granted.add(SHOP)  # and approves write_orders in Shopify
    installed = install_demo.install(local, chapter.front, SHOP, reply_to=REPLY_TO)
    stored = policies.load_doc(SHOP, policies.REMINDERS)
    base = policies.load(SHOP, shop_timezone=installed.timezone)
    version = stored[0] + 1 if stored else 1  # a save is one version ahead of the stored
    policy = policy_for(base, chapter.month.now, version=version)
    policies.save(SHOP, policy, now=chapter.month.now)
    item = shops.get_fresh(SHOP)
    scopes = ", ".join((item.scopes or "").split(",")) if item else "none"
    out(
        f"Installed {SHOP} by token exchange: {installed.shop_name} "
        f"<{installed.contact_email}>; replies to {installed.reply_to}"
    )
    out(f"Access granted by the merchant: {scopes} (write_orders: to cancel unpaid orders)")
    out(f"Stripe connected through Connect OAuth: {installed.stripe_account}")
    out(f"Reminder policy (version {policy.version}); its strategies, tried in order:")
    for line in policy_lines(policy):
        out(line)


def policy_lines(policy: ReminderPolicy) -> list[str]:
    """The policy's strategies and retries, a line each, as a merchant reads them."""
    lines = []
    for number, strategy in enumerate(strategies.in_force(policy), 1):
        label = f"{number}." if strategy.id != strategies.DEFAULT_ID else "  "
        lines.append(
            f"  {label} {strategy.id:<10} {_when_words(strategy.conditions):<24} "
            f"{_strategy_words(strategy, policy)}"
        )
    retry = policy.retries
    if retry.enabled:
        lines.append(
            "  retries: a soft decline of a card saved for later is retried off-session "
            f"{_span(retry.delay_before(1))} later, at most {retry.max_retries} times"
        )
    return lines


def _when_words(conditions: Conditions) -> str:
    if conditions.payment_terms:
        return "orders on payment terms"
    if conditions.methods:
        return "paid by " + " or ".join(sorted(m.replace("_", " ") for m in conditions.methods))
    return "every other case"


def _strategy_words(strategy: Strategy, policy: ReminderPolicy) -> str:
    own = strategy.id == strategies.DEFAULT_ID or strategy.steps != policy.steps
    said = [_steps_words(strategy.steps) if own else "the default steps"]
    if strategy.courtesy_days:
        said[0] += ", counted from the due date"
        said.append(f"a courtesy reminder {_span(timedelta(days=strategy.courtesy_days))} before")
    if strategy.cancel_after_days:
        days = _span(timedelta(days=strategy.cancel_after_days))
        said.append(f"the order cancelled and restocked {days} after it was placed, if unpaid")
    if strategy.experiment is not None:
        said.append(_experiment_words(strategy, strategy.experiment))
    return "; ".join(said)


def _experiment_words(strategy: Strategy, experiment: Experiment) -> str:
    arms = []
    for arm in experiment.arms:
        note = " (no reminders)" if arm.holdout else ""
        variant = strategy.variants.get(arm.id)
        if variant is not None and variant[0].delay != strategy.steps[0].delay:
            note = f" (first step after {_span(variant[0].delay)})"
        arms.append(f"{arm.id} {arm.weight}%{note}")
    return (
        f"experiment {experiment.id}: {', '.join(arms)}, "
        f"{experiment.planned_cases_per_arm} cases an arm planned"
    )


_CHANNELS = {Channel.EMAIL: "email", Channel.SMS: "SMS", Channel.EMAIL_THEN_SMS: "email (or SMS)"}


def _steps_words(steps: Iterable[Step]) -> str:
    said = []
    for index, step in enumerate(steps):
        later = index > 0 and step.anchor is Anchor.PREVIOUS
        when = f"{_span(step.delay)} later" if later else f"after {_span(step.delay)}"
        said.append(f"{step.tone.replace('_', ' ')} {_CHANNELS[step.channel]} {when}")
    return ", ".join(said)


def _span(delta: timedelta) -> str:
    if delta % timedelta(days=1):
        hours = int(delta.total_seconds() // 3600)
        return f"{hours} hour{'s' * (hours != 1)}"
    return f"{delta.days} day{'s' * (delta.days != 1)}"


# --- orders and deliveries --------------------------------------------------------------------


def order(
    number: int,
    customer: Customer,
    *,
    gateway: str | None,
    placed: datetime,
    terms: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The pending order fixture as this shop's order #`number` of `customer`, placed at
    `placed` (its own ids, tokens, address and browser, so no fraud rule sees one buyer
    placing many orders); `gateway` None: nothing to pay at checkout."""
    data: dict[str, Any] = json.loads(ORDER.read_bytes())
    order_id = ORDER_IDS + number
    customer_id = 7412600000000000000 + number
    stamp = placed.isoformat()
    ip = f"198.51.100.{number % 250}" if number % 2 else f"203.0.113.{number % 250}"
    data.update(
        id=order_id,
        admin_graphql_api_id=f"gid://shopify/Order/{order_id}",
        name=f"#{number}",
        number=number - 1000,
        order_number=number,
        email=customer.email,
        contact_email=customer.email,
        browser_ip=ip,
        token=f"{number:032x}",
        cart_token=f"wholesale-cart-{number}",
        checkout_token=f"{number:032x}",
        checkout_id=47598271040000 + number,
        confirmation_number=f"WHOLE{number}",
        created_at=stamp,
        processed_at=stamp,
        updated_at=stamp,
        payment_gateway_names=[gateway] if gateway else [],
        tags="bank-transfer" if gateway == "Bank Deposit" else "",
        order_status_url=f"https://{SHOP}/84736291099/orders/{number:032x}/authenticate",
        payment_terms=terms,
    )
    data["client_details"] = {**data["client_details"], "browser_ip": ip}
    person = {
        "first_name": customer.first,
        "last_name": customer.last,
        "name": f"{customer.first} {customer.last}",
        "address1": customer.street,
        "address2": None,
        "phone": customer.phone,
    }
    for kind in ("shipping_address", "billing_address"):
        data[kind] = {**data[kind], **person}
    buyer = copy.deepcopy(data["customer"])
    buyer.update(
        id=customer_id,
        email=customer.email,
        first_name=customer.first,
        last_name=customer.last,
        created_at=stamp,
        updated_at=stamp,
        admin_graphql_api_id=f"gid://shopify/Customer/{customer_id}",
    )
    buyer["default_address"] = {**buyer["default_address"], **person, "customer_id": customer_id}
    data["customer"] = buyer
    return data


def net_30_terms(placed: datetime, *, paid_at: datetime | None = None) -> dict[str, Any]:
    """Shopify's payment terms "Net 30": one schedule, due 30 days on; completed when paid."""
    schedule = {
        "id": 606405506930370001,
        "payment_terms_id": 706405506930370001,
        "amount": "1899.00",
        "currency": "USD",
        "issued_at": placed.isoformat(),
        "due_at": NET30_DUE,
        "completed_at": paid_at.isoformat() if paid_at else None,
    }
    return {
        "id": 706405506930370001,
        "payment_terms_name": "Net 30",
        "payment_terms_type": "net",
        "due_in_days": 30,
        "payment_schedules": [schedule],
    }


def as_paid(data: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The order as its orders/paid webhook states it."""
    return {
        **data,
        "financial_status": "paid",
        "total_outstanding": "0.00",
        "updated_at": at.isoformat(),
    }


def _headers(body: bytes, secret: str, topic: str, webhook_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": shopify.sign(body, secret),
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-API-Version": API_VERSION,
    }


def _deliver(chapter: Chapter, data: dict[str, Any], topic: str, at: datetime) -> None:
    """Shopify's signed webhook about the order, posted to the front at `at`, and applied."""
    chapter.month.advance_to(at)
    body = json.dumps({**data, "updated_at": at.isoformat()}).encode()
    hook = f"wholesale-{data['order_number']}-{topic.replace('/', '-')}"
    headers = _headers(body, chapter.local.shopify_secret, topic, hook)
    request = urllib.request.Request(  # noqa: S310 - the local front, on loopback
        f"{chapter.front}/webhooks/shopify", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            status = int(answer.status)
    except urllib.error.HTTPError as error:
        status = error.code
    if status != 200:
        raise RuntimeError(f"{topic} for {data['name']}: the front answered {status}")
    chapter.local.lambdas.drain()


def _declined(chapter: Chapter, data: dict[str, Any], code: str, at: datetime) -> None:
    """The order's payment at checkout with a card the customer saved for later payments,
    declined with `code`: Stripe's payment_intent.payment_failed goes to the front."""
    stripe = chapter.local.stripe
    if stripe is None:
        raise RuntimeError("the chapter needs the stand-in for Stripe")
    chapter.month.advance_to(at)
    owed = _stored(str(data["id"])).case.amount_owed
    if owed is None:
        raise RuntimeError(f"{data['name']} owes nothing")
    stripe.declined_saved_payment(
        STRIPE_ACCOUNT,
        customer=stripe.new_customer(STRIPE_ACCOUNT),
        amount=owed.minor,
        currency=owed.currency.lower(),
        metadata={"shop_domain": SHOP, "shopify_order_id": str(data["id"])},
        decline=code,
    )
    chapter.local.lambdas.drain()


# --- reading a case back ----------------------------------------------------------------------


def _stored(case_id: str) -> StoredCase:
    found = case_store.load(SHOP, case_id)
    if found is None:
        raise RuntimeError(f"no case {case_id} in {SHOP}")
    return found


def _at(value: datetime | None) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M}" if value else "never"


def _taken(chapter: Chapter, case_id: str) -> StoredCase:
    """Print the strategy that took the case and why; returns the case."""
    stored = _stored(case_id)
    doc = report.stored_json(stored, [])
    arm = f", arm {doc['experiment_arm']}" if doc["experiment_arm"] else ""
    chapter.out(f"     taken by strategy {doc['strategy']}{arm}: {doc['strategy_why']}")
    return stored


def _next(stored: StoredCase) -> str:
    """What the case does next and when, in words."""
    due = case_store.next_due(stored)
    if due is None:
        return "nothing more is scheduled"
    return f"next: {report.stored_json(stored, [])['next_step']}, {_at(due[0])}"


def _trail(chapter: Chapter, case_id: str, *, after: int = 0) -> int:
    """Print the case's timeline from entry `after` on, as the main story prints a case's;
    returns how many entries it has."""
    entries = cases.timeline(SHOP, case_id)
    for line in report.timeline_lines(entries[after:]):
        chapter.out(f"   {line}")
    return len(entries)


def _several(count: int, thing: str, things: str = "") -> str:
    """'no reminder', '1 reminder', '2 reminders'."""
    if count == 0:
        return f"no {thing}"
    return f"{count} {thing}" if count == 1 else f"{count} {things or thing + 's'}"


def _count(case_id: str, kind: str) -> int:
    return sum(1 for entry in cases.timeline(SHOP, case_id) if entry.body.get("kind") == kind)


def _messages_to(chapter: Chapter, customer: Customer) -> list[outbox_module.Sent]:
    sent = outbox_module.sent_messages(chapter.local.stack.region)
    return [m for m in sent if m.to in (customer.email, customer.phone)]


def _print_messages(chapter: Chapter, customer: Customer) -> int:
    """Each message the customer got: its subject and the sentence that says what it is
    about; returns how many."""
    messages = _messages_to(chapter, customer)
    for message in messages:
        chapter.out(f'     {message.kind} to {message.to}: "{message.subject.strip()}"')
        gist = _gist(message)
        if gist:
            chapter.out(f"       {gist}")
    return len(messages)


_PARAGRAPHS = re.compile(r"\r?\n[ \t]*\r?\n")


def _gist(message: outbox_module.Sent) -> str:
    """The first sentence of the message about this payment: after the greeting, past the
    thanks for the order and the reminder that it is unpaid."""
    if message.kind != "email":
        return message.content.decode()
    parsed = message_from_bytes(message.content, policy=email_policy.default)
    part = parsed.get_body(preferencelist=("plain",))
    text = str(part.get_content()) if isinstance(part, EmailMessage) else ""
    paragraphs = [" ".join(p.split()) for p in _PARAGRAPHS.split(text) if p.strip()]
    greeting = next((i for i, p in enumerate(paragraphs) if p.startswith("Hi ")), 0)
    for paragraph in paragraphs[greeting + 1 :]:
        if not paragraph.startswith("Thank you for your order") and " is still not " not in (
            paragraph
        ):
            return paragraph.split(". ", 1)[0].rstrip(".") + "."
    return ""


# --- the scenes -------------------------------------------------------------------------------


def _net_30(chapter: Chapter) -> str:
    out = chapter.out
    placed = NET30_PLACED
    data = order(2001, ROSA, gateway=None, placed=placed, terms=net_30_terms(placed))
    case_id = str(data["id"])
    out(f"\na. #2001, USD 1,899.00 on payment terms Net 30 (due {NET30_DUE[:10]}); nothing paid")
    _deliver(chapter, data, "orders/create", placed)
    stored = _taken(chapter, case_id)
    dunning = stored.dunning
    due, first = (dunning.anchor_at, dunning.next_at) if dunning else (None, None)
    out(f"     waits for its due date, {_at(due)}: its first reminder is due {_at(first)}")
    out(f"     {_next(stored)}")
    paid = as_paid(data, NET30_PAID)
    paid["payment_terms"] = net_30_terms(placed, paid_at=NET30_PAID)
    _deliver(chapter, paid, "orders/paid", NET30_PAID)
    _trail(chapter, case_id)
    messages = _print_messages(chapter, ROSA)
    after = _stored(case_id)
    reminders = _count(case_id, "reminder.sent")
    out(
        f"     outcome: paid on its due date, case {after.case.status}; "
        f"{_several(reminders, 'reminder')}; {_next(after)}"
    )
    return (
        f"a. Net 30 order #2001: {_several(messages, 'message')} (the courtesy reminder 3 days "
        f"before), case {after.case.status} on its due date; {_several(reminders, 'reminder')}"
    )


def _bank_transfer(chapter: Chapter) -> str:
    out = chapter.out
    placed = TRANSFER_PLACED
    data = order(2002, JONAS, gateway="Bank Deposit", placed=placed)
    case_id = str(data["id"])
    out("\nb. #2002, USD 1,899.00 by bank transfer; never paid")
    _deliver(chapter, data, "orders/create", placed)
    stored = _taken(chapter, case_id)
    cancel_at = stored.dunning.cancel_at if stored.dunning else None
    out(f"     {_next(stored)}; the last message and the cancellation: {_at(cancel_at)}")
    chapter.month.advance_to((cancel_at or placed) + timedelta(hours=1))
    seen = _trail(chapter, case_id)
    messages = _print_messages(chapter, JONAS)
    gid = f"gid://shopify/Order/{case_id}"
    restocked = chapter.shop_api.cancelled.get(SHOP, {}).get(gid)
    held = "not cancelled" if restocked is None else "cancelled" + " and restocked" * restocked
    out(f"     Shopify (the stand-in) holds order {gid} {held}")
    cancelled = {**data, "cancelled_at": chapter.month.now.isoformat()}
    cancelled.update(cancel_reason="declined", financial_status="voided")
    _deliver(chapter, cancelled, "orders/cancelled", chapter.month.now + timedelta(minutes=20))
    _trail(chapter, case_id, after=seen)
    status = _stored(case_id).case.status
    reminders = _count(case_id, "reminder.sent")
    out(f"     outcome: Shopify's orders/cancelled closed the case: {status}")
    return (
        f"b. bank transfer #2002: {_several(reminders, 'reminder')} and the last message "
        f"({_several(messages, 'email')}), the order {held} in Shopify; case {status}"
    )


def _soft_decline(chapter: Chapter) -> str:
    out = chapter.out
    placed = SOFT_DECLINE_PLACED
    data = order(2003, AISHA, gateway="stripe", placed=placed)
    case_id = str(data["id"])
    out("\nc. #2003, USD 1,899.00 by card, saved for later and declined: insufficient funds")
    _deliver(chapter, data, "orders/create", placed)
    _declined(chapter, data, "insufficient_funds", placed + DECLINED_AFTER)
    stored = _taken(chapter, case_id)
    dunning = stored.dunning
    retry_at, first = (dunning.retry_at, dunning.next_at) if dunning else (None, None)
    out(f"     {dunning.retry_why if dunning else 'no retry planned'}")
    out(f"     its first reminder is due {_at(first)}")
    chapter.month.advance_to((retry_at or placed) + timedelta(minutes=30))
    _trail(chapter, case_id)
    messages = len(_messages_to(chapter, AISHA))
    after = _stored(case_id)
    retries = len(after.dunning.retry_log) if after.dunning else 0
    out(
        f"     outcome: case {after.case.status} by the retry, {after.case.recovered or 'nothing'} "
        f"recovered; {_several(messages, 'message')} sent"
    )
    return (
        f"c. card #2003 declined for insufficient funds: {_several(retries, 'retry', 'retries')} "
        f"off-session 12 hours later, case {after.case.status}; {_several(messages, 'message')}"
    )


def _hard_decline(chapter: Chapter) -> str:
    out = chapter.out
    placed = HARD_DECLINE_PLACED
    data = order(2004, TOM, gateway="stripe", placed=placed)
    case_id = str(data["id"])
    out("\nd. #2004, USD 1,899.00 by card, saved for later and declined: do not try again")
    _deliver(chapter, data, "orders/create", placed)
    _declined(chapter, data, "do_not_try_again", placed + DECLINED_AFTER)
    stored = _taken(chapter, case_id)
    dunning = stored.dunning
    out(f"     {dunning.retry_why if dunning else 'no retry planned'}")
    out(f"     {_next(stored)}")
    first = dunning.next_at if dunning else None
    chapter.month.advance_to((first or placed) + timedelta(minutes=30))
    _trail(chapter, case_id)
    _print_messages(chapter, TOM)
    after = _stored(case_id)
    reminders = _count(case_id, "reminder.sent")
    retries = len(after.dunning.retry_log) if after.dunning else 0
    tried = "never retried" if retries == 0 else _several(retries, "retry", "retries")
    out(f"     outcome: case {after.case.status}, {tried}; {_next(after)}")
    return (
        f"d. card #2004 declined, do not try again: {_several(retries, 'retry', 'retries')}; "
        f"{_several(reminders, 'reminder')} sent as planned, {_next(after)}"
    )


# --- the experiment ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Happening:
    """One delivery about the experiment's orders: when, which topic, the order as sent."""

    at: datetime
    topic: str
    data: dict[str, Any]


def experiment_orders(experiment: Experiment) -> list[Happening]:
    """The experiment's orders and payments in time order, by the module's fixed rule."""
    counts: dict[str, int] = {}
    happenings = []
    for index in range(EXPERIMENT_ORDERS):
        number = FIRST_EXPERIMENT_ORDER + index
        placed = EXPERIMENT_START + index * EXPERIMENT_SPACING
        buyer = Customer("Buyer", f"{number}", f"{index + 1} SW Oak St", f"+1503556{number:04d}")
        data = order(number, buyer, gateway="stripe", placed=placed)
        happenings.append(Happening(placed, "orders/create", data))
        arm = experiments.assign(experiment, SHOP, str(data["id"])).id
        n = counts.get(arm, 0)
        counts[arm] = n + 1
        rate = PAY_RATES[arm]
        if (n * rate) % 100 < rate:
            paid_at = placed + timedelta(days=2 + n % 5)
            happenings.append(Happening(paid_at, "orders/paid", as_paid(data, paid_at)))
    return sorted(happenings, key=lambda h: h.at)


def _apply(happening: Happening, secret: str, month: Clock) -> None:
    """The delivery as the worker applies it, without HTTP or queues; the clock at its time."""
    month.now = happening.at
    body = json.dumps({**happening.data, "updated_at": happening.at.isoformat()}).encode()
    topic = happening.topic
    hook = f"wholesale-x-{happening.data['order_number']}-{topic.replace('/', '-')}"
    event = shopify.normalise(shopify.read_delivery(_headers(body, secret, topic, hook)), body)
    if event is None or cases.apply_event(event, now=happening.at) is None:
        raise RuntimeError(f"{topic} for {happening.data['name']} was not applied")


def _experiment(chapter: Chapter) -> str:
    out = chapter.out
    policy = policies.load(SHOP)
    experiment = _cards_experiment(policy)
    happenings = experiment_orders(experiment)
    placed = [h.at for h in happenings if h.topic == "orders/create"]
    paid = [h.at for h in happenings if h.topic == "orders/paid"]
    out(
        f"\ne. Experiment {experiment.id} of strategy cards: {len(placed)} more card orders, "
        f"one every {EXPERIMENT_SPACING.seconds // 60} minutes from {_at(placed[0])} to "
        f"{_at(placed[-1])}"
    )
    out("     each applied straight to the case store, as the worker would; no scheduler runs")
    rates = ", ".join(f"{arm} {rate}" for arm, rate in PAY_RATES.items())
    out(
        "     who pays: the n-th order of an arm (from 0) is paid 2 + n % 5 days after it was "
        f"placed when (n x rate) % 100 < rate; rate: {rates}"
    )
    for happening in happenings:
        _apply(happening, chapter.local.shopify_secret, chapter.month)
    out(f"     {len(paid)} of them paid, the last on {_at(max(paid))}; in it too: {_earlier()}")
    figures = next(
        f for f in experiment_results.figures(SHOP, policy) if f["experiment"] == experiment.id
    )
    for line in experiment_table(figures):
        out(line)
    return _experiment_summary(experiment, figures)


def _cards_experiment(policy: ReminderPolicy) -> Experiment:
    cards = strategies.find(policy, "cards")
    if cards is None or cards.experiment is None:
        raise RuntimeError("the shop's cards strategy runs no experiment")
    return cards.experiment


def _earlier() -> str:
    """The card orders of scenes c and d, which are in the experiment too."""
    said = []
    for number in (2003, 2004):
        stored = _stored(str(ORDER_IDS + number))
        arm = stored.dunning.arm if stored.dunning else "-"
        said.append(f"#{number} (arm {arm}, {stored.case.status})")
    return ", ".join(said)


def _experiment_summary(experiment: Experiment, figures: dict[str, Any]) -> str:
    rates = ", ".join(f"{a['arm']} {_percent(a['recovery_rate'])}" for a in figures["arms"])
    verdict = f"arm {figures['winner']} wins" if figures["winner"] else "no winner yet"
    total = sum(a["cases"] for a in figures["arms"])
    return f"e. experiment {experiment.id}: {total} cases, recovered {rates}; {verdict}"


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def _points(value: float) -> str:
    return f"{value * 100:+.1f}"


# (heading, width; negative: aligned left)
_COLUMNS = (
    ("arm", -8),
    ("cases", 5),
    ("paid", 4),
    ("rate", 6),
    ("95% interval", -14),
    ("recovered", 14),
    ("median days", 11),
    ("unsubscribes", 12),
    ("complaints", 10),
    ("over holdout (95% interval)", -1),
)


def _row(values: Iterable[str]) -> str:
    cells = [
        value.ljust(-width) if width < 0 else value.rjust(width)
        for value, (_, width) in zip(values, _COLUMNS, strict=True)
    ]
    return "     " + "  ".join(cells).rstrip()


def experiment_table(figures: dict[str, Any]) -> list[str]:
    """An experiment's figures (`experiment_results.figures`), a row per arm: cases, paid,
    recovery rate and its 95% interval, amount recovered, median days to pay, unsubscribe and
    complaint rates, and the lift over the holdout with its 95% interval; then the verdict
    and the test that gave it."""
    over = {c["arm"]: c for c in figures["over_holdout"]}
    lines = [_row(heading for heading, _ in _COLUMNS)]
    for arm in figures["arms"]:
        low, high = arm["recovery_ci"]
        recovered = ", ".join(str(Money.of(r["minor"], r["currency"])) for r in arm["recovered"])
        median = arm["median_days_to_pay"]
        lift = over.get(arm["arm"])
        lines.append(
            _row(
                (
                    arm["arm"],
                    str(arm["cases"]),
                    str(arm["paid"]),
                    _percent(arm["recovery_rate"]),
                    f"{_percent(low)}-{_percent(high)}",
                    recovered or "-",
                    "-" if median is None else f"{median:.1f}",
                    _percent(arm["unsubscribe_rate"]),
                    _percent(arm["complaint_rate"]),
                    (
                        f"{_points(lift['incremental_recovery'])} points "
                        f"({_points(lift['ci'][0])} to {_points(lift['ci'][1])})"
                        if lift
                        else "(the holdout: no reminders)"
                    ),
                )
            )
        )
    winner = figures["winner"]
    lines.append(f"     verdict: {f'winner {winner}: ' if winner else ''}{figures['why']}")
    lines.append(f"     test: {figures['test']}")
    return lines


__all__ = [
    "EXPERIMENT_ORDERS",
    "PAY_RATES",
    "SHOP",
    "Customer",
    "as_paid",
    "experiment_orders",
    "experiment_table",
    "net_30_terms",
    "order",
    "policy_for",
    "policy_lines",
    "run",
]
