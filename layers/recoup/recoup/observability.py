"""The one place the Logger and Metrics are created (Powertools reads its own env vars), and
the catalogue of business metrics with a typed function to emit each.

There is no Powertools Tracer: instantiating it imports the X-Ray SDK (about 350 ms of cold
start, see docs/performance.md); template.yaml turns on Lambda's active tracing instead,
which records each invocation and its AWS calls' latency at the service level.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

NAMESPACE = "Recoup"
SERVICE = "recoup"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

# Metrics that template.yaml alarms on (>= 1 in five minutes notifies the alarm topic); the
# alarms' dimensions match what `metrics` emits (service=recoup), which a test checks.
ALARMED_METRICS = (
    "ReminderOutcomeUnknown",
    "HandOverOverdue",
    "HandOverFailed",
    "HandOverOutcomeUnknown",
    "ShopifyWebhookFailed",
    "StripeWebhookFailed",
    # The HTTP functions answer a fault of theirs with a 500 (`recoup.http`) rather than
    # crash, so their Lambda Errors alarms stay quiet: these count those answers.
    "AdminApiFailed",
    "PayLinkFailed",
    "CustomerPageFailed",
    "UnsubscribeFailed",
    "OAuthFailed",
    "ReportBackFailed",
)

# ---------------------------------------------------------------- business metrics
#
# Each is emitted as an EMF record of its own, with `service` and its own dimensions (the
# shared `metrics` keeps `service` alone: the alarms above watch exactly that). The dashboard
# in template.yaml reads them with SEARCH over these names and dimensions.
#
# No shop dimension, on purpose: every distinct set of dimension values is a metric of its
# own, billed monthly and listed by every SEARCH, and shops are unbounded (as are cases and
# customers). Every dimension here takes a bounded set of values; per-shop figures are the
# table's rollups, shown on the admin page.

Channel = Literal["email", "sms"]
# A step held back before its channel was chosen keeps the policy's choice.
StepChannel = Literal["email", "sms", "email_then_sms"]
HeldReason = Literal[
    "quiet_hours",  # deferred to the customer's morning
    "weekly_cap",  # deferred: the customer had the week's messages
    "opted_out",
    "suppressed",  # SES's suppression list (a bounce or complaint)
    "undeliverable",  # the address or number was refused for good before
    "no_address",  # nothing to send to on the step's channel
    "nothing_owed",
    "below_minimum",  # owes less than the shop's minimum
    "amount_unknown",
    "fraud_review",
    "merchant_hold",
    "dispute",
    "case_closed",
]
FailedOutcome = Literal[
    "refused",  # the provider refused the address for good: not retried
    "unknown",  # the answer was lost: the provider may have sent it; not retried
    "error",  # failed before the provider took it: the job is retried
]
WebhookSource = Literal["shopify", "stripe"]
ReferralKind = Literal["agency", "legal"]
FraudLevel = Literal["low", "review", "high", "unscored"]
WebhookOutcome = Literal[
    "queued",
    "ignored",  # a topic or type Recoup does not use: answered 200
    "unauthorized",  # signature missing, wrong or too old: 401
    "malformed",  # 400
    "failed",  # a fault of ours (or a missing setting): 500, the platform retries
]
# recoup.domain.cadence.MAX_STEPS: a step dimension has at most that many values (a test holds
# the two together; importing the domain here would load it on every cold start).
MAX_STEP = 12
NO_CURRENCY = "XXX"  # ISO 4217's code for "no currency": a value that is not a code


@dataclass(frozen=True, slots=True)
class BusinessMetric:
    name: str
    unit: MetricUnit
    dimensions: tuple[str, ...]  # besides `service`
    meaning: str


CASES_OPENED = BusinessMetric(
    "CasesOpened", MetricUnit.Count, ("Currency",), "cases opened (an amount became owed)"
)
AMOUNT_OWED = BusinessMetric(
    "AmountOwed",
    MetricUnit.Count,
    ("Currency",),
    "what opened cases owe, in minor units (cents) of the currency",
)
AMOUNT_RECOVERED = BusinessMetric(
    "AmountRecovered",
    MetricUnit.Count,
    ("Currency",),
    "what was paid on cases Recoup chased, in minor units (cents) of the currency",
)
REMINDERS_SENT = BusinessMetric(
    "RemindersSent",
    MetricUnit.Count,
    ("Channel", "Step"),
    "reminders the provider accepted, by channel and step (1 is the first)",
)
REMINDERS_HELD = BusinessMetric(
    "RemindersHeld",
    MetricUnit.Count,
    ("Channel", "Reason"),
    "reminder steps deferred or skipped by a guardrail, by channel and reason",
)
REMINDERS_FAILED = BusinessMetric(
    "RemindersFailed",
    MetricUnit.Count,
    ("Channel", "Outcome"),
    "reminder sends that did not go out, or whose outcome is unknown",
)
WEBHOOKS_RECEIVED = BusinessMetric(
    "WebhooksReceived",
    MetricUnit.Count,
    ("Source", "Outcome"),
    "webhook deliveries, by platform and what Recoup answered",
)
CASES_SCREENED = BusinessMetric(
    "CasesScreened",
    MetricUnit.Count,
    ("Level",),
    "fraud scorings of cases by the level given (a case is scored again when its facts change)",
)
CASES_REFERRED = BusinessMetric(
    "CasesReferred",
    MetricUnit.Count,
    ("Kind",),
    "referrals made, to a collection agency or to legal",
)
DELIVERY_REPORTS = BusinessMetric(
    "DeliveryReports",
    MetricUnit.Count,
    ("Channel",),
    "delivery reports (SES events, SMS statuses) recorded on a reminder's trail",
)
BUSINESS_METRICS = (
    CASES_OPENED,
    AMOUNT_OWED,
    AMOUNT_RECOVERED,
    REMINDERS_SENT,
    REMINDERS_HELD,
    REMINDERS_FAILED,
    WEBHOOKS_RECEIVED,
    CASES_SCREENED,
    CASES_REFERRED,
    DELIVERY_REPORTS,
)


def case_opened(currency: str) -> None:
    """A case opened, in the currency it is owed in."""
    _emit(CASES_OPENED, 1, {"Currency": _currency(currency)})


def amount_owed(currency: str, minor_units: int) -> None:
    """What a case owes when it opens (minor units: cents, not dollars)."""
    _emit_amount(AMOUNT_OWED, currency, minor_units)


def amount_recovered(currency: str, minor_units: int) -> None:
    """What was paid on a chased case (minor units: cents, not dollars)."""
    _emit_amount(AMOUNT_RECOVERED, currency, minor_units)


def reminder_sent(channel: Channel, step: int) -> None:
    """A reminder the provider accepted; `step` counts from 1, as merchants see it."""
    _emit(REMINDERS_SENT, 1, {"Channel": _one_of(channel, Channel), "Step": _step(step)})


def reminder_held(channel: StepChannel, reason: HeldReason) -> None:
    """A reminder step a guardrail deferred or skipped."""
    dimensions = {"Channel": _one_of(channel, StepChannel), "Reason": _one_of(reason, HeldReason)}
    _emit(REMINDERS_HELD, 1, dimensions)


def reminder_failed(channel: Channel, outcome: FailedOutcome) -> None:
    """A reminder send that did not go out, or whose outcome is unknown."""
    dimensions = {"Channel": _one_of(channel, Channel), "Outcome": _one_of(outcome, FailedOutcome)}
    _emit(REMINDERS_FAILED, 1, dimensions)


def webhook_received(source: WebhookSource, outcome: WebhookOutcome) -> None:
    """A webhook delivery and what it was answered."""
    dimensions = {
        "Source": _one_of(source, WebhookSource),
        "Outcome": _one_of(outcome, WebhookOutcome),
    }
    _emit(WEBHOOKS_RECEIVED, 1, dimensions)


def case_screened(level: str) -> None:
    """A fraud scoring of a case, by the level it gave."""
    _emit(CASES_SCREENED, 1, {"Level": _one_of(level, FraudLevel)})


def case_referred(kind: str) -> None:
    """A referral made, to an agency or to legal."""
    _emit(CASES_REFERRED, 1, {"Kind": _one_of(kind, ReferralKind)})


def delivery_report(channel: str) -> None:
    """A delivery report recorded on a reminder's trail."""
    _emit(DELIVERY_REPORTS, 1, {"Channel": _one_of(channel, Channel)})


