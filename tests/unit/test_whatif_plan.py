"""The what-if planner: a case's messages as the policy would send them (times after quiet
hours, the strategy and arm, a due date's start, a payment that stops the rest, the holdout,
the minimum), and the summary's counts over a handful of cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from recoup.domain import experiments, whatif
from recoup.domain.cadence import (
    PolicyError,
    ReminderPolicy,
    default_policy,
    parse_policy,
    policy_to_dict,
)
from recoup.domain.case import Case, CaseStatus
from recoup.domain.events import Customer, OrderSnapshot
from recoup.domain.money import Money
from recoup_local.cli import main, whatif_policy

SHOP = "s.myshopify.com"
OPENED = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # 10:00 in New York (EST, UTC-5)
NEW_YORK = ZoneInfo("America/New_York")
LATER = OPENED + timedelta(days=60)
CARD = ("shopify_payments",)
BANK = ("Bank Deposit",)


def _step(delay: str, anchor: str, template: str = "friendly", channel: str = "email") -> Any:
    tone = template if template in ("friendly", "firm", "final_notice") else "firm"
    return {
        "delay": delay,
        "anchor": anchor,
        "channel": channel,
        "template": template,
        "tone": tone,
        "pay_link": True,
    }


THREE_STEPS = [
    _step("1d", "opened"),
    _step("12h", "previous", "firm", "email_then_sms"),
    _step("30h", "previous", "final_notice"),
]


def _policy(
    steps: list[Any] = THREE_STEPS,
    strategies: list[Any] | None = None,
    *,
    quiet: tuple[str, str] = ("21:00", "08:00"),
    min_amount: dict[str, int] | None = None,
) -> ReminderPolicy:
    data = policy_to_dict(default_policy())
    data.update(steps=steps, quiet_hours={"start": quiet[0], "end": quiet[1]})
    data["strategies"] = strategies or []
    data["min_amount"] = min_amount or {}
    return parse_policy(data)


def _case(
    case_id: str = "1001",
    *,
    gateways: tuple[str, ...] = CARD,
    owed: int = 12_000,
    opened: datetime = OPENED,
    paid_at: datetime | None = None,
    terms: str | None = None,
    due: datetime | None = None,
) -> Case:
    since: tuple[tuple[CaseStatus, datetime], ...] = ((CaseStatus.OPEN, opened),)
    if paid_at is not None:
        since += ((CaseStatus.PAID, paid_at),)
    return Case(
        shop=SHOP,
        case_id=case_id,
        status=CaseStatus.PAID if paid_at else CaseStatus.OPEN,
        status_since=since,
        snapshot=OrderSnapshot(
            amount_owed=Money.of(0 if paid_at else owed, "USD"),
            order_total=Money.of(owed, "USD"),
            customer=Customer(country="US", province="NY"),
            financial_status="paid" if paid_at else "pending",
            payment_gateways=gateways,
            payment_terms=terms,
            payment_due_at=due,
        ),
        owed_when_open=Money.of(owed, "USD"),
    )


def _plan(
    policy: ReminderPolicy, case: Case, now: datetime = LATER, zone: ZoneInfo = NEW_YORK
) -> whatif.CasePlan:
    return whatif.plan_case(policy, case, risk="low", zone=zone, now=now)


def _times(plan: whatif.CasePlan) -> list[datetime]:
    return [m.at for m in plan.messages]


def _experiment(*arms: dict[str, Any]) -> dict[str, Any]:
    return {"id": "first-try", "arms": list(arms), "started_at": "2026-10-01T00:00:00Z"}


def _case_in_arm(experiment: dict[str, Any], arm: str) -> str:
    """A case id the experiment puts in `arm` (assignment hashes the id)."""
    parsed = experiments.parse_experiment(experiment)
    return next(
        str(n) for n in range(2000, 3000) if experiments.assign(parsed, SHOP, str(n)).id == arm
    )


# --- one case ---------------------------------------------------------------------------------


def test_the_planned_times_follow_the_steps_and_quiet_hours_in_the_customers_zone() -> None:
    # Given a card order opened 2026-11-02 15:00 UTC (10:00 EST) under the three steps
    plan = _plan(_policy(), _case())
    # Then step 1: opened + 1d = 11-03 15:00 UTC (10:00 EST), outside quiet hours;
    # step 2: + 12h = 11-04 03:00 UTC, 22:00 EST: quiet, moved to 08:00 EST = 13:00 UTC;
    # step 3: + 30h from the moved time = 11-05 19:00 UTC (14:00 EST). Counted from the
    # unmoved 03:00 it would be 11-05 09:00 UTC, 04:00 EST, and then 13:00 UTC.
    assert _times(plan) == [
        datetime(2026, 11, 3, 15, 0, tzinfo=UTC),
        datetime(2026, 11, 4, 13, 0, tzinfo=UTC),
        datetime(2026, 11, 5, 19, 0, tzinfo=UTC),
    ]
    assert [(m.step, m.channel, m.tone, m.template) for m in plan.messages] == [
        (0, "email", "friendly", "friendly"),
        (1, "email_then_sms", "firm", "firm"),
        (2, "email", "final_notice", "final_notice"),
    ]
    assert [m.to_come for m in plan.messages] == [False, False, False]
    assert (plan.strategy_id, plan.arm, plan.note) == ("default", None, "")


def test_the_same_case_in_another_zone_is_not_moved() -> None:
    # Given the customer in UTC, quiet from midnight to 02:00 only
    plan = _plan(_policy(quiet=("00:00", "02:00")), _case(), zone=ZoneInfo("UTC"))
    # Then nothing is moved: 1d, then + 12h, then + 30h
    assert _times(plan) == [
        datetime(2026, 11, 3, 15, 0, tzinfo=UTC),
        datetime(2026, 11, 4, 3, 0, tzinfo=UTC),
        datetime(2026, 11, 5, 9, 0, tzinfo=UTC),
    ]


def test_the_strategy_that_takes_the_case_and_its_arm_are_carried() -> None:
    # Given a bank-transfer strategy running an experiment: arm "slow" has its own steps
    experiment = _experiment({"id": "fast", "weight": 50}, {"id": "slow", "weight": 50})
    bank = {
        "id": "bank",
        "name": "Bank transfers",
        "when": {"methods": ["bank_transfer"]},
        "steps": [_step("2d", "opened"), _step("3d", "previous", "final_notice")],
        "experiment": experiment,
        "variants": {"slow": [_step("4d", "opened")]},
    }
    policy = _policy(strategies=[bank])
    fast, slow = _case_in_arm(experiment, "fast"), _case_in_arm(experiment, "slow")
    # When a bank-transfer case of each arm and a card case are planned
    in_fast = _plan(policy, _case(fast, gateways=BANK))
    in_slow = _plan(policy, _case(slow, gateways=BANK))
    card = _plan(policy, _case(gateways=CARD))
    # Then the bank cases take the strategy, each in its arm with its arm's steps:
    # fast: 11-04 15:00 UTC (10:00 EST), then + 3d; slow: 11-06 15:00 UTC alone
    assert (in_fast.strategy_id, in_fast.strategy_name, in_fast.arm) == (
        "bank",
        "Bank transfers",
        "fast",
    )
    assert in_fast.why == "paid by bank_transfer"
    assert _times(in_fast) == [
        datetime(2026, 11, 4, 15, 0, tzinfo=UTC),
        datetime(2026, 11, 7, 15, 0, tzinfo=UTC),
    ]
    assert (in_slow.strategy_id, in_slow.arm) == ("bank", "slow")
    assert _times(in_slow) == [datetime(2026, 11, 6, 15, 0, tzinfo=UTC)]
    # And the card case falls to the default, saying why
    assert (card.strategy_id, card.arm) == ("default", None)
    assert card.why.startswith("no other strategy matched (bank: paid by card")
    assert len(card.messages) == 3


def test_payment_terms_start_the_sequence_at_their_due_date() -> None:
    # Given a NET-30 order due 2026-12-02 15:00 UTC (10:00 EST)
    due = OPENED + timedelta(days=30)
    plan = _plan(_policy(), _case(terms="Net 30", due=due), now=due + timedelta(days=30))
    # Then step 1 is a day after the due date, not after the opening
    assert _times(plan)[0] == datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    # And terms without a due date plan nothing yet
    waiting = _plan(_policy(), _case(terms="Due on fulfillment"))
    assert (waiting.messages, waiting.note, waiting.strategy_id) == (
        (),
        whatif.WAITS_FOR_DUE_DATE,
        "",
    )


def test_a_courtesy_reminder_is_planned_before_the_due_date() -> None:
    due = OPENED + timedelta(days=30)  # 2026-12-02 10:00 in New York
    terms = {
        "id": "terms",
        "name": "Terms",
        "when": {"payment_terms": True},
        "steps": THREE_STEPS,
        "courtesy_days": 3,
    }
    plan = _plan(_policy(strategies=[terms]), _case(terms="Net 30", due=due), now=due)
    # 10:00 New York time three days before the due day; then the steps from the due date
    assert [(m.step, m.at) for m in plan.messages[:2]] == [
        (whatif.COURTESY_STEP, datetime(2026, 11, 29, 15, 0, tzinfo=UTC)),
        (0, datetime(2026, 12, 3, 15, 0, tzinfo=UTC)),
    ]
    assert whatif.kind_of(plan.messages[0].step) == "courtesy reminder"
    paid = _plan(
        _policy(strategies=[terms]),
        _case(terms="Net 30", due=due, paid_at=OPENED + timedelta(days=10)),
        now=due,
    )
    assert paid.messages == ()  # paid on time: nothing, not even the courtesy reminder


def test_a_cancellation_ends_the_sequence_with_its_notice() -> None:
    transfers = {
        "id": "transfers",
        "name": "Transfers",
        "when": {"methods": ["bank_transfer"]},
        "steps": [_step("1d", "opened"), _step("3d", "previous", "firm")],
        "cancel_after_days": 2,
    }
    case = _case(gateways=("Bank Deposit",))
    plan = _plan(_policy(strategies=[transfers]), case)
    # Step 1 on day 1, then the notice on day 2 (10:00 New York); step 2 (day 4) never goes
    assert [(whatif.kind_of(m.step), m.at) for m in plan.messages] == [
        ("step 1", datetime(2026, 11, 3, 15, 0, tzinfo=UTC)),
        ("cancellation notice", datetime(2026, 11, 4, 15, 0, tzinfo=UTC)),
    ]


def test_a_due_date_before_the_opening_counts_from_the_opening() -> None:
    plan = _plan(_policy(), _case(terms="Net 7", due=OPENED - timedelta(days=2)))
    assert _times(plan)[0] == datetime(2026, 11, 3, 15, 0, tzinfo=UTC)


def test_a_case_paid_after_the_first_step_counts_that_one_only() -> None:
    # Given a case paid on 11-04 at 10:00 UTC: after step 1 (11-03 15:00 UTC), before
    # step 2 (11-04 13:00 UTC)
    paid = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)
    plan = _plan(_policy(), _case(paid_at=paid))
    # Then the first message went; the others are not counted at all
    assert [(m.step, m.to_come) for m in plan.messages] == [(0, False)]
    assert plan.gone == plan.messages
    assert plan.to_come == ()


def test_a_case_paid_before_any_step_counts_none_but_keeps_its_strategy() -> None:
    plan = _plan(_policy(), _case(paid_at=OPENED + timedelta(hours=2)))
    assert (plan.messages, plan.strategy_id, plan.note) == ((), "default", "")


def test_the_holdout_plans_nothing() -> None:
    experiment = _experiment(
        {"id": "hold", "weight": 20, "holdout": True}, {"id": "run", "weight": 80}
    )
    everyone = {
        "id": "all",
        "name": "Everyone",
        "when": {},
        "steps": [_step("2d", "opened")],
        "experiment": experiment,
    }
    policy = _policy(strategies=[everyone])
    held = _plan(policy, _case(_case_in_arm(experiment, "hold")))
    run = _plan(policy, _case(_case_in_arm(experiment, "run")))
    assert (held.strategy_id, held.arm, held.messages, held.note) == (
        "all",
        "hold",
        (),
        whatif.HOLDOUT,
    )
    assert (run.arm, len(run.messages), run.note) == ("run", 1, "")


def test_a_case_below_the_minimum_is_not_chased() -> None:
    policy = _policy(min_amount={"USD": 5_000})
    plan = _plan(policy, _case(owed=4_999))
    assert (plan.messages, plan.note, plan.strategy_id) == ((), whatif.NOT_CHASED, "")
    assert plan.why == "owes USD 49.99, below the shop's minimum of USD 50.00"
    # A paid case is judged on what it owed while open
    assert _plan(policy, _case(owed=4_999, paid_at=LATER)).note == whatif.NOT_CHASED
    assert _plan(policy, _case(owed=5_000, paid_at=LATER)).note == ""


def test_messages_after_now_are_still_to_come() -> None:
    # Given now between step 1 (11-03 15:00 UTC) and step 2 (11-04 13:00 UTC)
    now = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)
    plan = _plan(_policy(), _case(), now=now)
    # Then step 1 went, steps 2 and 3 are to come, at the same times as before
    assert [(m.step, m.to_come) for m in plan.messages] == [(0, False), (1, True), (2, True)]
    assert _times(plan)[2] == datetime(2026, 11, 5, 19, 0, tzinfo=UTC)


def test_a_case_that_never_opened_cannot_be_planned() -> None:
    never = Case(shop=SHOP, case_id="9")
    with pytest.raises(ValueError, match="never opened"):
        _plan(_policy(), never)


# --- the summary ------------------------------------------------------------------------------

BANK_STRATEGY = {
    "id": "bank",
    "name": "Bank transfers",
    "when": {"methods": ["bank_transfer"]},
    "steps": [_step("2d", "opened"), _step("5d", "previous", "final_notice")],
}
UNUSED = {
    "id": "cod",
    "name": "Cash on delivery",
    "when": {"methods": ["cash_on_delivery"]},
    "steps": [_step("1d", "opened")],
}


def test_the_summary_counts_cases_and_messages_per_strategy_step_channel_and_week() -> None:
    # Given cases opened Monday 2026-11-02 15:00 UTC, a policy with an unused strategy
    # first, then bank transfers (2d, then 5d later), then the default's three steps
    policy = _policy(strategies=[UNUSED, BANK_STRATEGY], min_amount={"USD": 1_000})
    now = datetime(2026, 11, 5, 0, 0, tzinfo=UTC)
    cases = [
        _case("a"),  # default: 11-03 15:00 and 11-04 13:00 gone, 11-05 19:00 to come
        _case("b", paid_at=datetime(2026, 11, 4, 10, 0, tzinfo=UTC)),  # default: 1 gone
        _case("c", gateways=BANK),  # bank: 11-04 15:00 gone, 11-09 15:00 to come
        _case("d", owed=999),  # below the minimum
        _case("e", gateways=BANK, paid_at=datetime(2026, 11, 3, 0, 0, tzinfo=UTC)),  # none
        _case("f", opened=OPENED - timedelta(days=7)),  # default: 3 gone the week before
    ]
    plans = [_plan(policy, c, now=now) for c in cases]
    start = OPENED - timedelta(days=8)  # Sunday 10-25: the window spans three weeks
    # When they are summarised
    summary = whatif.summarise(plans, window_start=start, window_end=now, policy=policy)
    # Then every strategy is listed in the policy's order, the default last
    assert summary.cases_by_strategy == {"cod": 0, "bank": 2, "default": 3}
    assert [(s.strategy_id, s.gone, s.to_come) for s in summary.strategies] == [
        ("cod", 0, 0),
        ("bank", 1, 1),  # c
        ("default", 6, 1),  # a 2 + 1, b 1, f 3
    ]
    assert (summary.cases, summary.not_chased, summary.holdout, summary.waiting) == (6, 1, 0, 0)
    assert (summary.gone, summary.to_come) == (7, 2)
    # And per strategy, step and channel
    assert [(s.strategy_id, s.step, s.channel, s.gone, s.to_come) for s in summary.steps] == [
        ("bank", 0, "email", 1, 0),
        ("bank", 1, "email", 0, 1),
        ("default", 0, "email", 3, 0),  # a, b, f
        ("default", 1, "email_then_sms", 2, 0),  # a, f
        ("default", 2, "email", 1, 1),  # f gone, a to come
    ]
    # And per week (UTC, by Monday): f's three in the week of 10-26, the rest in 11-02's
    assert [(w.monday, w.gone) for w in summary.weeks] == [
        (date(2026, 10, 19), 0),
        (date(2026, 10, 26), 3),
        (date(2026, 11, 2), 4),
    ]
    # f's first (10-27 15:00 UTC) and c's second (11-04 + 5d = 11-09 15:00 UTC)
    assert summary.first_at == datetime(2026, 10, 27, 15, 0, tzinfo=UTC)
    assert summary.last_at == datetime(2026, 11, 9, 15, 0, tzinfo=UTC)


def test_without_the_policy_the_strategies_come_as_they_appear_the_default_last() -> None:
    policy = _policy(strategies=[UNUSED, BANK_STRATEGY])
    plans = [_plan(policy, _case("a")), _plan(policy, _case("c", gateways=BANK))]
    summary = whatif.summarise(plans, window_start=OPENED, window_end=LATER)
    assert summary.cases_by_strategy == {"bank": 1, "default": 1}
    assert [s.name for s in summary.strategies] == ["Bank transfers", "Default"]


def test_the_summary_as_json() -> None:
    policy = _policy(strategies=[BANK_STRATEGY])
    now = datetime(2026, 11, 5, 0, 0, tzinfo=UTC)
    plans = [_plan(policy, _case("a"), now=now), _plan(policy, _case("c", gateways=BANK), now=now)]
    summary = whatif.summarise(plans, window_start=OPENED, window_end=now, policy=policy, cut=True)
    data = whatif.summary_to_dict(summary)
    assert data["cases_by_strategy"] == {"bank": 1, "default": 1}
    assert data["cut"] is True
    assert data["window"] == {"start": OPENED.isoformat(), "end": now.isoformat()}
    # Steps are numbered from 1, as the admin shows them
    assert data["messages"][0] == {
        "strategy": "bank",
        "arm": None,
        "step": 1,
        "kind": "step 1",
        "channel": "email",
        "tone": "friendly",
        "template": "friendly",
        "gone": 1,
        "to_come": 0,
    }
    assert data["weeks"] == {"2026-11-02": 3}  # a's two and c's one
    assert (data["gone"], data["to_come"], data["waiting_for_due_date"]) == (3, 2, 0)
    assert data["first_at"] == "2026-11-03T15:00:00+00:00"
    assert "weekly cap" in data["limits"]
    assert "opt-outs" in data["limits"]


def test_an_empty_window_summarises_to_zeros() -> None:
    summary = whatif.summarise([], window_start=OPENED, window_end=OPENED + timedelta(days=1))
    assert (summary.cases, summary.gone, summary.first_at, summary.strategies) == (0, 0, None, ())
    assert [(w.monday, w.gone) for w in summary.weeks] == [(date(2026, 11, 2), 0)]
    with pytest.raises(ValueError, match="before it starts"):
        whatif.summarise([], window_start=LATER, window_end=OPENED)


# --- the console command's file ---------------------------------------------------------------


def test_a_file_of_strategies_goes_on_the_current_policy() -> None:
    current = _policy(min_amount={"USD": 500})
    for raw in ([BANK_STRATEGY], {"strategies": [BANK_STRATEGY]}):
        policy = whatif_policy(raw, current)
        assert [s.id for s in policy.strategies or ()] == ["bank"]
        assert (policy.steps, policy.min_amount, policy.version) == (
            current.steps,
            {"USD": 500},
            current.version + 1,
        )


def test_a_file_of_a_whole_policy_replaces_it() -> None:
    whole = policy_to_dict(_policy(strategies=[BANK_STRATEGY]))
    del whole["version"]
    policy = whatif_policy(whole, _policy(min_amount={"USD": 500}))
    assert (policy.min_amount, [s.id for s in policy.strategies or ()]) == ({}, ["bank"])


def test_a_file_neither_names_what_it_must_be() -> None:
    for raw in ({"strategies": [], "weekly_cap": 3}, "bank", 7):
        with pytest.raises(PolicyError, match="a list of strategies"):
            whatif_policy(raw, _policy())
    with pytest.raises(PolicyError) as error:
        whatif_policy([{**BANK_STRATEGY, "steps": []}], _policy())
    assert error.value.field == "strategies[0].steps"


def test_the_command_refuses_a_missing_file_bad_json_and_a_window_out_of_bounds(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.json"
    assert main(["whatif", "--shop", SHOP, "--strategy", str(missing)]) == 2
    assert capsys.readouterr().err.strip() == f"{missing}: cannot read: No such file or directory"
    broken = tmp_path / "broken.json"
    broken.write_text('[{"id": "bank",]')
    assert main(["whatif", "--shop", SHOP, "--strategy", str(broken)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"{broken}: not JSON: Expecting property name enclosed in double quotes (line 1, column 16)"
    )
    assert main(["whatif", "--shop", SHOP, "--strategy", str(broken), "--days", "91"]) == 2
    assert capsys.readouterr().err.strip() == "--days must be 1 to 90, got 91"
