"""The business metrics where the facts happen, on the in-process stack with metrics on:
webhook deliveries by what they were answered, a case counted once when it opens, what a
chased case recovered, and reminders sent, held and failed, each with its dimensions."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recoup import clock
from recoup.observability import metrics
from recoup.services import cases
from tests.conftest import SHOP, event_bytes, event_json, shopify_headers, stripe_headers
from tests.faults import FaultPlan

PENDING = event_json("shopify/order_pending.json")
PENDING_ID = str(PENDING["id"])
OPENED = datetime.fromisoformat(PENDING["updated_at"]).astimezone(UTC)
STEP_1_DUE = OPENED + timedelta(days=1, hours=2)  # 09:15 in Oregon: not quiet hours
NIGHT = datetime(2026, 11, 3, 15, 20, tzinfo=UTC)  # 07:20 in Oregon: quiet hours

# (metric, its dimensions but service, value) of each business metric printed
Emitted = Callable[[str], list[tuple[dict[str, str], float]]]


@pytest.fixture
def emitted(
    local: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Emitted]:
    """Metrics on; the EMF records printed since, by metric name."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.clear_metrics()  # what earlier tests left unflushed (their metrics were off)
    capsys.readouterr()
    printed: list[dict[str, Any]] = []

    def read(name: str) -> list[tuple[dict[str, str], float]]:
        out = capsys.readouterr().out
        printed.extend(json.loads(line) for line in out.splitlines() if '"_aws"' in line)
        found = []
        for record in printed:
            for directive in record["_aws"]["CloudWatchMetrics"]:
                if name in [metric["Name"] for metric in directive["Metrics"]]:
                    (dimensions,) = directive["Dimensions"]
                    assert record["service"] == "recoup"
                    values = {d: record[d] for d in dimensions if d != "service"}
                    value = record[name]
                    found.append((values, sum(value) if isinstance(value, list) else value))
        return found

    yield read
    metrics.clear_metrics()


@pytest.fixture
def at(local: Any) -> Iterator[Any]:
    class Clock:
        now = OPENED

    clock.use(lambda: Clock.now)
    yield Clock
    clock.use(None)


def shopify(local: Any, name: str, topic: str, webhook_id: str, secret: str = "") -> int:
    body = event_bytes(f"shopify/{name}.json")
    headers = shopify_headers(body, secret or local.shopify_secret, topic, webhook_id=webhook_id)
    answer = local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
    local.lambdas.drain()
    return int(answer["statusCode"])


def stripe(local: Any, name: str) -> int:
    body = event_bytes(f"stripe/{name}.json")
    headers = stripe_headers(body, local.stripe_secret)
    answer = local.lambdas.invoke_http("POST", "/webhooks/stripe", headers, body)
    local.lambdas.drain()
    return int(answer["statusCode"])


def run_scheduler(local: Any, at: Any, when: datetime) -> None:
    at.now = when
    local.lambdas.run_schedules(when)
    local.lambdas.drain()


def owed_minor() -> int:
    [case] = cases.list_cases(SHOP)
    assert case.amount_owed is not None
    return case.amount_owed.minor


def test_webhook_deliveries_are_counted_by_source_and_answer(local: Any, emitted: Emitted) -> None:
    # When deliveries are queued, ignored, refused for their signature, malformed, or fail
    assert shopify(local, "order_pending", "orders/create", "wh-1") == 200
    assert shopify(local, "app_uninstalled", "products/update", "wh-2") == 200
    assert shopify(local, "order_pending", "orders/create", "wh-3", secret="wrong") == 401
    assert shopify(local, "order_pending", "not a topic", "wh-4") == 400
    with FaultPlan() as plan:
        plan.fail("sqs", "SendMessage", "reject", whole_call=True)
        assert shopify(local, "order_pending", "orders/updated", "wh-5") == 500
    assert stripe(local, "payment_intent.payment_failed") == 200
    assert stripe(local, "customer.created") == 200
    # Then each is one WebhooksReceived, by source and outcome
    assert [values for values, _ in emitted("WebhooksReceived")] == [
        {"Source": "shopify", "Outcome": "queued"},
        {"Source": "shopify", "Outcome": "ignored"},
        {"Source": "shopify", "Outcome": "unauthorized"},
        {"Source": "shopify", "Outcome": "malformed"},
        {"Source": "shopify", "Outcome": "failed"},
        {"Source": "stripe", "Outcome": "queued"},
        {"Source": "stripe", "Outcome": "ignored"},
    ]
    # And the alarmed failure metric is still emitted on the service dimension alone
    assert emitted("ShopifyWebhookFailed") == [({}, 1.0)]
    assert emitted("ShopifyWebhookAccepted") == []


