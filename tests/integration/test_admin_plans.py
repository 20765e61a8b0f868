"""The admin API's instalment plans and settlement offers: the settings page's two sections
(kept through a save and refused on the field at fault, with the limits the form offers),
a case's plan as the case page shows it (agreed, its card saved and first instalment paid,
the second declined), and a case paid under a settlement offer, its discount written off."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recoup import clock
from recoup.domain.customer_requests import RequestMeta
from recoup.services import instalment_plans
from recoup.settings import get_settings
from recoup.store import policies
from recoup_local.stack import LOCAL_STRIPE_KEYS
from tests.conftest import SHOP, event_bytes, event_json, shopify_headers, stripe_headers
from tests.integration.test_admin_api import call

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

PENDING = event_json("shopify/order_pending.json")
CASE_ID = str(PENDING["id"])
OPENED = datetime.fromisoformat(PENDING["updated_at"]).astimezone(UTC)
OWED = 189_900  # USD 1,899.00


@pytest.fixture
def now(local: Any) -> Iterator[list[datetime]]:
    moment = [OPENED]
    clock.use(lambda: moment[0])
    yield moment
    clock.use(None)


def _open_case(local: Any) -> None:
    body = event_bytes("shopify/order_pending.json")
    headers = shopify_headers(body, local.shopify_secret, "orders/create")
    answer = local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
    assert answer["statusCode"] == 200
    local.lambdas.drain()


def _stripe_event(local: Any, name: str, at: datetime, **changes: Any) -> None:
    """A Stripe event from tests/events, as another payment: its own ids and time, the
    PaymentIntent's fields changed as given (`metadata` added to the order's)."""
    event = event_json(f"stripe/{name}.json")
    payment = event["data"]["object"]
    metadata = {**payment["metadata"], **changes.pop("metadata", {})}
    payment.update(changes, metadata=metadata)
    suffix = f"{metadata.get('recoup_plan', 'x')}{metadata.get('recoup_instalment', '0')}"
    event["id"] = f"{event['id'][:20]}{suffix}"
    payment["id"] = f"{payment['id'][:20]}{suffix}"
    event["created"] = int(at.timestamp())
    body = json.dumps(event).encode()
    headers = stripe_headers(body, local.stripe_secret)
    assert local.lambdas.invoke_http("POST", "/webhooks/stripe", headers, body)["statusCode"] == 200
    local.lambdas.drain()


def _with_plans(local: Any, **instalments: Any) -> dict[str, Any]:
    _, current = call(local, "GET", "/settings")
    policy = copy.deepcopy(current["reminders"]["policy"])
    policy["instalments"] = {**policy["instalments"], "enabled": True, **instalments}
    body = {"reminders": {"version": current["reminders"]["version"], "policy": policy}}
    status, saved = call(local, "PUT", "/settings", body)
    assert status == 200, saved
    return saved


# ---------------------------------------------------------------- the settings page


def test_the_plans_and_the_offer_are_kept_through_a_save_with_the_forms_limits(
    local: Any,
) -> None:
    # Given the defaults: both off, with the ranges and choices the form needs
    status, whole = call(local, "GET", "/settings")
    assert status == 200
    reminders = whole["reminders"]
    assert reminders["policy"]["instalments"]["enabled"] is False
    assert reminders["policy"]["settlement"]["enabled"] is False
    limits = reminders["limits"]
    assert limits["instalments"] == {
        "max_count": [2, 24],
        "max_days": [7, 365],
        "grace_days": [1, 30],
        "start_days": 14,
    }
    settlement = {"percent": [1, 50], "pay_within_days": [1, 30], "final_notice": 0}
    assert limits["settlement"] == settlement
    assert reminders["choices"]["interval"] == ["weekly", "biweekly", "monthly"]
    assert reminders["choices"]["on_broken"] == ["resume", "escalate"]
    # When the admin offers plans and a settlement from step 2, in one save of the page
    policy = copy.deepcopy(reminders["policy"])
    policy["instalments"] = {
        "enabled": True,
        "min_amount": {"USD": 5_000, "JPY": 3_000},
        "min_instalment": {"USD": 1_000},
        "max_count": 6,
        "intervals": ["monthly", "weekly"],
        "max_days": 120,
        "first_due_now": False,
        "grace_days": 5,
        "on_broken": "escalate",
    }
    policy["settlement"] = {
        "enabled": True,
        "percent": 15,
        "max_discount": {"EUR": 2_000},
        "pay_within_days": 10,
        "from_step": 2,
    }
    body = {"reminders": {"version": reminders["version"], "policy": policy}}
    status, saved = call(local, "PUT", "/settings", body)
    # Then both are stored as sent (the intervals in their own order), one version on
    assert status == 200, saved
    assert saved["reminders"]["version"] == reminders["version"] + 1
    kept = saved["reminders"]["policy"]
    assert kept["instalments"] == {**policy["instalments"], "intervals": ["weekly", "monthly"]}
    assert kept["settlement"] == policy["settlement"]
    # and a reload reads them back, by either route
    assert call(local, "GET", "/settings")[1]["reminders"] == saved["reminders"]
    assert call(local, "GET", "/settings/reminders")[1] == saved["reminders"]
    # When "with the final notice" is chosen / Then it is kept as step 0
    kept["settlement"]["from_step"] = 0
    body = {"reminders": {"version": saved["reminders"]["version"], "policy": kept}}
    status, again = call(local, "PUT", "/settings", body)
    assert (status, again["reminders"]["policy"]["settlement"]["from_step"]) == (200, 0)


@pytest.mark.parametrize(
    ("section", "key", "value", "field", "message"),
    [
        (
            "instalments",
            "max_count",
            25,
            "instalments.max_count",
            "must be an integer between 2 and 24, got 25",
        ),
        ("instalments", "intervals", [], "instalments.intervals", "must be a non-empty list"),
        (
            "instalments",
            "min_amount",
            {"USD": -1},
            "instalments.min_amount.USD",
            "must be a non-negative integer",
        ),
        ("settlement", "percent", 60, "settlement.percent", "between 1 and 50, got 60"),
        ("settlement", "from_step", 9, "settlement.from_step", "between 0 and 4, got 9"),
    ],
)
def test_a_term_out_of_range_is_refused_on_its_field_and_nothing_is_saved(
    local: Any, section: str, key: str, value: Any, field: str, message: str
) -> None:
    # Given the default policy (4 steps) with one term out of range
    _, whole = call(local, "GET", "/settings")
    policy = copy.deepcopy(whole["reminders"]["policy"])
    assert len(policy["steps"]) == 4
    policy[section] = {**policy[section], "enabled": True, key: value}
    # When the page saves it / Then 400 naming the field from the section
    body = {"reminders": {"version": 0, "policy": policy}}
    status, answer = call(local, "PUT", "/settings", body)
    assert (status, answer["error"], answer["field"]) == (400, "invalid", f"reminders.{field}")
    assert message in answer["message"]
    # and the reminders' own route names it from the policy
    status, answer = call(local, "PUT", "/settings/reminders", {"version": 0, "policy": policy})
    assert (status, answer["field"]) == (400, field)
    assert policies.load_doc(SHOP, policies.REMINDERS) is None


# ---------------------------------------------------------------- a plan on a case


def test_the_case_shows_its_plan_as_it_is_agreed_paid_and_missed(
    local: Any, now: list[datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an open case owing USD 1,899.00, plans offered and Stripe connected
    _open_case(local)
    _with_plans(local, intervals=["monthly"], max_count=3)
    for name, value in LOCAL_STRIPE_KEYS.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    # When the customer agrees to 3 monthly instalments, the first due now
    now[0] = agreed = OPENED + timedelta(hours=2)
    meta = RequestMeta("203.0.113.7", "Mozilla/5.0")
    instalment_plans.agree(
        SHOP, CASE_ID, count=3, interval="monthly", start=None, locale="en", meta=meta, now=agreed
    )
    # Then the case shows the plan waiting for the card, its schedule all to come
    status, case = call(local, "GET", f"/cases/{CASE_ID}")
    assert status == 200
    plan = case["plan"]
    assert (plan["status"], plan["interval"], plan["count"]) == ("awaiting_card", "monthly", 3)
    assert (plan["total"]["minor"], plan["paid"]["minor"]) == (OWED, 0)
    assert plan["total"] == {"currency": "USD", "minor": OWED, "amount": "1899.00"}
    assert plan["card_by"] == (agreed + timedelta(hours=24)).isoformat()
    assert (plan["next_charge"], plan["missed"], plan["ended_at"]) == (None, None, None)
    assert [i["amount"]["minor"] for i in plan["instalments"]] == [63_300] * 3
    assert [i["status"] for i in plan["instalments"]] == ["scheduled"] * 3
    days = [i["due_on"] for i in plan["instalments"]]
    assert days == ["2026-11-02", "2026-12-02", "2027-01-02"]
    assert case["reminders"]["status"] == "planned"
    (entry,) = [e for e in case["timeline"] if e["kind"] == "customer.plan"]
    assert entry["summary"] == (
        "the customer agreed to pay USD 1,899.00 in 3 instalments a month apart "
        "from 2026-11-02 to 2027-01-02"
    )
    assert entry["actor"]["kind"] == "customer"

    # When Checkout saves the card and takes the first instalment
    _stripe_event(
        local,
        "payment_intent.succeeded",
        agreed + timedelta(minutes=5),
        amount=63_300,
        amount_received=63_300,
        customer="cus_PlanCustomer01",
        payment_method="pm_PlanCard01",
        metadata={"recoup_plan": "p1", "recoup_instalment": "1"},
    )
    # Then the plan runs: one paid, the second is the next charge, the case owes the rest
    case = call(local, "GET", f"/cases/{CASE_ID}")[1]
    plan = case["plan"]
    assert plan["status"] == "active"
    assert (plan["paid"]["minor"], plan["remaining"]["minor"]) == (63_300, OWED - 63_300)
    assert [i["status"] for i in plan["instalments"]] == ["paid", "scheduled", "scheduled"]
    assert plan["instalments"][0]["paid_at"] is not None
    second = plan["instalments"][1]
    assert plan["next_charge"] == {
        "number": 2,
        "due_on": "2026-12-02",
        "at": second["due_at"],
        "amount": {"currency": "USD", "minor": 63_300, "amount": "633.00"},
    }
    assert plan["card_by"] is None
    assert case["amount_owed"]["minor"] == OWED - 63_300

    # When the second instalment's charge is declined (the card's funds are short)
    declined = datetime.fromisoformat(second["due_at"]) + timedelta(minutes=1)
    now[0] = declined
    _stripe_event(
        local,
        "payment_intent.payment_failed",
        declined,
        amount=63_300,
        customer="cus_PlanCustomer01",
        payment_method="pm_PlanCard01",
        metadata={"recoup_plan": "p1", "recoup_instalment": "2"},
    )
    # Then it is missed, with its code and the end of its grace days; nothing is charged next
    plan = call(local, "GET", f"/cases/{CASE_ID}")[1]["plan"]
    assert plan["status"] == "active"
    assert [i["status"] for i in plan["instalments"]] == ["paid", "missed", "scheduled"]
    assert plan["instalments"][1]["code"] == "insufficient_funds"
    assert plan["instalments"][1]["failures"] == 1
    missed = plan["missed"]
    assert (missed["number"], missed["code"]) == (2, "insufficient_funds")
    assert missed["amount"]["minor"] == 63_300
    failed_at = datetime.fromisoformat(missed["failed_at"])
    assert missed["grace_ends"] == (failed_at + timedelta(days=7)).isoformat()
    assert plan["next_charge"] is None


def test_a_case_without_a_plan_or_a_settlement_says_so(local: Any, now: list[datetime]) -> None:
    _open_case(local)
    case = call(local, "GET", f"/cases/{CASE_ID}")[1]
    assert (case["plan"], case["settlement"], case["settled_discount"]) == (None, None, None)


# ---------------------------------------------------------------- a settlement


def test_a_case_paid_under_a_settlement_offer_shows_the_discount_written_off(
    local: Any, now: list[datetime]
) -> None:
    # Given an open case owing USD 1,899.00
    _open_case(local)
    # When the customer pays 10% less under the offer of step 3
    now[0] = paid_at = OPENED + timedelta(days=9)
    _stripe_event(
        local,
        "payment_intent.succeeded",
        paid_at,
        amount=170_910,
        amount_received=170_910,
        metadata={"recoup_settlement": "s3-0", "recoup_settles": str(OWED)},
    )
    # Then the case is paid: recovered is what was paid, the discount is written off
    status, case = call(local, "GET", f"/cases/{CASE_ID}")
    assert (status, case["status"]) == (200, "paid")
    assert case["recovered"] == {"currency": "USD", "minor": 170_910, "amount": "1709.10"}
    assert case["settled_discount"] == {"currency": "USD", "minor": 18_990, "amount": "189.90"}
    assert case["settlement"] == {
        "offer_id": "s3-0",
        "paid": {"currency": "USD", "minor": 170_910, "amount": "1709.10"},
        "settles": {"currency": "USD", "minor": OWED, "amount": "1899.00"},
        "discount": {"currency": "USD", "minor": 18_990, "amount": "189.90"},
    }
    assert case["plan"] is None
