"""Strategies: each condition, the order they are tried in, the default, the shipped ones for
manual payments, validation by field path, the JSON round trip, and experiment arms."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recoup.domain import case_facts, strategies
from recoup.domain.cadence import (
    PolicyError,
    check_templates,
    default_policy,
    parse_policy,
    policy_to_dict,
)
from recoup.domain.case import Case, CaseStatus
from recoup.domain.events import Customer, OrderSnapshot, PaymentAttempt, Source
from recoup.domain.money import Money
from recoup.domain.strategies import CaseFacts, Method

OPENED = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def _case(
    *,
    gateways: tuple[str, ...] = ("shopify_payments",),
    owed: int = 12_000,
    currency: str = "USD",
    country: str | None = "US",
    decline: str | None = None,
    earlier_orders: int | None = None,
    terms: str | None = None,
    due: datetime | None = None,
    case_id: str = "1001",
) -> Case:
    attempts = ()
    if decline is not None:
        attempts = (
            PaymentAttempt("a1", Source.STRIPE, False, OPENED, Money.of(owed, currency), decline),
        )
    signals: tuple[Any, ...] = ()
    if earlier_orders is not None:
        signals = (("customer_orders_count", earlier_orders, (1, "", "")),)
    return Case(
        shop="s.myshopify.com",
        case_id=case_id,
        status=CaseStatus.OPEN,
        status_since=((CaseStatus.OPEN, OPENED),),
        snapshot=OrderSnapshot(
            amount_owed=Money.of(owed, currency),
            order_total=Money.of(owed, currency),
            customer=Customer(country=country),
            financial_status="pending",
            payment_gateways=gateways,
            payment_terms=terms,
            payment_due_at=due,
        ),
        attempts=attempts,
        signals=signals,
    )


def _steps(first: str = "2d") -> list[dict[str, Any]]:
    return [
        {
            "delay": first,
            "anchor": "opened",
            "channel": "email",
            "template": "friendly",
            "tone": "friendly",
            "pay_link": True,
        },
        {
            "delay": "5d",
            "anchor": "previous",
            "channel": "email",
            "template": "final_notice",
            "tone": "final_notice",
            "pay_link": True,
        },
    ]


def _policy(*listed: dict[str, Any]) -> Any:
    data = policy_to_dict(default_policy())
    data["strategies"] = list(listed)
    return parse_policy(data)


def _strategy(sid: str, when: dict[str, Any], first: str = "2d", **more: Any) -> dict[str, Any]:
    return {"id": sid, "name": sid.title(), "when": when, "steps": _steps(first), **more}


def _taken(policy: Any, case: Case, risk: str = "low") -> strategies.Choice:
    return strategies.choose(policy, case_facts.facts_of(case, risk), case.shop, case.case_id)


# --- facts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gateways", "method"),
    [
        (("shopify_payments",), Method.CARD),
        (("bogus",), Method.CARD),
        (("Bank Deposit",), Method.BANK_TRANSFER),
        (("Vorkasse",), Method.BANK_TRANSFER),
        (("Cash on Delivery (COD)",), Method.CASH_ON_DELIVERY),
        (("代金引換",), Method.CASH_ON_DELIVERY),
        (("Klarna",), Method.BNPL),
        (("Money Order",), Method.OTHER),
        (("gift_card", "Bank Deposit"), Method.BANK_TRANSFER),
        ((), Method.CARD),  # a Stripe payment of its own: a card
    ],
)
def test_the_payment_method_comes_from_the_gateway_names(
    gateways: tuple[str, ...], method: Method
) -> None:
    assert case_facts.facts_of(_case(gateways=gateways)).method is method


def test_facts_read_decline_category_country_customer_and_terms() -> None:
    due = OPENED + timedelta(days=30)
    facts = case_facts.facts_of(
        _case(decline="stolen_card", country="de", earlier_orders=2, terms="Net 30", due=due),
        "review",
    )
    assert facts == CaseFacts(
        method=Method.CARD,
        decline="hard",
        decline_code="stolen_card",
        owed=Money.of(12_000, "USD"),
        country="DE",
        returning=True,
        risk="review",
        payment_terms="Net 30",
        due_at=due,
    )
    fresh = case_facts.facts_of(_case(earlier_orders=0), "nonsense")
    assert (fresh.decline, fresh.returning, fresh.risk) == ("none", False, "unscored")
    assert case_facts.facts_of(_case()).returning is None


# --- each condition -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "matching", "other"),
    [
        ({"methods": ["bank_transfer"]}, {"gateways": ("Bank Deposit",)}, {}),
        ({"declines": ["soft"]}, {"decline": "insufficient_funds"}, {"decline": "stolen_card"}),
        ({"declines": ["none"]}, {}, {"decline": "expired_card"}),
        (
            {"declines": ["expired_or_incorrect"]},
            {"decline": "expired_card"},
            {"decline": "insufficient_funds"},
        ),
        ({"amount": {"USD": {"min": 10_000, "max": 50_000}}}, {"owed": 10_000}, {"owed": 9_999}),
        ({"amount": {"USD": {"min": 10_000, "max": 50_000}}}, {"owed": 49_999}, {"owed": 50_000}),
        ({"amount": {"USD": {"min": 0}}}, {"owed": 1}, {"currency": "EUR"}),
        ({"countries": ["DE", "AT"]}, {"country": "AT"}, {"country": "US"}),
        ({"countries": ["DE"]}, {"country": "DE"}, {"country": None}),
        ({"customer": "first"}, {"earlier_orders": 0}, {"earlier_orders": 4}),
        ({"customer": "returning"}, {"earlier_orders": 1}, {"earlier_orders": None}),
        ({"payment_terms": True}, {"terms": "Net 30"}, {}),
        ({"payment_terms": False}, {}, {"terms": "Net 30"}),
    ],
)
def test_each_condition_takes_what_it_says_and_nothing_else(
    when: dict[str, Any], matching: dict[str, Any], other: dict[str, Any]
) -> None:
    policy = _policy(_strategy("special", when))
    assert _taken(policy, _case(**matching)).strategy.id == "special"
    missed = _taken(policy, _case(**other))
    assert missed.strategy.id == "default"
    assert missed.why.startswith("no other strategy matched (special: ")
    # The quick check and the reasons agree, both ways
    conditions = policy.strategies[0].conditions
    for facts, holds in (
        (case_facts.facts_of(_case(**matching)), True),
        (case_facts.facts_of(_case(**other)), False),
    ):
        assert conditions.holds(facts) is holds
        assert (conditions.failure(facts) is None) is holds


def test_the_risk_condition_reads_the_screening() -> None:
    policy = _policy(_strategy("careful", {"risks": ["review", "unscored"]}))
    assert _taken(policy, _case(), risk="review").strategy.id == "careful"
    assert _taken(policy, _case(), risk="low").strategy.id == "default"


def test_all_conditions_must_hold_and_the_why_names_them() -> None:
    policy = _policy(
        _strategy(
            "big-de",
            {"countries": ["DE"], "amount": {"EUR": {"min": 100_000}}, "declines": ["soft"]},
        )
    )
    big = _case(country="DE", owed=150_000, currency="EUR", decline="insufficient_funds")
    choice = _taken(policy, big)
    assert choice.strategy.id == "big-de"
    assert choice.why == (
        "decline soft (insufficient_funds); owes EUR 1,500.00 within EUR 1,000.00 and up; "
        "country DE"
    )
    small = _case(country="DE", owed=150, currency="EUR", decline="insufficient_funds")
    assert "big-de: owes EUR 1.50, outside EUR 1,000.00 and up" in _taken(policy, small).why


def test_the_first_matching_strategy_in_order_takes_the_case() -> None:
    de = _strategy("germany", {"countries": ["DE"]})
    large = _strategy("large", {"amount": {"USD": {"min": 100_000}}})
    case = _case(country="DE", owed=200_000)
    assert _taken(_policy(de, large), case).strategy.id == "germany"
    assert _taken(_policy(large, de), case).strategy.id == "large"
    assert _taken(_policy(large, de), _case(country="DE", owed=500)).strategy.id == "germany"


def test_a_strategy_without_conditions_takes_everything_after_it() -> None:
    policy = _policy(_strategy("all", {}), _strategy("never", {"countries": ["DE"]}))
    choice = _taken(policy, _case(country="DE"))
    assert (choice.strategy.id, choice.why) == ("all", "any case")


def test_shipped_strategies_apply_until_the_shop_sets_its_own() -> None:
    untouched = default_policy()
    assert untouched.strategies is None
    transfer = _case(gateways=("Bank Deposit",))
    choice = _taken(untouched, transfer)
    assert choice.strategy.id == "manual-payments"
    assert choice.steps[0].delay == timedelta(days=3)
    assert _taken(untouched, _case()).strategy.id == "default"
    # A shop that set its list (here, none) keeps exactly that list.
    assert _taken(_policy(), transfer).strategy.id == "default"
    assert "strategies" not in policy_to_dict(untouched)


def test_cadence_for_gives_the_strategy_steps_and_falls_back_to_the_default() -> None:
    policy = _policy(_strategy("slow", {}, first="6d"))
    slow = strategies.cadence_for(policy, "slow")
    assert slow.steps[0].delay == timedelta(days=6)
    assert strategies.cadence_for(policy, "default") is policy
    assert strategies.cadence_for(policy, "deleted-since") is policy
    assert strategies.cadence_for(policy, "") is policy


# --- validation -----------------------------------------------------------------------------


def _refused(*listed: Any) -> PolicyError:
    data = policy_to_dict(default_policy())
    data["strategies"] = list(listed)
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)
    return caught.value


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda s: s.update(id="Not OK"), "strategies[0].id"),
        (lambda s: s.update(id="default"), "strategies[0].id"),
        (lambda s: s.update(name=""), "strategies[0].name"),
        (lambda s: s["when"].update(methods=["cheque"]), "strategies[0].when.methods[0]"),
        (lambda s: s["when"].update(declines=["maybe"]), "strategies[0].when.declines[0]"),
        (lambda s: s["when"].update(countries=["de"]), "strategies[0].when.countries[0]"),
        (lambda s: s["when"].update(customer="vip"), "strategies[0].when.customer"),
        (lambda s: s["when"].update(risks=["low", "medium"]), "strategies[0].when.risks[1]"),
        (lambda s: s["when"].update(payment_terms="yes"), "strategies[0].when.payment_terms"),
        (lambda s: s["when"].update(colour="red"), "strategies[0].when.colour"),
        (
            lambda s: s["when"].update(amount={"USD": {"min": 500, "max": 500}}),
            "strategies[0].when.amount.USD.max",
        ),
        (
            lambda s: s["when"].update(amount={"USD": {"min": -1}}),
            "strategies[0].when.amount.USD.min",
        ),
        (lambda s: s["when"].update(amount={"dollars": {}}), "strategies[0].when.amount.dollars"),
        (lambda s: s["steps"][1].update(delay="0h"), "strategies[0].steps[1].delay"),
        (lambda s: s["steps"][0].update(tone="final_notice"), "strategies[0].steps[0].tone"),
        (lambda s: s.update(courtesy_days=15), "strategies[0].courtesy_days"),
        (lambda s: s.update(variants={"b": _steps()}), "strategies[0].variants.b"),
    ],
)
def test_a_bad_strategy_is_refused_naming_its_field(mutate: Any, field: str) -> None:
    strategy = _strategy("wholesale", {"payment_terms": True})
    mutate(strategy)
    assert _refused(strategy).field == field


def test_ids_are_unique_and_the_list_is_bounded() -> None:
    assert _refused(_strategy("a", {}), _strategy("a", {})).field == "strategies[1].id"
    many = [_strategy(f"s{i}", {}) for i in range(strategies.MAX_STRATEGIES + 1)]
    assert "at most 20" in _refused(*many).message


def test_a_strategy_template_the_shop_lacks_is_refused_by_its_path() -> None:
    strategy = _strategy("x", {})
    strategy["steps"][0]["template"] = "missing"
    policy = _policy(strategy)
    with pytest.raises(PolicyError) as caught:
        check_templates(
            policy,
            {
                "friendly": ("email", "sms"),
                "firm": ("email", "sms"),
                "firm_sms": ("sms",),
                "final_notice": ("email", "sms"),
            },
        )
    assert caught.value.field == "strategies[0].steps[0].template"


def test_strategies_survive_the_json_round_trip() -> None:
    listed = [
        _strategy(
            "wholesale",
            {
                "payment_terms": True,
                "amount": {"USD": {"min": 50_000, "max": None}, "EUR": {"min": 0, "max": 900}},
                "methods": ["bank_transfer", "card"],
                "countries": ["US"],
                "customer": "returning",
                "risks": ["low"],
                "declines": ["none", "soft"],
            },
            courtesy_days=3,
        ),
        _experimented(),
    ]
    policy = _policy(*listed)
    again = parse_policy(copy.deepcopy(policy_to_dict(policy)))
    assert again == policy
    assert policy_to_dict(again) == policy_to_dict(policy)


# --- experiments ----------------------------------------------------------------------------


def _experimented() -> dict[str, Any]:
    return _strategy(
        "trial",
        {},
        experiment={
            "id": "cadence-test",
            "arms": [
                {"id": "control", "weight": 45},
                {"id": "fast", "weight": 45},
                {"id": "holdout", "weight": 10, "holdout": True},
            ],
            "started_at": "2026-11-01T00:00:00+00:00",
        },
        variants={"fast": _steps(first="4h")},
    )


def test_an_experiment_assigns_each_case_an_arm_for_good() -> None:
    policy = _policy(_experimented())
    arms = [_taken(policy, _case(case_id=str(i))).arm for i in range(3000)]
    again = [_taken(policy, _case(case_id=str(i))).arm for i in range(3000)]
    assert arms == again
    counts = {a: sum(1 for arm in arms if arm and arm.id == a) for a in ("control", "fast")}
    holdout = sum(1 for arm in arms if arm and arm.holdout)
    assert 0.07 < holdout / 3000 < 0.13
    assert all(0.40 < n / 3000 < 0.50 for n in counts.values())


def test_each_arm_follows_its_own_steps() -> None:
    policy = _policy(_experimented())
    by_arm: dict[str, strategies.Choice] = {}
    for i in range(200):
        choice = _taken(policy, _case(case_id=str(i)))
        assert choice.arm is not None
        by_arm.setdefault(choice.arm.id, choice)
    assert by_arm["fast"].steps[0].delay == timedelta(hours=4)
    assert by_arm["control"].steps[0].delay == timedelta(days=2)
    assert by_arm["holdout"].holdout and not by_arm["fast"].holdout
    assert strategies.cadence_for(policy, "trial", "fast").steps[0].delay == timedelta(hours=4)
    assert strategies.cadence_for(policy, "trial", "control").steps[0].delay == timedelta(days=2)


def test_the_tester_shows_every_strategy_tried_up_to_the_taker() -> None:
    policy = _policy(
        _strategy("germany", {"countries": ["DE"]}), _strategy("bank", {"methods": ["bnpl"]})
    )
    tried = strategies.evaluate(policy, case_facts.facts_of(_case(gateways=("Klarna",))))
    assert [(t.strategy.id, t.failure) for t in tried] == [
        ("germany", "country US, not DE"),
        ("bank", None),
    ]


def test_cancelling_unpaid_orders_is_only_for_manual_payment_strategies() -> None:
    manual = _strategy("transfers", {"methods": ["bank_transfer"]}, cancel_after_days=10)
    assert _policy(manual).strategies[0].cancel_after_days == 10
    cards = _strategy("cards", {"methods": ["card", "bank_transfer"]}, cancel_after_days=10)
    refused = _refused(cards)
    assert refused.field == "strategies[0].cancel_after_days"
    assert "only to a strategy for manual payments" in refused.message
    assert _refused(_strategy("any", {}, cancel_after_days=5)).field == (
        "strategies[0].cancel_after_days"
    )
    too_long = _strategy("t", {"methods": ["cash_on_delivery"]}, cancel_after_days=91)
    assert "between 0 and 90" in _refused(too_long).message


def test_a_courtesy_reminder_goes_at_ten_in_the_morning_days_before_the_due_day() -> None:
    from zoneinfo import ZoneInfo

    due = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)  # midnight in Los Angeles, 2 December
    at = strategies.courtesy_time(due, 3, ZoneInfo("America/Los_Angeles"))
    assert at == datetime(2026, 11, 29, 18, 0, tzinfo=UTC)  # 10:00 PST on 29 November
    assert strategies.courtesy_time(due, 1, ZoneInfo("Asia/Tokyo")) == datetime(
        2026, 12, 1, 1, 0, tzinfo=UTC
    )  # 17:00 in Tokyo on the 2nd is the due day there: 10:00 JST on the 1st


def test_the_customers_past_cases_read_worst_first() -> None:
    from recoup.domain.dunning import Dunning, DunningStatus, SentMessage

    def past(status: CaseStatus, sent: bool = False, spent: bool = False) -> Any:
        case = replace(_case(), status=status)
        message = SentMessage(0, "email", OPENED, "p", "friendly", 100, "USD")
        dunning = Dunning(
            DunningStatus.AWAITING_ESCALATION if spent else DunningStatus.STOPPED,
            sent=(message,) if sent else (),
        )
        return case, dunning

    assert case_facts.history_of([]) == "no_past_cases"
    assert case_facts.history_of([past(CaseStatus.PAID)]) == "paid_without_reminders"
    assert case_facts.history_of([past(CaseStatus.PAID), past(CaseStatus.PAID, sent=True)]) == (
        "paid_after_reminders"
    )
    assert case_facts.history_of(
        [past(CaseStatus.PAID, sent=True), past(CaseStatus.CANCELLED)]
    ) == ("never_paid")
    assert case_facts.history_of([past(CaseStatus.OPEN, sent=True, spent=True)]) == "never_paid"
    assert case_facts.history_of([past(CaseStatus.OPEN)]) == "no_past_cases"  # still running


def test_the_past_cases_condition_is_read_only_when_a_strategy_asks() -> None:
    asks = _strategy("watch", {"past_cases": ["never_paid"]})
    policy = _policy(asks)
    assert strategies.needs_history(policy)
    assert not strategies.needs_history(_policy(_strategy("de", {"countries": ["DE"]})))
    facts = case_facts.facts_of(_case())
    assert facts.history is None  # not looked up: the condition does not hold
    assert not policy.strategies[0].conditions.holds(facts)
    known = replace(facts, history="never_paid")
    assert _taken_with(policy, known).strategy.id == "watch"
    assert _refused(_strategy("w", {"past_cases": ["late"]})).field == (
        "strategies[0].when.past_cases[0]"
    )


def _taken_with(policy: Any, facts: CaseFacts) -> strategies.Choice:
    return strategies.choose(policy, facts, "s.myshopify.com", "1")
