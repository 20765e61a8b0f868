"""The strategies' routes of the admin API against moto, through the function's handler:
the tester (`POST /admin/api/strategies/test`) on cases opened by the real webhook and
worker, and on facts entered by hand; the what-if preview (`POST .../strategies/whatif`);
the strategy a case follows on its page; 400s naming the field, and another shop's case
unknown."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from recoup.domain import experiments
from recoup.services import shops
from tests.admin_support import pending_order
from tests.conftest import SHOP, shopify_headers
from tests.integration.test_admin_api import OTHER, call

# The shop keeps the shipped strategies: a bank transfer takes "manual-payments".
pytestmark = [
    pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
    pytest.mark.usefixtures("shipped_strategies"),
]

DE_FIRST = {
    "id": "de-first",
    "name": "German first orders",
    "when": {"countries": ["DE"], "customer": "first"},
    "steps": [
        {
            "delay": "2d",
            "anchor": "opened",
            "channel": "email",
            "template": "friendly",
            "tone": "friendly",
            "pay_link": True,
        }
    ],
}


def deliver(local: Any, body: bytes, shop: str = SHOP) -> None:
    """orders/create of an order placed now, as Shopify sends it: the case opens now, and
    the worker runs."""
    order = json.loads(body)
    stamp = datetime.now(tz=UTC).replace(microsecond=0).isoformat()
    order.update(created_at=stamp, updated_at=stamp, processed_at=stamp)
    raw = json.dumps(order).encode()
    headers = shopify_headers(raw, local.shopify_secret, "orders/create", shop=shop)
    headers["X-Shopify-Triggered-At"] = stamp
    answer = local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, raw)
    assert answer["statusCode"] == 200, answer
    local.lambdas.drain()


def bank_transfer_order(local: Any, order_id: int, shop: str = SHOP) -> str:
    """The project's pending order, paid by "Bank Deposit" (a bank transfer), in the US."""
    body = pending_order(order_id, name="#4001", amount="120.00", email="kim@example.com")
    deliver(local, body, shop)
    return str(order_id)


def card_order(local: Any, order_id: int, *, country: str, earlier_orders: int) -> str:
    """A pending order paid by card, shipped to `country`, by a customer with that many
    earlier orders at the shop (Shopify's orders_count counts this one too)."""
    address = {
        "first_name": "Jana",
        "last_name": "Vogel",
        "address1": "Hauptstr. 1",
        "city": "Berlin",
        "zip": "10115",
        "country": country,
        "country_code": country,
    }
    customer = {"first_name": "Jana", "last_name": "Vogel", "orders_count": earlier_orders + 1}
    body = pending_order(
        order_id,
        name=f"#{order_id % 10_000}",
        amount="80.00",
        email="jana@example.com",
        payment_gateway_names=["shopify_payments"],
        shipping_address=address,
        billing_address=address,
        customer=customer,
    )
    deliver(local, body)
    return str(order_id)


def reminders_doc(local: Any) -> dict[str, Any]:
    status, found = call(local, "GET", "/settings/reminders")
    assert status == 200
    doc: dict[str, Any] = found["policy"]
    return doc


def with_strategies(local: Any, *listed: dict[str, Any]) -> dict[str, Any]:
    """The saved reminders document with these strategies (the shipped ones first)."""
    status, found = call(local, "GET", "/settings/reminders")
    assert status == 200
    shipped = found["strategies"]["shipped"]
    return {**found["policy"], "strategies": [*shipped, *listed]}


def tried(answer: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(t["id"], t["matched"]) for t in answer["tried"]]


# ---------------------------------------------------------------- the tester on cases


def test_a_bank_transfer_order_gets_the_shipped_manual_payments_strategy(local: Any) -> None:
    # Given a pending order paid by bank transfer, opened by the worker, and a shop that never
    # set its strategies (the settings show none: the shipped ones apply)
    case_id = bank_transfer_order(local, 9_100_000_000_001)
    doc = reminders_doc(local)
    assert "strategies" not in doc
    # When the tester is asked which strategy the case would get
    status, answer = call(local, "POST", "/strategies/test", {"reminders": doc, "case_id": case_id})
    # Then the first shipped strategy takes it, for its payment method
    assert status == 200, answer
    assert tried(answer) == [("manual-payments", True)]
    assert answer["taken"]["id"] == "manual-payments"
    assert answer["taken"]["why"] == "paid by bank_transfer"
    assert answer["taken"]["arm"] is None
    assert answer["facts"]["method"] == "bank_transfer"
    assert answer["facts"]["country"] == "US"
    assert answer["facts"]["decline"] is None
    assert answer["facts"]["owed"] == {"currency": "USD", "minor": 12_000, "amount": "120.00"}
    # and the worker chose the same when the case opened
    assert answer["follows"]["id"] == "manual-payments"
    assert answer["follows"]["in_policy"] is True


