"""Experiments: the definition and its validation, assignment, the figures and the verdict."""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from recoup.domain.experiments import (
    Arm,
    Experiment,
    ExperimentError,
    Outcome,
    assign,
    experiment_to_dict,
    newcombe,
    parse_experiment,
    results,
    spending_boundary,
    two_proportion_z,
    verdict,
    wilson,
)

STARTED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _data() -> dict[str, Any]:
    """A valid experiment as the admin API sends it."""
    return {
        "id": "cadence-2026-03",
        "arms": [
            {"id": "a", "weight": 45},
            {"id": "b", "weight": 45, "holdout": False},
            {"id": "holdout", "weight": 10, "holdout": True},
        ],
        "started_at": "2026-03-02T09:30:00+00:00",
        "max_holdout_percent": 20,
    }


def _experiment(*weights: int, holdout: int | None = None, exp_id: str = "exp") -> Experiment:
    """Arms a, b, c, ... with these weights; the one at index `holdout` is the holdout."""
    arms = tuple(Arm("abcde"[i], weight, holdout=i == holdout) for i, weight in enumerate(weights))
    return Experiment(exp_id, arms, STARTED)


def _cases(arm: str, cases: int, paid: int) -> list[Outcome]:
    """`cases` outcomes of `arm`, the first `paid` of them paid (1,000 minor units, 2 days)."""
    return [
        Outcome(
            arm, i < paid, 1000 if i < paid else 0, "USD", 2.0 if i < paid else None, False, False
        )
        for i in range(cases)
    ]


# --- statistics against hand-computed values ---------------------------------------------------


def test_wilson_matches_the_classic_example() -> None:
    # x = 81, n = 263: p = 0.307985, z = 1.959964, z^2 = 3.841459, z^2/n = 0.014606.
    # centre = (p + z^2/2n) / (1 + z^2/n) = (0.307985 + 0.007303) / 1.014606 = 0.310749
    # half = z / 1.014606 * sqrt(p(1-p)/n + z^2/4n^2)
    #      = 1.931746 * sqrt(0.00081038 + 0.00001388) = 1.931746 * 0.0287102 = 0.055461
    # interval = (0.310749 - 0.055461, 0.310749 + 0.055461) = (0.2553, 0.3662)
    lower, upper = wilson(81, 263)
    assert lower == pytest.approx(0.2553, abs=5e-5)
    assert upper == pytest.approx(0.3662, abs=5e-5)


def test_wilson_at_the_edges() -> None:
    assert wilson(0, 0) == (0.0, 1.0)  # nothing known
    none_paid = wilson(0, 10)
    assert none_paid[0] == 0.0
    # upper = (z^2/2n + z^2/2n) / (1 + z^2/n) = 0.384146 / 1.384146 = 0.2775
    assert none_paid[1] == pytest.approx(0.2775, abs=5e-5)
    assert wilson(10, 10) == (pytest.approx(1 - 0.2775, abs=5e-5), 1.0)
    assert wilson(81, 263, confidence=0.99)[0] < wilson(81, 263)[0]  # wider at 99%


@pytest.mark.parametrize(
    ("x", "n", "confidence"), [(11, 10, 0.95), (-1, 10, 0.95), (True, 10, 0.95), (5, 10, 1.0)]
)
def test_wilson_refuses_impossible_input(x: int, n: int, confidence: float) -> None:
    with pytest.raises(ValueError, match=r"x <= n|confidence"):
        wilson(x, n, confidence)


def test_two_proportion_z_matches_the_hand_computation() -> None:
    # pooled p = (45 + 30) / 200 = 0.375; se = sqrt(0.375 * 0.625 * (1/100 + 1/100)) = 0.068465
    # z = (0.45 - 0.30) / 0.068465 = 2.1909; p = 2 * (1 - Phi(2.1909)) = 0.02846
    z, p = two_proportion_z(45, 100, 30, 100)
    assert z == pytest.approx(2.1909, abs=5e-5)
    assert p == pytest.approx(0.02846, abs=5e-6)
    assert two_proportion_z(30, 100, 45, 100) == (pytest.approx(-z), pytest.approx(p))


