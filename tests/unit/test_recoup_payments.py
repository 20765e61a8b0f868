"""Recoup's own Stripe payments as events and as the case's facts: an instalment is a part
payment (paid in full only with the plan's last), the card saved for a plan, and a payment
under a settlement offer, whose discount is written off, not recovered."""

from __future__ import annotations

import copy
import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from recoup.domain import case as fold
from recoup.domain.case import CaseStatus
from recoup.domain.events import Fact, OrderSnapshot, Source
from recoup.domain.money import Money
from recoup.errors import MalformedWebhook
from recoup.integrations import stripe
from tests.conftest import event_json

SHOP = "demo-electronics.myshopify.com"
ORDER = "5960359936123456789"


def _pi(kind: str, number: int | None, *, final: bool = False, event_id: str = "evt_1") -> Any:
    body = copy.deepcopy(event_json("stripe/payment_intent.succeeded.json"))
    body["id"] = event_id
    body["type"] = kind
    obj = body["data"]["object"]
    obj["id"] = f"pi_{event_id}"
    obj["amount"] = 30000
    obj["customer"] = "cus_plan"
    metadata = {"shop_domain": SHOP, "shopify_order_id": ORDER, "recoup_plan": "p1"}
    if number is not None:
        metadata["recoup_instalment"] = str(number)
    if final:
        metadata["recoup_final"] = "1"
    obj["metadata"] = metadata
    if kind == "payment_intent.payment_failed":
        obj["status"] = "requires_payment_method"
        obj["last_payment_error"] = {"code": "card_declined", "decline_code": "insufficient_funds"}
    return stripe.normalise(stripe.read_event(json.dumps(body).encode()))


def test_an_instalment_paid_is_a_part_payment_not_paid_in_full() -> None:
    event = _pi("payment_intent.succeeded", 1)
    assert event.fact is Fact.OBSERVED
    assert event.snapshot is None  # never what is owed: the order's snapshot stays
    assert event.case_id == ORDER
    plan = event.extra["plan"]
    assert plan["number"] == 1 and plan["succeeded"] is True
    assert plan["payment_method"] == "pm_1iE15uBnjy0aKqdpMbjfSMqw"
    assert plan["customer"] == "cus_plan"
    assert "instalment 1 of plan p1" in event.summary


def test_the_plans_last_instalment_pays_the_case_in_full() -> None:
    assert _pi("payment_intent.succeeded", 3, final=True).fact is Fact.PAID


def test_a_failed_instalment_is_a_failed_attempt_with_its_code() -> None:
    event = _pi("payment_intent.payment_failed", 2)
    assert event.fact is Fact.PAYMENT_FAILED
    assert event.snapshot is None
    assert event.extra["plan"]["code"] == "insufficient_funds"


def test_a_bad_instalment_number_is_refused() -> None:
    body = copy.deepcopy(event_json("stripe/payment_intent.succeeded.json"))
    body["data"]["object"]["metadata"].update(recoup_plan="p1", recoup_instalment="two")
    with pytest.raises(MalformedWebhook, match="recoup_instalment"):
        stripe.normalise(stripe.read_event(json.dumps(body).encode()))


def test_a_card_saved_for_a_plan_is_observed() -> None:
    body = copy.deepcopy(event_json("stripe/payment_intent.succeeded.json"))
    body["type"] = "setup_intent.succeeded"
    obj = body["data"]["object"]
    obj.update(id="seti_1", object="setup_intent", customer="cus_plan")
    obj["metadata"] = {"shop_domain": SHOP, "recoup_case": ORDER, "recoup_plan": "p1"}
    event = stripe.normalise(stripe.read_event(json.dumps(body).encode()))
    assert event.fact is Fact.OBSERVED
    assert event.case_id == ORDER
    assert event.extra["plan"]["number"] == 0
    assert event.summary == "card saved for an instalment plan"


def _opened() -> fold.Case:
    snapshot = OrderSnapshot(amount_owed=Money.of(90000, "USD"), order_total=Money.of(90000, "USD"))
    from recoup.domain.events import DomainEvent

    opened = DomainEvent(
        event_id="shopify:1",
        source=Source.SHOPIFY,
        kind="orders/create",
        shop=SHOP,
        case_id=ORDER,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        fact=Fact.UNPAID,
        snapshot=snapshot,
    )
    return fold.apply(fold.new_case(SHOP, ORDER), opened).case


def test_instalments_lower_what_is_owed_and_the_last_closes_the_case_in_any_order() -> None:
    events = [
        _pi("payment_intent.succeeded", 1, event_id="evt_a"),
        _pi("payment_intent.succeeded", 2, event_id="evt_b"),
        _pi("payment_intent.succeeded", 2, event_id="evt_b"),  # a redelivery
        _pi("payment_intent.succeeded", 3, final=True, event_id="evt_c"),
    ]
    results = set()
    for order in itertools.permutations(events[:2]):
        case = _opened()
        for event in order:
            case = fold.apply(case, event).case
        assert case.status is CaseStatus.OPEN
        assert case.amount_owed == Money.of(30000, "USD")
        results.add(case.to_dict().__repr__())
    assert len(results) == 1
    case = _opened()
    for event in events:
        case = fold.apply(case, event).case
    assert case.status is CaseStatus.PAID
    assert case.recovered == Money.of(90000, "USD")


def test_a_payment_under_a_settlement_offer_writes_the_discount_off() -> None:
    body = copy.deepcopy(event_json("stripe/payment_intent.succeeded.json"))
    obj = body["data"]["object"]
    obj["amount"] = 81000
    obj["metadata"].update(recoup_settlement="s3-0", recoup_settles="90000")
    event = stripe.normalise(stripe.read_event(json.dumps(body).encode()))
    assert event.extra["settlement"] == {
        "offer_id": "s3-0",
        "settles": Money.of(90000, "USD").to_dict(),
    }
    assert event.summary.startswith("settlement offer: payment of")
    case = fold.apply(_opened(), event).case
    assert case.status is CaseStatus.PAID
    assert case.recovered == Money.of(81000, "USD")
    assert case.settled_discount == Money.of(9000, "USD")
    assert fold.Case.from_dict(case.to_dict()) == case