def _emit(metric: BusinessMetric, value: float, dimensions: Mapping[str, str]) -> None:
    """One EMF record with the metric's dimensions only (POWERTOOLS_METRICS_DISABLED is
    honoured, as by `metrics`)."""
    if tuple(dimensions) != metric.dimensions:
        raise ValueError(f"{metric.name} takes dimensions {metric.dimensions}, not {dimensions}")
    record = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    for name, dimension_value in dimensions.items():
        record.add_dimension(name=name, value=dimension_value)
    record.add_metric(name=metric.name, unit=metric.unit, value=value)
    record.flush_metrics()


def _emit_amount(metric: BusinessMetric, currency: str, minor_units: int) -> None:
    if minor_units < 0:
        # A negative amount would cancel real ones out of every sum: a caller's mistake.
        logger.warning("Negative amount not counted", extra={"metric": metric.name})
        return
    if minor_units:
        _emit(metric, minor_units, {"Currency": _currency(currency)})


def _one_of(value: str, allowed: object) -> str:
    """The value when the Literal allows it, else "other": a dimension stays bounded even if
    a caller passes something unchecked (a string from a payload)."""
    return value if value in get_args(allowed) else "other"


def _currency(currency: str) -> str:
    code = currency.strip().upper()
    return code if re.fullmatch(r"[A-Z]{3}", code) else NO_CURRENCY


def _step(step: int) -> str:
    return str(step) if 1 <= step <= MAX_STEP else "other"
