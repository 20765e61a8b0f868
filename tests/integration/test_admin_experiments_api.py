"""The experiments' route of the admin API (`GET /admin/api/experiments`) and the reminder
settings' automatic retries and order cancellation, against moto through the function's
handler: an experiment's cases opened by the real webhook and worker and read back per arm
with the verdict, another shop never shown them, the figures' breakdowns of the same cases,
and the settings saved or refused with the path of the field at fault."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from recoup.domain import experiments
from recoup.services import experiment_results, shops
from tests.admin_support import paid_order, pending_order
from tests.conftest import SHOP, shopify_headers
from tests.integration.test_admin_api import OTHER, call

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

COUNT = 12
FIRST_ORDER = 9_400_000_000_000
EXPERIMENT = {
    "id": "first-step",
    "started_at": "2026-11-01T00:00:00+00:00",
    "planned_cases_per_arm": 100,
    "arms": [
        {"id": "control", "weight": 45},
        {"id": "early", "weight": 45},
        {"id": "holdout", "weight": 10, "holdout": True},
    ],
}
RETRIES = {
    "enabled": True,
    "max_retries": 3,
    "soft_delays": ["12h", "3d"],
    "do_not_honor_hard": True,
}


def deliver(local: Any, body: bytes, topic: str, shop: str = SHOP) -> None:
    """A webhook of an order as Shopify sends it now, and the worker run on it."""
    order = json.loads(body)
    stamp = datetime.now(tz=UTC).replace(microsecond=0).isoformat()
    order.update(updated_at=stamp)
    if topic == "orders/create":
        order.update(created_at=stamp, processed_at=stamp)
    raw = json.dumps(order).encode()
    headers = shopify_headers(raw, local.shopify_secret, topic, shop=shop)
    headers["X-Shopify-Triggered-At"] = stamp
    answer = local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, raw)
    assert answer["statusCode"] == 200, answer
    local.lambdas.drain()


def card_order(order_id: int, *, paid: bool = False) -> bytes:
    """A pending order of 120.00 USD paid by card at checkout (or the same order, paid)."""
    name, email = f"#{order_id % 100_000}", "kim@example.com"
    body = (paid_order if paid else pending_order)(
        order_id, name=name, amount="120.00", email=email
    )
    order = json.loads(body)
    order["payment_gateway_names"] = ["shopify_payments"]
    return json.dumps(order).encode()


def reminders(local: Any, shop: str = SHOP) -> dict[str, Any]:
    status, found = call(local, "GET", "/settings/reminders", shop=shop)
    assert status == 200, found
    return found


def save_reminders(local: Any, policy: dict[str, Any], shop: str = SHOP) -> tuple[int, Any]:
    version = reminders(local, shop)["version"]
    return call(
        local, "PUT", "/settings/reminders", {"version": version, "policy": policy}, shop=shop
    )


def with_experiment(local: Any, shop: str = SHOP) -> None:
    """The shop's own strategies: every card payment under "Cards", which runs the
    experiment (its arms follow the policy's own steps)."""
    policy = reminders(local, shop)["policy"]
    cards = {
        "id": "cards",
        "name": "Cards",
        "when": {"methods": ["card"]},
        "steps": policy["steps"],
        "experiment": EXPERIMENT,
    }
    status, saved = save_reminders(local, {**policy, "strategies": [cards]}, shop)
    assert status == 200, saved


# ---------------------------------------------------------------- experiments


def test_a_shop_without_experiments_is_shown_none(local: Any) -> None:
    # Given a shop on the shipped strategies, none of which runs an experiment
    status, found = call(local, "GET", "/experiments")
    # Then the route answers an empty list, for the page's empty state
    assert (status, found) == (200, {"experiments": []})


def test_an_experiments_cases_are_shown_per_arm_with_the_verdict(local: Any) -> None:
    # Given the experiment saved, then twelve card orders opened by the worker, and every
    # third paid in full (before any message: self-cured, yet paid for the experiment)
    with_experiment(local)
    ids = [str(FIRST_ORDER + n) for n in range(COUNT)]
    for order_id in ids:
        deliver(local, card_order(int(order_id)), "orders/create")
    paid = [case_id for n, case_id in enumerate(ids) if n % 3 == 0]
    for order_id in paid:
        deliver(local, card_order(int(order_id), paid=True), "orders/paid")
    # When the page asks for the experiments
    status, found = call(local, "GET", "/experiments")
    # Then it gets the one experiment, named by its strategy, with the figures per arm
    assert status == 200, found
    (shown,) = found["experiments"]
    assert shown["strategy"] == {"id": "cards", "name": "Cards"}
    assert (shown["experiment"], shown["planned_cases_per_arm"]) == ("first-step", 100)
    assert shown["started_at"] == "2026-11-01T00:00:00+00:00"
    # each case in the arm its hash gives it (the same the worker recorded)
    experiment = experiments.parse_experiment(EXPERIMENT)
    arm_of = {case_id: experiments.assign(experiment, SHOP, case_id).id for case_id in ids}
    for case_id in ids:
        status, case = call(local, "GET", f"/cases/{case_id}")
        assert case["strategy"]["follows"]["arm"]["id"] == arm_of[case_id]
    cases, payers = Counter(arm_of.values()), Counter(arm_of[c] for c in paid)
    by_arm = {arm["arm"]: arm for arm in shown["arms"]}
    assert list(by_arm) == ["control", "early", "holdout"]  # in the experiment's order
    for arm, figures in by_arm.items():
        assert (figures["cases"], figures["paid"]) == (cases[arm], payers[arm]), arm
        assert figures["holdout"] is (arm == "holdout")
        assert figures["recovery_rate"] == (payers[arm] / cases[arm] if cases[arm] else 0.0)
        low, high = figures["recovery_ci"]
        assert 0.0 <= low <= figures["recovery_rate"] <= high <= 1.0
        # each paid order paid its 120.00: USD 120.00 times the arm's payers, as money
        recovered = 12_000 * payers[arm]
        assert figures["recovered"] == (
            [{"currency": "USD", "minor": recovered, "amount": f"{recovered // 100}.00"}]
            if payers[arm]
            else []
        )
        assert (figures["unsubscribe_rate"], figures["complaint_rate"]) == (0.0, 0.0)
    # By hand, from these ids' hashes: control 6 cases, 1 paid (USD 120.00); early 5, 3
    # paid (3 x 120.00 = 360.00); the holdout 1, none paid. Early recovers 3/5 = 60%.
    assert [(a["arm"], a["cases"], a["paid"]) for a in shown["arms"]] == [
        ("control", 6, 1),
        ("early", 5, 3),
        ("holdout", 1, 0),
    ]
    assert by_arm["early"]["recovered"] == [
        {"currency": "USD", "minor": 36_000, "amount": "360.00"}
    ]
    assert by_arm["early"]["recovery_rate"] == 0.6
    # each arm that sends against the holdout, and no winner below 30 cases an arm
    assert [c["arm"] for c in shown["over_holdout"]] == ["control", "early"]
    for comparison in shown["over_holdout"]:
        arm = comparison["arm"]
        lift = by_arm[arm]["recovery_rate"] - by_arm["holdout"]["recovery_rate"]
        assert comparison["incremental_recovery"] == pytest.approx(lift)
        assert 0.0 <= comparison["p_value"] <= 1.0
    assert shown["winner"] is None
    assert shown["why"].startswith("no winner yet")
    # how far along: the smaller sending arm's share of its 100 planned cases
    assert shown["information"] == 0.05  # early's 5 of 100
    assert shown["test"] == experiment_results.TEST
    # The dashboard's breakdowns count the same twelve cases under the strategy and the
    # method: none recovered after a message (each payer paid before any)
    status, figures = call(local, "GET", "/figures")
    assert status == 200, figures
    usd = {"currency": "USD", "minor": 0, "amount": "0.00"}
    segment = {"cases": COUNT, "recovered_cases": 0, "recovered": usd, "rate": 0.0}
    assert figures["by_strategy"] == [{"value": "cards", **segment}]
    assert figures["by_method"] == [{"value": "card", **segment}]
    assert figures["by_decline"] == [{"value": "none", **segment}]
    assert figures["definitions"]["by_method"]


def test_another_shop_never_sees_this_shops_experiment(local: Any) -> None:
    # Given this shop's experiment with cases in it, and another shop installed
    with_experiment(local)
    for n in range(3):
        deliver(local, card_order(FIRST_ORDER + 100 + n), "orders/create")
    shops.install(OTHER)
    # When the other shop asks, it has no experiment
    status, theirs = call(local, "GET", "/experiments", shop=OTHER)
    assert (status, theirs) == (200, {"experiments": []})
    # and once it runs one of the same id, it shows its own cases (none), never ours
    with_experiment(local, OTHER)
    status, theirs = call(local, "GET", "/experiments", shop=OTHER)
    assert status == 200, theirs
    (shown,) = theirs["experiments"]
    assert [(a["arm"], a["cases"]) for a in shown["arms"]] == [
        ("control", 0),
        ("early", 0),
        ("holdout", 0),
    ]
    status, ours = call(local, "GET", "/experiments")
    assert sum(a["cases"] for a in ours["experiments"][0]["arms"]) == 3


# ---------------------------------------------------------------- retries


def test_the_retries_are_saved_with_the_reminders_and_their_limits_served(local: Any) -> None:
    # Given the reminders as the page loads them: retries off, with their limits
    before = reminders(local)
    assert before["policy"]["retries"]["enabled"] is False
    assert before["limits"]["retries"] == {
        "max_retries": [0, 8],
        "delays": [1, 8],
        "delay": ["1h", "30d"],
    }
    # When the admin turns them on and saves the reminders
    status, saved = save_reminders(local, {**before["policy"], "retries": RETRIES})
    # Then they are stored with the next version and read back as sent
    assert status == 200, saved
    assert saved["version"] == before["version"] + 1
    assert reminders(local)["policy"]["retries"] == RETRIES
    # and the settings page's one save takes them too
    after = reminders(local)
    fewer = {**RETRIES, "max_retries": 0, "soft_delays": ["1d"]}
    body = {
        "reminders": {"version": after["version"], "policy": {**after["policy"], "retries": fewer}}
    }
    status, saved = call(local, "PUT", "/settings", body)
    assert status == 200, saved
    assert saved["reminders"]["policy"]["retries"] == fewer


@pytest.mark.parametrize(
    ("retries", "field"),
    [
        ({**RETRIES, "soft_delays": ["12h", "2w"]}, "retries.soft_delays[1]"),
        ({**RETRIES, "soft_delays": ["1d", "45d"]}, "retries.soft_delays[1]"),
        ({**RETRIES, "soft_delays": ["30m"]}, "retries.soft_delays[0]"),
        ({**RETRIES, "soft_delays": []}, "retries.soft_delays"),
        ({**RETRIES, "max_retries": 9}, "retries.max_retries"),
        ({**RETRIES, "enabled": "yes"}, "retries.enabled"),
        ({**RETRIES, "every": "day"}, "retries.every"),
    ],
)
def test_bad_retries_are_refused_naming_the_field_and_nothing_is_stored(
    local: Any, retries: dict[str, Any], field: str
) -> None:
    before = reminders(local)
    policy = {**before["policy"], "retries": retries}
    status, answer = save_reminders(local, policy)
    assert (status, answer["error"], answer["field"]) == (400, "invalid", field), answer
    # and from the settings page's one save, named from its section
    body = {"reminders": {"version": before["version"], "policy": policy}}
    status, answer = call(local, "PUT", "/settings", body)
    assert (status, answer["field"]) == (400, f"reminders.{field}"), answer
    assert reminders(local) == before


# ---------------------------------------------------------------- order cancellation


def manual_strategy(methods: list[str], days: Any) -> dict[str, Any]:
    return {
        "id": "transfers",
        "name": "Bank transfers",
        "when": {"methods": methods},
        "steps": [
            {
                "delay": "3d",
                "anchor": "opened",
                "channel": "email",
                "template": "friendly",
                "tone": "friendly",
                "pay_link": True,
            }
        ],
        "cancel_after_days": days,
    }


def test_a_manual_payments_strategy_saves_its_cancellation(local: Any) -> None:
    # Given the limits the editor offers
    before = reminders(local)
    offered = before["strategies"]
    assert offered["limits"]["cancel_after_days"] == [0, 90]
    assert offered["choices"]["manual_methods"] == ["bank_transfer", "cash_on_delivery", "other"]
    # When a strategy for bank transfers and cash on delivery cancels after 10 days
    strategy = manual_strategy(["bank_transfer", "cash_on_delivery"], 10)
    status, saved = save_reminders(local, {**before["policy"], "strategies": [strategy]})
    # Then it is saved as sent
    assert status == 200, saved
    (stored,) = saved["policy"]["strategies"]
    assert stored["cancel_after_days"] == 10
    assert reminders(local)["policy"]["strategies"][0]["cancel_after_days"] == 10


@pytest.mark.parametrize(
    ("methods", "days"),
    [
        (["card"], 10),  # a card is no manual payment
        (["bank_transfer", "card"], 10),  # nor is a mix
        ([], 10),  # nor any method
        (["bank_transfer"], 91),  # past the 90 days
        (["bank_transfer"], -1),
        (["bank_transfer"], "10"),
    ],
)
def test_a_cancellation_the_strategy_cannot_have_is_refused_with_its_path(
    local: Any, methods: list[str], days: Any
) -> None:
    before = reminders(local)
    policy = {**before["policy"], "strategies": [manual_strategy(methods, days)]}
    body = {"reminders": {"version": before["version"], "policy": policy}}
    status, answer = call(local, "PUT", "/settings", body)
    assert (status, answer["field"]) == (400, "reminders.strategies[0].cancel_after_days"), answer
    assert reminders(local) == before


def test_the_experiment_route_answers_401_without_a_session(local: Any) -> None:
    answer = local.lambdas.invoke_http("GET", "/admin/api/experiments", {}, b"")
    assert answer["statusCode"] == 401
    assert json.loads(answer["body"])["error"] == "missing_token"


def test_an_experiment_started_later_counts_only_its_own_cases(local: Any) -> None:
    # Given cases opened before the shop ran any experiment, then the experiment saved
    for n in range(2):
        deliver(local, card_order(FIRST_ORDER + 200 + n), "orders/create")
    with_experiment(local)
    # Then none of those cases is in it: they keep the strategy they were opened under
    status, found = call(local, "GET", "/experiments")
    assert status == 200, found
    assert [a["cases"] for a in found["experiments"][0]["arms"]] == [0, 0, 0]