def test_a_strategy_for_first_orders_from_germany_takes_only_those(local: Any) -> None:
    # Given a first order from Germany and a returning customer's from the US, both by card
    german = card_order(local, 9_100_000_000_011, country="DE", earlier_orders=0)
    american = card_order(local, 9_100_000_000_012, country="US", earlier_orders=4)
    # and, unsaved, a strategy for first orders from Germany after the shipped one
    doc = with_strategies(local, DE_FIRST)
    # When the tester reads the German order
    status, answer = call(local, "POST", "/strategies/test", {"reminders": doc, "case_id": german})
    # Then the shipped strategy refuses it for its method, and the new one takes it
    assert status == 200, answer
    assert tried(answer) == [("manual-payments", False), ("de-first", True)]
    assert answer["tried"][0]["failure"] == "paid by card, not bank_transfer or cash_on_delivery"
    assert answer["taken"]["why"] == "country DE; a first customer"
    assert answer["facts"]["customer"] == "first"
    assert answer["taken"]["steps"] == DE_FIRST["steps"]
    # and the case, opened before the strategy existed, still follows the default
    assert answer["follows"]["id"] == "default"
    # When it reads the American order, the default takes it, with why the others did not
    status, answer = call(
        local, "POST", "/strategies/test", {"reminders": doc, "case_id": american}
    )
    assert status == 200, answer
    assert tried(answer) == [("manual-payments", False), ("de-first", False), ("default", True)]
    assert answer["tried"][1]["failure"] == "country US, not DE"
    assert answer["taken"]["default"] is True
    assert answer["taken"]["why"] == (
        "no other strategy matched (manual-payments: paid by card, not bank_transfer or "
        "cash_on_delivery; de-first: country US, not DE)"
    )
    assert answer["facts"]["customer"] == "returning"


def test_a_case_saved_under_a_strategy_shows_it_on_its_page(local: Any) -> None:
    # Given the strategy for German first orders saved, then such an order
    before = call(local, "GET", "/settings/reminders")[1]
    saved = with_strategies(local, DE_FIRST)
    status, stored = call(
        local, "PUT", "/settings/reminders", {"version": before["version"], "policy": saved}
    )
    assert status == 200, stored
    assert [s["id"] for s in stored["policy"]["strategies"]] == ["manual-payments", "de-first"]
    case_id = card_order(local, 9_100_000_000_021, country="DE", earlier_orders=0)
    # When its page is read
    status, case = call(local, "GET", f"/cases/{case_id}")
    # Then it names the strategy, why, and the facts it was chosen by
    assert status == 200, case
    follows = case["strategy"]["follows"]
    assert (follows["id"], follows["name"]) == ("de-first", "German first orders")
    assert follows["why"] == "country DE; a first customer"
    assert follows["arm"] is None
    assert case["strategy"]["facts"]["method"] == "card"
    assert case["strategy"]["facts"]["country"] == "DE"
    # and an action's answer carries the same
    status, acted = call(local, "POST", f"/cases/{case_id}/actions", {"action": "hold"})
    assert status == 200, acted
    assert acted["case"]["strategy"]["follows"]["id"] == "de-first"


