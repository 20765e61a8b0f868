"""An experiment through the worker and the store: each case lands in the arm its hash says
(the same on every write), the holdout gets no reminders, each case's outcome is kept in its
experiment key as it changes, an unsubscribe counts against its arm, and the figures read
back per arm with their verdict."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Any

import pytest

from recoup import clock
from recoup.domain import experiments, strategies
from recoup.domain.customer_requests import RequestMeta
from recoup.domain.dunning import DunningStatus
from recoup.domain.preferences import ContactPreferences
from recoup.integrations import shopify
from recoup.services import cases, experiment_results, preferences
from recoup.store import cases as case_store
from recoup.store import experiment_outcomes, policies
from tests.conftest import SHOP, event_bytes, shopify_headers
from tests.sequence_support import save_policy

OPENED = datetime(2026, 11, 2, 16, tzinfo=UTC)
COUNT = 40
EXPERIMENT = experiments.Experiment(
    "first-step",
    (
        experiments.Arm("control", 45),
        experiments.Arm("early", 45),
        experiments.Arm("holdout", 10, holdout=True),
    ),
    OPENED - timedelta(days=1),
    planned_cases_per_arm=100,
)


def _with_experiment() -> None:
    policy = policies.load(SHOP)
    early = tuple(
        replace(s, delay=timedelta(hours=4)) if i == 0 else s for i, s in enumerate(policy.steps)
    )
    trial = strategies.Strategy(
        "trial",
        "Everyone",
        strategies.Conditions(),
        policy.steps,
        experiment=EXPERIMENT,
        variants={"early": early},
    )
    save_policy(OPENED, strategies=(trial,))


def _apply(local: Any, order: dict[str, Any], topic: str, hook: str, at: datetime) -> None:
    body = json.dumps({**order, "updated_at": at.isoformat()}).encode()
    headers = shopify_headers(body, local.shopify_secret, topic, webhook_id=hook)
    event = shopify.normalise(shopify.read_delivery(headers), body)
    assert event is not None
    clock.use(lambda: at)
    try:
        assert cases.apply_event(event, now=at) is not None
    finally:
        clock.use(None)


def _orders(local: Any) -> list[str]:
    order = json.loads(event_bytes("shopify/order_pending.json"))
    order["payment_gateway_names"] = ["shopify_payments"]
    ids = []
    for n in range(COUNT):
        order.update(id=9_300_000 + n, name=f"#X{n}")
        _apply(local, order, "orders/create", f"x{n}", OPENED + timedelta(minutes=n))
        ids.append(str(order["id"]))
    return ids


def test_cases_are_assigned_for_good_and_their_outcomes_read_back_per_arm(local: Any) -> None:
    _with_experiment()
    ids = _orders(local)
    stored = {case_id: case_store.load(SHOP, case_id) for case_id in ids}
    arms = {case_id: s.dunning.arm for case_id, s in stored.items()}
    assert arms == {c: experiments.assign(EXPERIMENT, SHOP, c).id for c in ids}
    for case_id, found in stored.items():
        assert (found.dunning.strategy, found.dunning.experiment) == ("trial", "first-step")
        if arms[case_id] == "holdout":
            assert found.dunning.status is DunningStatus.NOT_CHASED
            assert case_store.next_due(found) is None  # nothing is ever sent
        else:
            hours = 4 if arms[case_id] == "early" else 24
            assert found.dunning.next_at == found.case.opened_at + timedelta(hours=hours)
    # The even-numbered orders are paid two days later.
    order = json.loads(event_bytes("shopify/order_pending.json"))
    paid_at = OPENED + timedelta(days=2)
    for n in range(0, COUNT, 2):
        order.update(id=9_300_000 + n, financial_status="paid", total_outstanding="0.00")
        _apply(local, order, "orders/paid", f"p{n}", paid_at)
    rows = {row.case_id: row for row in experiment_outcomes.rows(SHOP, "first-step")}
    assert set(rows) == set(ids)
    for n, case_id in enumerate(ids):
        row = rows[case_id]
        assert row.arm == arms[case_id]
        assert row.status == ("p" if n % 2 == 0 else "o")
        assert row.recovered_minor == (189900 if n % 2 == 0 else 0)
        assert (row.paid_at is not None) is (n % 2 == 0)
    # An unsubscribe on a case's page counts against its arm.
    first = stored[ids[1]]
    preferences.save(
        SHOP,
        first.case,
        ContactPreferences(email=False, sms=False),
        meta=RequestMeta(None, None),
        now=OPENED + timedelta(days=1),
    )
    (figures,) = experiment_results.figures(SHOP, policies.load(SHOP))
    by_arm = {a["arm"]: a for a in figures["arms"]}
    expected_cases = Counter(arms.values())
    expected_paid = Counter(arms[c] for n, c in enumerate(ids) if n % 2 == 0)
    for arm, figure in by_arm.items():
        assert figure["cases"] == expected_cases[arm]
        assert figure["paid"] == expected_paid[arm]
        # Opened n minutes after OPENED, paid two days after it: 2 - n/1440 days.
        days = [2 - n / 1440 for n, c in enumerate(ids) if n % 2 == 0 and arms[c] == arm]
        assert figure["median_days_to_pay"] == pytest.approx(median(days) if days else None)
    unsubscribed = by_arm[arms[ids[1]]]
    assert unsubscribed["unsubscribe_rate"] == 1 / expected_cases[arms[ids[1]]]
    assert figures["winner"] is None  # 40 cases: far from a verdict
    assert {c["arm"] for c in figures["over_holdout"]} == {"control", "early"}