def test_two_proportion_z_without_evidence() -> None:
    assert two_proportion_z(0, 0, 5, 10) == (0.0, 1.0)  # an empty sample
    assert two_proportion_z(0, 50, 0, 80) == (0.0, 1.0)  # pooled rate 0: se is 0
    assert two_proportion_z(50, 50, 80, 80) == (0.0, 1.0)  # pooled rate 1


def test_newcombe_matches_newcombe_1998_table_ii() -> None:
    # 56/70 = 0.8: Wilson (0.691834, 0.876953); 48/80 = 0.6: Wilson (0.490455, 0.700382).
    # lower = 0.2 - sqrt((0.8 - 0.691834)^2 + (0.700382 - 0.6)^2)
    #       = 0.2 - sqrt(0.108166^2 + 0.100382^2) = 0.2 - 0.147569 = 0.0524
    # upper = 0.2 + sqrt((0.876953 - 0.8)^2 + (0.6 - 0.490455)^2)
    #       = 0.2 + sqrt(0.076953^2 + 0.109545^2) = 0.2 + 0.133873 = 0.3339
    lower, upper = newcombe(56, 70, 48, 80)
    assert lower == pytest.approx(0.0524, abs=5e-5)
    assert upper == pytest.approx(0.3339, abs=5e-5)


def test_spending_boundary() -> None:
    assert spending_boundary(0.05, 1.0) == pytest.approx(0.05, abs=1e-12)
    # t = 0.25: 2 - 2 * Phi(1.959964 / 0.5) = 2 * Phi(-3.919928) = 2 * 0.000044288 = 0.0000886
    assert spending_boundary(0.05, 0.25) == pytest.approx(0.0000886, abs=5e-8)
    assert spending_boundary(0.05, 0.0) == 0.0
    looks = [spending_boundary(0.05, t / 10) for t in range(11)]
    assert looks == sorted(looks)  # more information, more alpha spent
    with pytest.raises(ValueError, match="information"):
        spending_boundary(0.05, 1.5)
    with pytest.raises(ValueError, match="alpha"):
        spending_boundary(0.0, 0.5)


# --- the definition ----------------------------------------------------------------------------


def _set(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = _data()
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (_set(("arms", 1, "weight"), 35), "arms", "weights must add up to 100, got 90"),
        (_set(("arms", 1, "weight"), 0), "arms[1].weight", "from 1 to 100, got 0"),
        (_set(("arms", 1, "weight"), 45.0), "arms[1].weight", "whole percent"),
        (_set(("arms", 0, "id"), "A"), "arms[0].id", "a-z, 0-9"),
        (_set(("arms", 1, "id"), "a"), "arms[1].id", "already the id of arms[0]"),
        (_set(("arms", 1, "holdout"), "yes"), "arms[1].holdout", "true or false"),
        (_set(("arms", 0, "colour"), "red"), "arms[0].colour", "unknown key"),
        (_set(("arms", 2), "holdout"), "arms[2]", "must be an object"),
        (_set(("arms",), [{"id": "a", "weight": 100}]), "arms", "2 to 5 arms, got 1"),
        (
            _set(("arms",), [{"id": f"x{i}", "weight": 10} for i in range(6)]),
            "arms",
            "2 to 5 arms, got 6",
        ),
        (_set(("arms",), "a,b"), "arms", "must be a list"),
        (_set(("id",), "Cadence test"), "id", "a-z, 0-9"),
        (_set(("started_at",), "2026-03-02T09:30:00"), "started_at", "zone offset"),
        (_set(("started_at",), "yesterday"), "started_at", "ISO 8601"),
        (_set(("max_holdout_percent",), 60), "max_holdout_percent", "from 0 to 50, got 60"),
        (_set(("colour",), "red"), "colour", "unknown key"),
    ],
)
def test_invalid_experiments_name_the_field(data: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ExperimentError) as caught:
        parse_experiment(data)
    assert caught.value.field == field
    assert message in caught.value.message