def test_a_case_is_counted_once_when_it_first_owes(local: Any, emitted: Emitted) -> None:
    # When an order opens a case, is redelivered, and is updated
    shopify(local, "order_pending", "orders/create", "wh-1")
    shopify(local, "order_pending", "orders/create", "wh-1")
    shopify(local, "order_pending_updated", "orders/updated", "wh-2")
    # Then one case opened, with what it owed then, in its currency
    assert emitted("CasesOpened") == [({"Currency": "USD"}, 1.0)]
    [(dimensions, owed)] = emitted("AmountOwed")
    assert dimensions == {"Currency": "USD"}
    assert owed == owed_minor() == 189_900


def test_a_fraud_scoring_is_counted_by_the_level_it_gave(local: Any, emitted: Emitted) -> None:
    # When an order opens a case (its screening scores it) and is redelivered
    shopify(local, "order_pending", "orders/create", "wh-1")
    shopify(local, "order_pending", "orders/create", "wh-1")
    # Then one scoring is counted, under its level as a dimension, not in the metric's name
    [(dimensions, count)] = emitted("CasesScreened")
    assert dimensions["Level"] in {"low", "review", "high", "unscored"}
    assert count == 1.0
    assert emitted("FraudLevelLow") == emitted("FraudLevelReview") == []


def test_what_a_chased_case_recovers_is_counted_when_it_is_paid(
    local: Any, at: Any, emitted: Emitted
) -> None:
    # Given a case the first reminder went out for
    shopify(local, "order_pending", "orders/create", "wh-1")
    owed = owed_minor()
    run_scheduler(local, at, STEP_1_DUE)
    assert emitted("RemindersSent") == [({"Channel": "email", "Step": "1"}, 1.0)]
    # When the order is paid (and the payment redelivered)
    shopify(local, "order_paid", "orders/paid", "wh-paid")
    shopify(local, "order_paid", "orders/paid", "wh-paid")
    # Then what it owed is counted as recovered, once
    assert emitted("AmountRecovered") == [({"Currency": "USD"}, float(owed))]


def test_a_case_paid_before_any_reminder_recovers_nothing_by_the_metric(
    local: Any, emitted: Emitted
) -> None:
    shopify(local, "order_pending", "orders/create", "wh-1")
    shopify(local, "order_paid", "orders/paid", "wh-paid")
    assert emitted("AmountRecovered") == []


def test_held_and_failed_reminders_are_counted_by_channel_and_why(
    local: Any, at: Any, emitted: Emitted
) -> None:
    shopify(local, "order_pending", "orders/create", "wh-1")
    # When the step comes due in the customer's night
    run_scheduler(local, at, NIGHT)
    # Then it is held for quiet hours on the channel it would have used
    assert emitted("RemindersHeld") == [({"Channel": "email", "Reason": "quiet_hours"}, 1.0)]
    # When SES is throttled once, then refuses the address for good
    with FaultPlan() as plan:
        plan.fail("sesv2", "SendEmail", "throttle")
        plan.fail("sesv2", "SendEmail", "reject", nth=2)
        run_scheduler(local, at, datetime(2026, 11, 3, 16, 0, tzinfo=UTC))
    # Then the throttled send is an error (retried), the refusal is refused, and the email
    # step, with no other channel, is held as undeliverable
    assert [values for values, _ in emitted("RemindersFailed")] == [
        {"Channel": "email", "Outcome": "error"},
        {"Channel": "email", "Outcome": "refused"},
    ]
    assert [values for values, _ in emitted("RemindersHeld")][-1] == {
        "Channel": "email",
        "Reason": "undeliverable",
    }
    assert emitted("RemindersSent") == []