def test_an_experiments_arm_is_the_one_the_case_hashes_to(local: Any) -> None:
    # Given a strategy running an experiment with a holdout, and a German first order
    arms = [{"id": "a", "weight": 45}, {"id": "b", "weight": 45}, {"id": "rest", "weight": 10}]
    arms[2]["holdout"] = True
    trial = {"id": "de-trial", "arms": arms, "started_at": "2026-11-01T00:00:00+00:00"}
    doc = with_strategies(local, {**DE_FIRST, "experiment": trial})
    case_id = card_order(local, 9_100_000_000_031, country="DE", earlier_orders=0)
    # When the tester reads it
    status, answer = call(local, "POST", "/strategies/test", {"reminders": doc, "case_id": case_id})
    # Then the arm is the experiment's assignment of this shop's case
    assert status == 200, answer
    expected = experiments.assign(experiments.parse_experiment(trial), SHOP, case_id)
    assert answer["taken"]["arm"] == {
        "id": expected.id,
        "weight": expected.weight,
        "holdout": expected.holdout,
    }
    assert answer["taken"]["experiment"]["arms"] == [
        {"id": "a", "weight": 45, "holdout": False},
        {"id": "b", "weight": 45, "holdout": False},
        {"id": "rest", "weight": 10, "holdout": True},
    ]


# ---------------------------------------------------------------- facts entered by hand


def test_facts_entered_by_hand_are_matched_without_a_case(local: Any) -> None:
    doc = with_strategies(local, DE_FIRST)
    facts = {"method": "cash_on_delivery", "amount": "30.00", "currency": "EUR", "risk": "low"}
    status, answer = call(local, "POST", "/strategies/test", {"reminders": doc, "facts": facts})
    assert status == 200, answer
    assert tried(answer) == [("manual-payments", True)]
    assert answer["case_id"] is None
    assert answer["taken"]["arm"] is None  # no case id to draw an arm with
    assert answer["facts"]["owed"] == {"currency": "EUR", "minor": 3_000, "amount": "30.00"}
    assert answer["follows"] is None
    # A decline code alone is read into its category; a first customer from "de" matches
    facts = {"decline_code": "insufficient_funds", "country": "de", "customer": "first"}
    status, answer = call(local, "POST", "/strategies/test", {"reminders": doc, "facts": facts})
    assert status == 200, answer
    assert answer["facts"]["decline"] == {"code": "insufficient_funds", "category": "soft"}
    assert answer["taken"]["id"] == "de-first"


@pytest.mark.parametrize(
    ("facts", "field"),
    [
        ({"risk": "extreme"}, "facts.risk"),
        ({"method": "cheque"}, "facts.method"),
        ({"decline": "maybe"}, "facts.decline"),
        ({"amount": "12.345", "currency": "USD"}, "facts.amount"),
        ({"amount": "12.00"}, "facts.currency"),
        ({"amount": "12.00", "currency": "XYZ"}, "facts.currency"),
        ({"country": "Germany"}, "facts.country"),
        ({"customer": "new"}, "facts.customer"),
        ({"payment_terms": "yes"}, "facts.payment_terms"),
        ({"shop": "rival-gadgets.myshopify.com"}, "facts.shop"),
    ],
)
def test_facts_that_cannot_be_used_are_refused_naming_the_field(
    local: Any, facts: dict[str, Any], field: str
) -> None:
    doc = reminders_doc(local)
    status, answer = call(local, "POST", "/strategies/test", {"reminders": doc, "facts": facts})
    assert (status, answer["error"], answer["field"]) == (400, "invalid", field), answer


# ---------------------------------------------------------------- refusals


def test_a_bad_strategy_is_refused_with_its_path_in_the_document(local: Any) -> None:
    # Given a strategy whose USD band's max is below its min (minor units)
    band = {**DE_FIRST, "when": {"amount": {"USD": {"min": 5_000, "max": 3_000}}}}
    doc = with_strategies(local, band)
    for route in ("/strategies/test", "/strategies/whatif"):
        body: dict[str, Any] = {"reminders": doc}
        if route.endswith("test"):
            body["facts"] = {}
        status, answer = call(local, "POST", route, body)
        # Then the field is named as the settings page holds it
        assert status == 400, answer
        assert answer["field"] == "reminders.strategies[1].when.amount.USD.max", route
        assert "above min (5000)" in answer["message"]
    # and the same document saved is refused at the same place, from its section
    before = call(local, "GET", "/settings")[1]["reminders"]
    status, answer = call(
        local, "PUT", "/settings", {"reminders": {"version": before["version"], "policy": doc}}
    )
    assert (status, answer["field"]) == (400, "reminders.strategies[1].when.amount.USD.max")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"facts": {}}, "reminders"),
        ({"reminders": [], "facts": {}}, "reminders"),
        ({"reminders": {}, "facts": {}, "case_id": "1"}, "case_id"),
        ({"reminders": {}}, "case_id"),
        ({"reminders": {}, "case_id": 12}, "case_id"),
        ({"reminders": {}, "facts": []}, "facts"),
        ({"reminders": {}, "facts": {}, "shop": "rival-gadgets.myshopify.com"}, "shop"),
    ],
)
def test_a_tester_request_of_the_wrong_shape_is_refused(
    local: Any, body: dict[str, Any], field: str
) -> None:
    status, answer = call(local, "POST", "/strategies/test", body)
    assert (status, answer["field"]) == (400, field), answer