def test_the_holdout_rules() -> None:
    two = _data()
    two["arms"][1]["holdout"] = True
    two["arms"][1]["weight"] = 10
    two["arms"][0]["weight"] = 80
    with pytest.raises(ExperimentError) as caught:
        parse_experiment(two)
    assert caught.value.field == "arms[2].holdout"
    assert "arms[1] already is" in caught.value.message

    big = _data()
    big["arms"][0]["weight"] = 40
    big["arms"][2]["weight"] = 15
    big["max_holdout_percent"] = 10
    with pytest.raises(ExperimentError) as caught:
        parse_experiment(big)
    assert caught.value.field == "arms[2].weight"
    assert caught.value.message == "the holdout may take at most 10% of cases, got 15"
    big["max_holdout_percent"] = 15
    assert parse_experiment(big).arms[2].weight == 15  # at the bound is allowed
    default = _data()
    del default["max_holdout_percent"]
    default["arms"][0]["weight"] = 25
    default["arms"][2]["weight"] = 30
    with pytest.raises(ExperimentError, match="at most 20%"):
        parse_experiment(default)


def test_round_trip() -> None:
    experiment = parse_experiment(_data())
    assert experiment.arms[2] == Arm("holdout", 10, holdout=True)
    assert experiment_to_dict(experiment) == {
        **_data(),
        "arms": [{**arm, "holdout": arm.get("holdout", False)} for arm in _data()["arms"]],
        "planned_cases_per_arm": 1000,  # the default, written out
    }
    assert parse_experiment(experiment_to_dict(experiment)) == experiment
    zulu = copy.deepcopy(_data())
    zulu["started_at"] = "2026-03-02T10:30:00+01:00"
    assert parse_experiment(zulu) == experiment  # the same instant, kept in UTC
    assert parse_experiment(zulu).started_at.tzinfo is UTC


def test_constructed_in_code() -> None:
    built = Experiment("exp", [Arm("a", 50), Arm("b", 50)], STARTED)  # type: ignore[arg-type]
    assert built.arms == (Arm("a", 50), Arm("b", 50))
    local = datetime(2026, 3, 2, 11, 30, tzinfo=timezone(timedelta(hours=2)))
    assert Experiment("exp", built.arms, local).started_at == STARTED
    with pytest.raises(ExperimentError) as caught:
        Experiment("exp", built.arms, datetime(2026, 3, 2))  # noqa: DTZ001
    assert caught.value.field == "started_at"
    with pytest.raises(ExperimentError) as caught:
        Experiment("exp", (Arm("a", 50), "b"), STARTED)  # type: ignore[arg-type]
    assert caught.value.field == "arms[1]"
    with pytest.raises(ExperimentError) as caught:
        Arm("a", 101)
    assert caught.value.field == "weight"


# --- assignment --------------------------------------------------------------------------------

CASE_IDS = [f"gid://shopify/Order/{5_000_000 + i}" for i in range(20_000)]


def test_assignment_is_stable_and_follows_the_specified_hash() -> None:
    experiment = _experiment(30, 50, 20, holdout=2)
    for case_id in CASE_IDS[:500]:
        arm = assign(experiment, "shop.myshopify.com", case_id)
        assert assign(experiment, "shop.myshopify.com", case_id) is arm
        key = f"exp\x1fshop.myshopify.com\x1f{case_id}".encode()
        bucket = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % 10_000
        # buckets 0-2999 are a's, 3000-7999 b's, 8000-9999 c's
        assert arm.id == ("a" if bucket < 3000 else "b" if bucket < 8000 else "c")


@pytest.mark.parametrize("weights", [(30, 50, 20), (10, 20, 30, 25, 15), (50, 50)])
def test_shares_follow_the_weights(weights: tuple[int, ...]) -> None:
    experiment = _experiment(*weights)
    counts = Counter(assign(experiment, "shop", case_id).id for case_id in CASE_IDS)
    for arm in experiment.arms:
        share = counts[arm.id] / len(CASE_IDS) * 100
        assert abs(share - arm.weight) <= 1.5, (arm.id, share)


def test_experiments_assign_independently() -> None:
    first = _experiment(40, 60, exp_id="first")
    second = _experiment(40, 60, exp_id="second")
    both_a = sum(
        assign(first, "shop", c).id == "a" and assign(second, "shop", c).id == "a" for c in CASE_IDS
    )
    # independent: P(a in both) = 0.4 * 0.4 = 0.16 (identical hashing would give 0.40)
    assert abs(both_a / len(CASE_IDS) - 0.16) <= 0.015
    other_shop = sum(assign(first, "shop", c) != assign(first, "other-shop", c) for c in CASE_IDS)
    assert other_shop > 0  # the shop is part of the key


