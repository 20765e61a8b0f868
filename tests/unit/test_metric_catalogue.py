"""The business metrics (recoup.observability): each emit function writes one EMF record with
its catalogue entry's name, unit and dimensions (plus service), and every dimension value is
from a bounded set."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest

from recoup import observability
from recoup.domain.cadence import MAX_STEPS
from recoup.domain.guardrails import HoldCode
from recoup.observability import BUSINESS_METRICS, NAMESPACE, SERVICE, HeldReason


@pytest.fixture(autouse=True)
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)


def records(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = capsys.readouterr().out.splitlines()
    return [json.loads(line) for line in lines if line.startswith('{"_aws"')]


def emitted(record: dict[str, Any]) -> tuple[str, str, list[str], dict[str, str], float]:
    """(namespace, metric, dimension names, dimension values, value) of one EMF record."""
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    ((metric,),) = [directive["Metrics"]]
    (dimensions,) = directive["Dimensions"]
    (value,) = record[metric["Name"]]
    assert metric["Unit"] == "Count"
    return (
        directive["Namespace"],
        metric["Name"],
        sorted(dimensions),
        {name: record[name] for name in dimensions},
        value,
    )


@pytest.mark.parametrize(
    ("emit", "expected"),
    [
        (lambda: observability.case_opened("usd"), ("CasesOpened", {"Currency": "USD"}, 1)),
        (
            lambda: observability.amount_owed("EUR", 12_345),
            ("AmountOwed", {"Currency": "EUR"}, 12_345),
        ),
        (
            lambda: observability.amount_recovered("JPY", 5_000),
            ("AmountRecovered", {"Currency": "JPY"}, 5_000),
        ),
        (
            lambda: observability.reminder_sent("sms", 2),
            ("RemindersSent", {"Channel": "sms", "Step": "2"}, 1),
        ),
        (
            lambda: observability.reminder_held("email_then_sms", "quiet_hours"),
            ("RemindersHeld", {"Channel": "email_then_sms", "Reason": "quiet_hours"}, 1),
        ),
        (
            lambda: observability.reminder_failed("email", "unknown"),
            ("RemindersFailed", {"Channel": "email", "Outcome": "unknown"}, 1),
        ),
        (
            lambda: observability.webhook_received("stripe", "unauthorized"),
            ("WebhooksReceived", {"Source": "stripe", "Outcome": "unauthorized"}, 1),
        ),
    ],
)
def test_each_metric_is_one_record_with_its_catalogue_dimensions(
    capsys: pytest.CaptureFixture[str], emit: Any, expected: tuple[str, dict[str, str], int]
) -> None:
    # When a business metric is emitted
    emit()
    # Then one EMF record carries it, in the Recoup namespace, with exactly the catalogue's
    # dimensions and service=recoup (what the dashboard's SEARCH expressions name)
    (record,) = records(capsys)
    namespace, name, dimension_names, values, value = emitted(record)
    (metric,) = [m for m in BUSINESS_METRICS if m.name == name]
    assert namespace == NAMESPACE
    assert dimension_names == sorted([*metric.dimensions, "service"])
    assert (name, {k: v for k, v in values.items() if k != "service"}, value) == expected
    assert values["service"] == SERVICE


def test_dimension_values_stay_bounded_whatever_the_caller_passes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # When values outside the catalogue's sets are passed (unchecked strings, a bad step)
    observability.case_opened("dollars")
    observability.reminder_sent("carrier pigeon", 13)  # type: ignore[arg-type]
    observability.webhook_received("paypal", "queued")  # type: ignore[arg-type]
    # Then they are recorded as "no currency" or "other", never as given
    values = [emitted(r)[3] for r in records(capsys)]
    assert values[0]["Currency"] == "XXX"
    assert (values[1]["Channel"], values[1]["Step"]) == ("other", "other")
    assert (values[2]["Source"], values[2]["Outcome"]) == ("other", "queued")


def test_an_amount_of_nothing_or_less_is_not_counted(capsys: pytest.CaptureFixture[str]) -> None:
    observability.amount_owed("USD", 0)
    observability.amount_recovered("USD", -500)
    assert records(capsys) == []


def test_business_metrics_leave_the_alarmed_metric_set_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given an alarmed metric added to the shared Metrics object
    observability.metrics.add_metric(name="HandOverFailed", unit="Count", value=1)
    # When business metrics are emitted meanwhile
    observability.reminder_sent("email", 1)
    document = observability.metrics.serialize_metric_set()
    observability.metrics.clear_metrics()
    # Then the shared set still has service as its only dimension (the alarms' dimensions)
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert len(records(capsys)) == 1


def test_no_metric_is_emitted_when_metrics_are_disabled(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    observability.case_opened("USD")
    assert records(capsys) == []


def test_the_catalogue_has_no_unbounded_dimension() -> None:
    # Every dimension takes a bounded set of values: no shop, case, customer or id
    dimensions = {d for metric in BUSINESS_METRICS for d in metric.dimensions}
    assert dimensions == {
        "Currency",
        "Channel",
        "Step",
        "Reason",
        "Outcome",
        "Source",
        "Level",
        "Kind",
    }
    assert len({metric.name for metric in BUSINESS_METRICS}) == len(BUSINESS_METRICS) == 10
    # and the step dimension has as many values as a policy may have steps
    assert observability.MAX_STEP == MAX_STEPS


def test_every_guardrail_hold_is_counted_under_a_reason_of_the_catalogue() -> None:
    # The sender counts a held step by its guardrail's code (RemindersHeld's Reason)
    assert set(get_args(HoldCode)) <= set(get_args(HeldReason))