def test_the_tester_does_not_read_another_shops_case(local: Any) -> None:
    # Given a case of another shop, and one of this shop
    shops.install(OTHER)
    theirs = bank_transfer_order(local, 9_100_000_000_041, OTHER)
    ours = bank_transfer_order(local, 9_100_000_000_042)
    doc = reminders_doc(local)
    # When this shop's staff asks about the other shop's case, it is unknown
    status, answer = call(local, "POST", "/strategies/test", {"reminders": doc, "case_id": theirs})
    assert (status, answer["error"]) == (404, "not_found")
    # as is an id no case has; this shop's own case is found
    status, answer = call(local, "POST", "/strategies/test", {"reminders": doc, "case_id": "x/y"})
    assert status == 404
    status, answer = call(local, "POST", "/strategies/test", {"reminders": doc, "case_id": ours})
    assert status == 200, answer
    # and the other shop, asking about its own case, finds it
    status, answer = call(
        local, "POST", "/strategies/test", {"reminders": doc, "case_id": theirs}, shop=OTHER
    )
    assert status == 200, answer


# ---------------------------------------------------------------- what-if


@pytest.mark.parametrize("days", [0, 91, "30", True, 1.5])
def test_the_what_if_preview_takes_1_to_90_days(local: Any, days: Any) -> None:
    doc = reminders_doc(local)
    status, answer = call(local, "POST", "/strategies/whatif", {"reminders": doc, "days": days})
    assert (status, answer["field"]) == (400, "days"), answer


def test_the_what_if_preview_counts_the_shops_cases_of_the_window(local: Any) -> None:
    # Given a bank transfer order and a German first order by card, both opened now
    bank_transfer_order(local, 9_100_000_000_051)
    card_order(local, 9_100_000_000_052, country="DE", earlier_orders=0)
    # and, unsaved, the strategy for German first orders after the shipped one
    doc = with_strategies(local, DE_FIRST)
    # When the document is previewed over the last day
    status, answer = call(local, "POST", "/strategies/whatif", {"reminders": doc, "days": 1})
    # Then each strategy took its case, in the policy's order, the default last
    assert status == 200, answer
    assert answer["cases"] == 2
    assert answer["cases_by_strategy"] == {"manual-payments": 1, "de-first": 1, "default": 0}
    # and every message is still to come: the shipped strategy's three steps (3 days after
    # the opening, then 4 and 7 days after the step before), the new one's one (2 days)
    assert (answer["gone"], answer["to_come"]) == (0, 3 + 1)
    assert [(m["strategy"], m["step"], m["channel"], m["to_come"]) for m in answer["messages"]] == [
        ("manual-payments", 1, "email", 1),
        ("manual-payments", 2, "email_then_sms", 1),
        ("manual-payments", 3, "email", 1),
        ("de-first", 1, "email", 1),
    ]
    assert "weekly cap" in answer["limits"]
    # Without the new strategy (the saved document), the German order is the default's
    status, saved = call(
        local, "POST", "/strategies/whatif", {"reminders": reminders_doc(local), "days": 1}
    )
    assert status == 200, saved
    assert saved["cases_by_strategy"] == {"manual-payments": 1, "default": 1}
    # and another shop's preview of the same document counts none of these cases
    shops.install(OTHER)
    status, theirs = call(
        local, "POST", "/strategies/whatif", {"reminders": doc, "days": 1}, shop=OTHER
    )
    assert status == 200, theirs
    assert (theirs["cases"], theirs["gone"], theirs["to_come"]) == (0, 0, 0)