# --- figures -----------------------------------------------------------------------------------


def test_figures_per_arm() -> None:
    experiment = _experiment(45, 45, 10, holdout=2)
    outcomes = [
        Outcome("b", True, 1500, "usd", 1.0, False, False),
        Outcome("a", True, 2000, "USD", 4.0, True, False),
        Outcome("a", True, 500, "EUR", 1.0, False, True),
        Outcome("a", True, 700, "USD", 10.0, False, False),
        Outcome("a", False, 0, "USD", None, True, False),
        Outcome("b", True, 1500, "USD", 3.0, False, False),
        Outcome("b", True, 300, "USD", None, False, False),  # paid, time unknown
        Outcome("b", False, 200, "USD", None, False, False),  # a part paid, not settled
    ]
    a, b, holdout = results(experiment, outcomes)
    assert (a.arm, a.cases, a.paid, a.recovery_rate) == ("a", 4, 3, 0.75)
    assert a.recovery_ci == wilson(3, 4)
    assert a.recovered == {"EUR": 500, "USD": 2700}
    assert a.median_days_to_pay == 4.0  # days 1, 4, 10
    assert (a.unsubscribe_rate, a.complaint_rate) == (0.5, 0.25)
    assert b.recovered == {"USD": 3500}  # 1500 + 1500 + 300 + 200
    assert b.median_days_to_pay == 2.0  # days 1 and 3; the unknown time is left out
    assert (holdout.arm, holdout.holdout, holdout.cases, holdout.paid) == ("c", True, 0, 0)
    assert (holdout.recovery_rate, holdout.recovery_ci) == (0.0, (0.0, 1.0))
    assert (holdout.recovered, holdout.median_days_to_pay) == ({}, None)
    assert (holdout.unsubscribe_rate, holdout.complaint_rate) == (0.0, 0.0)


def test_figures_refuse_an_arm_the_experiment_lacks() -> None:
    with pytest.raises(ValueError, match="no arm 'z'"):
        results(_experiment(50, 50), [Outcome("z", False, 0, "USD", None, False, False)])


@pytest.mark.parametrize(
    ("minor", "currency", "days", "problem"),
    [
        (-1, "USD", None, "recovered_minor"),
        (0, "XXQ", None, "unknown currency"),
        (0, "USD", -1.0, "days_to_pay"),
        (0, "USD", float("nan"), "days_to_pay"),
    ],
)
def test_outcomes_are_checked(minor: int, currency: str, days: float | None, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Outcome("a", False, minor, currency, days, False, False)


# --- verdict -----------------------------------------------------------------------------------


def test_comparisons_against_the_holdout() -> None:
    experiment = _experiment(40, 40, 20, holdout=2)
    outcomes = _cases("a", 70, 56) + _cases("b", 80, 48) + _cases("c", 80, 48)
    found = verdict(experiment, outcomes)
    assert [c.arm for c in found.comparisons] == ["a", "b"]
    a, b = found.comparisons
    # a: 56/70 vs the holdout's 48/80 (Newcombe's example): 0.2, CI (0.0524, 0.3339)
    assert a.holdout == "c"
    assert a.incremental_recovery == pytest.approx(0.2)
    assert a.ci == (pytest.approx(0.0524, abs=5e-5), pytest.approx(0.3339, abs=5e-5))
    # pooled 104/150 = 0.693333; se = sqrt(0.693333 * 0.306667 * (1/70 + 1/80)) = 0.075467
    # z = 0.2 / 0.075467 = 2.6502; p = 2 * Phi(-2.6502) = 0.00805
    assert (a.z, a.p_value) == (pytest.approx(2.6502, abs=5e-5), pytest.approx(0.00805, abs=5e-6))
    assert (b.incremental_recovery, b.z, b.p_value) == (0.0, 0.0, 1.0)
    assert verdict(_experiment(50, 50), _cases("a", 40, 20)).comparisons == ()


def test_winner_named_when_the_difference_beats_the_boundary() -> None:
    outcomes = _cases("a", 100, 30) + _cases("b", 100, 45)
    found = verdict(_experiment(50, 50), outcomes, planned_cases_per_arm=100)
    # 45/100 vs 30/100: z = 2.1909, p = 0.02846 < 0.05 (all of alpha at t = 1, one pair)
    assert found.winner == "b"
    assert found.why == (
        "arm b recovers 15.0 points more than arm a (z = 2.19, p = 0.0285, "
        "below the 0.0500 boundary at 100% of the planned cases)"
    )
    # The same data at t = 100/160 = 0.625: boundary 2 * Phi(-1.959964 / sqrt(0.625))
    # = 2 * Phi(-2.479180) = 0.01317, and p = 0.0285 is not below it.
    early = verdict(_experiment(50, 50), outcomes, planned_cases_per_arm=160)
    assert early.winner is None
    assert early.information == 0.625
    assert early.boundary == pytest.approx(0.01317, abs=5e-6)
    assert early.why == (
        "no winner yet: arm b recovers 15.0 points more than arm a (z = 2.19, p = 0.0285, "
        "not below the 0.0132 boundary at 62% of the planned cases)"
    )


def test_a_clear_difference_wins_at_full_information_but_not_at_ten_percent() -> None:
    outcomes = _cases("a", 1000, 300) + _cases("b", 1000, 400) + _cases("h", 100, 10)
    experiment = Experiment("exp", (Arm("a", 45), Arm("b", 45), Arm("h", 10, True)), STARTED)
    # pooled 0.35; se = sqrt(0.35 * 0.65 * 2/1000) = 0.021331; z = 0.1 / 0.021331 = 4.6881;
    # p = 2 * Phi(-4.6881) = 0.0000028
    assert verdict(experiment, outcomes).winner == "b"
    # planned 10,000 per arm: t = 0.1, boundary 2 * Phi(-1.959964 / sqrt(0.1)) = 5.7e-10
    early = verdict(experiment, outcomes, planned_cases_per_arm=10_000)
    assert early.winner is None
    assert early.boundary == pytest.approx(5.72e-10, rel=1e-3)
    assert "p = 0.0000028, not below the 0.00000000057 boundary at 10%" in early.why


def test_no_winner_under_thirty_cases() -> None:
    experiment = _experiment(50, 50)
    thin = verdict(experiment, _cases("a", 29, 0) + _cases("b", 29, 29), planned_cases_per_arm=29)
    assert thin.winner is None
    assert thin.why == "no winner yet: arm a has 29 cases, fewer than the 30 needed to compare arms"
    enough = verdict(experiment, _cases("a", 30, 0) + _cases("b", 30, 30), planned_cases_per_arm=30)
    assert enough.winner == "b"


def test_bonferroni_over_the_pairs_of_arms() -> None:
    pair = _cases("a", 100, 30) + _cases("b", 100, 45)
    assert verdict(_experiment(50, 50), pair, planned_cases_per_arm=100).winner == "b"
    # A third arm makes three pairs: each must beat 0.05 / 3 = 0.016667 at t = 1. b beats c
    # easily, but against a p = 0.0285 (the hardest comparison) is not enough.
    three = verdict(
        _experiment(34, 33, 33), [*pair, *_cases("c", 100, 10)], planned_cases_per_arm=100
    )
    assert three.boundary == pytest.approx(0.05 / 3)
    assert three.winner is None
    assert "arm b recovers 15.0 points more than arm a" in three.why


def test_equal_arms_have_no_winner() -> None:
    found = verdict(_experiment(50, 50), _cases("a", 200, 80) + _cases("b", 200, 80))
    assert found.winner is None
    assert "arm a recovers 0.0 points more than arm b (z = 0.00, p = 1.0000" in found.why


def test_a_single_arm_against_the_holdout_has_no_winner() -> None:
    found = verdict(_experiment(80, 20, holdout=1), _cases("a", 500, 200) + _cases("b", 100, 5))
    assert found.winner is None
    assert found.why.startswith("no winner: arm a is the only arm besides the holdout")
    assert found.comparisons[0].incremental_recovery == pytest.approx(0.35)  # 0.40 - 0.05


@pytest.mark.parametrize(
    ("planned", "alpha", "problem"),
    [(0, 0.05, "planned_cases_per_arm"), (100, 0.0, "alpha"), (100, 1.0, "alpha")],
)
def test_verdict_refuses_bad_parameters(planned: int, alpha: float, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        verdict(_experiment(50, 50), [], planned_cases_per_arm=planned, alpha=alpha)
