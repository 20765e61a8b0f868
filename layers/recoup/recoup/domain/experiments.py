"""A/B/n experiments on a shop's reminder cadence, with a holdout that gets no messages.

An `Experiment` names its arms and their whole-percent shares; `assign` puts a case in an arm
by hashing, so a case always lands in the same arm without anything stored. `results` and
`verdict` turn per-case outcomes into the admin page's figures: recovery rates with Wilson
intervals, each arm's lift over the holdout (Newcombe's interval and a z-test), and a winner
only when a difference survives both the number of comparisons (Bonferroni) and the repeated
looks of a page that can be opened at any time (O'Brien-Fleming-type Lan-DeMets spending).

Pure: the caller supplies the outcomes.
"""

from __future__ import annotations

import hashlib
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import NormalDist
from typing import Any

from recoup.domain.fields import FieldError, check_keys, is_int, object_at, show
from recoup.domain.money import normalise_currency

MIN_ARMS = 2
MAX_ARMS = 5
TOTAL_WEIGHT = 100
BUCKETS = 10_000
DEFAULT_MAX_HOLDOUT_PERCENT = 20
MAX_HOLDOUT_BOUND = 50
# Below this many cases in an arm a normal approximation is too rough to name a winner.
MIN_CASES_FOR_WINNER = 30
DEFAULT_PLANNED_CASES_PER_ARM = 1000
MAX_PLANNED_CASES = 1_000_000
DEFAULT_ALPHA = 0.05

_ID = re.compile(r"[a-z0-9_-]{1,40}")  # also keeps the hash key's \x1f separator out of ids
_NORMAL = NormalDist()


class ExperimentError(FieldError):
    """An invalid experiment; `field` is a path into its data ("arms[1].weight")."""


def _check_id(value: object, path: str) -> None:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ExperimentError(
            path, f"must be 1 to 40 characters of a-z, 0-9, '_' or '-', got {show(value)}"
        )


@dataclass(frozen=True, slots=True)
class Arm:
    """A variant of the cadence, or the holdout (no messages), with its percent of cases."""

    id: str
    weight: int
    holdout: bool = False

    def __post_init__(self) -> None:
        _check_id(self.id, "id")
        if not is_int(self.weight) or not 1 <= self.weight <= TOTAL_WEIGHT:
            raise ExperimentError(
                "weight", f"must be a whole percent from 1 to 100, got {show(self.weight)}"
            )
        if not isinstance(self.holdout, bool):
            raise ExperimentError("holdout", f"must be true or false, got {show(self.holdout)}")


def _check_arm_count(count: int) -> None:
    if not MIN_ARMS <= count <= MAX_ARMS:
        raise ExperimentError("arms", f"must have {MIN_ARMS} to {MAX_ARMS} arms, got {count}")


@dataclass(frozen=True, slots=True)
class Experiment:
    """A shop's experiment. Construction validates it; `started_at` is kept in UTC."""

    id: str
    arms: tuple[Arm, ...]
    started_at: datetime
    max_holdout_percent: int = DEFAULT_MAX_HOLDOUT_PERCENT  # the shop's bound
    # The cases per arm the experiment is sized for: how far along a look is (alpha spending).
    planned_cases_per_arm: int = DEFAULT_PLANNED_CASES_PER_ARM

    def __post_init__(self) -> None:
        _check_id(self.id, "id")
        planned = self.planned_cases_per_arm
        if not is_int(planned) or not MIN_CASES_FOR_WINNER <= planned <= MAX_PLANNED_CASES:
            raise ExperimentError(
                "planned_cases_per_arm",
                f"must be a whole number from {MIN_CASES_FOR_WINNER} to {MAX_PLANNED_CASES}, "
                f"got {show(planned)}",
            )
        started = self.started_at
        if not isinstance(started, datetime) or started.utcoffset() is None:
            raise ExperimentError(
                "started_at", f"must be a timezone-aware time, got {show(started)}"
            )
        object.__setattr__(self, "started_at", started.astimezone(UTC))
        bound = self.max_holdout_percent
        if not is_int(bound) or not 0 <= bound <= MAX_HOLDOUT_BOUND:
            raise ExperimentError(
                "max_holdout_percent",
                f"must be a whole percent from 0 to {MAX_HOLDOUT_BOUND}, got {show(bound)}",
            )
        self._check_arms()

    def _check_arms(self) -> None:
        arms = tuple(self.arms) if isinstance(self.arms, list) else self.arms
        object.__setattr__(self, "arms", arms)
        if not isinstance(arms, tuple):
            raise ExperimentError("arms", f"must be a list of arms, got {show(arms)}")
        _check_arm_count(len(arms))
        ids: list[str] = []
        for i, arm in enumerate(arms):
            if not isinstance(arm, Arm):
                raise ExperimentError(f"arms[{i}]", f"must be an Arm, got {show(arm)}")
            if arm.id in ids:
                message = f"{arm.id!r} is already the id of arms[{ids.index(arm.id)}]"
                raise ExperimentError(f"arms[{i}].id", message)
            ids.append(arm.id)
        total = sum(arm.weight for arm in arms)
        if total != TOTAL_WEIGHT:
            raise ExperimentError("arms", f"weights must add up to {TOTAL_WEIGHT}, got {total}")
        self._check_holdout()

    def _check_holdout(self) -> None:
        holdouts = [i for i, arm in enumerate(self.arms) if arm.holdout]
        if len(holdouts) > 1:
            message = f"only one arm may be the holdout, and arms[{holdouts[0]}] already is"
            raise ExperimentError(f"arms[{holdouts[1]}].holdout", message)
        bound = self.max_holdout_percent
        for i in holdouts:
            if self.arms[i].weight > bound:
                message = (
                    f"the holdout may take at most {bound}% of cases, got {self.arms[i].weight}"
                )
                raise ExperimentError(f"arms[{i}].weight", message)


# --- JSON ------------------------------------------------------------------------------------


def parse_experiment(data: Mapping[str, Any]) -> Experiment:
    """Read an experiment as the admin API and the table hold it; raises `ExperimentError`
    naming the first problem."""
    root = object_at(data, "", ExperimentError)
    optional = ("max_holdout_percent", "planned_cases_per_arm")
    check_keys(root, "", ("id", "arms", "started_at"), optional, ExperimentError)
    raw_arms = root["arms"]
    if not isinstance(raw_arms, list | tuple):
        raise ExperimentError("arms", f"must be a list of arms, got {show(raw_arms)}")
    _check_arm_count(len(raw_arms))
    arms = tuple(_parse_arm(raw, f"arms[{i}]") for i, raw in enumerate(raw_arms))
    return Experiment(
        id=root["id"],
        arms=arms,
        started_at=_parse_time(root["started_at"], "started_at"),
        max_holdout_percent=root.get("max_holdout_percent", DEFAULT_MAX_HOLDOUT_PERCENT),
        planned_cases_per_arm=root.get("planned_cases_per_arm", DEFAULT_PLANNED_CASES_PER_ARM),
    )


def _parse_arm(raw: object, path: str) -> Arm:
    obj = object_at(raw, path, ExperimentError)
    check_keys(obj, path, ("id", "weight"), ("holdout",), ExperimentError)
    try:
        return Arm(obj["id"], obj["weight"], obj.get("holdout", False))
    except ExperimentError as exc:
        raise exc.under(path) from None


def _parse_time(raw: object, path: str) -> datetime:
    problem = f"must be an ISO 8601 time with a zone offset (such as Z), got {show(raw)}"
    if not isinstance(raw, str):
        raise ExperimentError(path, problem)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ExperimentError(path, problem) from None
    if parsed.utcoffset() is None:
        raise ExperimentError(path, problem)
    return parsed


def experiment_to_dict(experiment: Experiment) -> dict[str, Any]:
    """The experiment as JSON-safe data; `parse_experiment` reads it back to an equal one."""
    return {
        "id": experiment.id,
        "arms": [{"id": a.id, "weight": a.weight, "holdout": a.holdout} for a in experiment.arms],
        "started_at": experiment.started_at.isoformat(),
        "max_holdout_percent": experiment.max_holdout_percent,
        "planned_cases_per_arm": experiment.planned_cases_per_arm,
    }


# --- assignment ------------------------------------------------------------------------------


def assign(experiment: Experiment, shop: str, case_id: str) -> Arm:
    """The arm of a case: SHA-256 of "<experiment>\\x1f<shop>\\x1f<case>", its first 8 bytes
    as a big-endian integer, modulo 10,000 buckets; the arms hold consecutive bucket ranges
    (weight x 100 buckets each) in their declared order. Experiments hash independently."""
    key = f"{experiment.id}\x1f{shop}\x1f{case_id}".encode()
    bucket = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % BUCKETS
    end = 0
    for arm in experiment.arms:
        end += arm.weight * (BUCKETS // TOTAL_WEIGHT)
        if bucket < end:
            return arm
    raise AssertionError("the weights add up to 100, so the arms cover every bucket")


# --- statistics ------------------------------------------------------------------------------


def _check_counts(successes: int, trials: int) -> None:
    if not is_int(successes) or not is_int(trials) or not 0 <= successes <= trials:
        raise ValueError(f"need whole counts 0 <= x <= n, got x={successes!r}, n={trials!r}")


def _z_for(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    return _NORMAL.inv_cdf(1.0 - (1.0 - confidence) / 2.0)


def wilson(x: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of the proportion x/n; (0.0, 1.0) when n is 0."""
    _check_counts(x, n)
    if n == 0:
        return 0.0, 1.0
    z = _z_for(confidence)
    p = x / n
    scale = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    half = z / scale * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n))
    # At x = 0 (x = n) the bound is exactly 0 (1); the subtraction would leave rounding error.
    lower = 0.0 if x == 0 else max(0.0, centre - half)
    return lower, 1.0 if x == n else min(1.0, centre + half)


def newcombe(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95) -> tuple[float, float]:
    """The interval of x1/n1 - x2/n2 by Newcombe's hybrid score method (1998, method 10),
    built from the two Wilson intervals."""
    lower1, upper1 = wilson(x1, n1, confidence)
    lower2, upper2 = wilson(x2, n2, confidence)
    p1, p2 = _rate(x1, n1), _rate(x2, n2)
    difference = p1 - p2
    lower = difference - math.hypot(p1 - lower1, upper2 - p2)
    upper = difference + math.hypot(upper1 - p1, p2 - lower2)
    return max(-1.0, lower), min(1.0, upper)


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """The pooled two-proportion z statistic of x1/n1 against x2/n2 and its two-sided
    p-value; (0.0, 1.0) when a sample is empty or the pooled rate is 0 or 1 (no evidence)."""
    _check_counts(x1, n1)
    _check_counts(x2, n2)
    if n1 == 0 or n2 == 0:
        return 0.0, 1.0
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    if se == 0.0:
        return 0.0, 1.0
    z = (x1 / n1 - x2 / n2) / se
    return z, 2.0 * _NORMAL.cdf(-abs(z))


def spending_boundary(alpha: float, information: float) -> float:
    """The p-value a look at `information` (0..1 of the planned cases) must beat, by the
    O'Brien-Fleming-type Lan-DeMets spending function 2 - 2*Phi(z_{1-alpha/2} / sqrt(t)):
    nearly nothing early, all of `alpha` at full information."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if not 0.0 <= information <= 1.0:
        raise ValueError(f"information must be between 0 and 1, got {information!r}")
    if information == 0.0:
        return 0.0
    return 2.0 * _NORMAL.cdf(-_z_for(1.0 - alpha) / math.sqrt(information))


def _rate(count: int, cases: int) -> float:
    return count / cases if cases else 0.0


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one case in the experiment."""

    arm: str
    paid: bool
    recovered_minor: int
    currency: str
    days_to_pay: float | None
    unsubscribed: bool
    complained: bool

    def __post_init__(self) -> None:
        if not is_int(self.recovered_minor) or self.recovered_minor < 0:
            raise ValueError(f"recovered_minor must be >= 0, got {self.recovered_minor!r}")
        object.__setattr__(self, "currency", normalise_currency(self.currency))
        days = self.days_to_pay
        if days is not None and (not math.isfinite(days) or days < 0):
            raise ValueError(f"days_to_pay must be None or a finite number >= 0, got {days!r}")


@dataclass(frozen=True, slots=True)
class ArmResult:
    """One arm's figures. An arm without cases has rates 0.0 and the interval (0.0, 1.0)."""

    arm: str
    holdout: bool
    cases: int
    paid: int
    recovery_rate: float
    recovery_ci: tuple[float, float]  # 95% Wilson
    recovered: dict[str, int] = field(hash=False)  # currency -> minor units, recovered only
    median_days_to_pay: float | None  # None when no paid case has a payment time
    unsubscribe_rate: float
    complaint_rate: float


def results(experiment: Experiment, outcomes: Iterable[Outcome]) -> tuple[ArmResult, ...]:
    """Each arm's figures, in the experiment's arm order. An outcome naming an arm the
    experiment does not have is refused (ValueError), not dropped."""
    by_arm: dict[str, list[Outcome]] = {arm.id: [] for arm in experiment.arms}
    for outcome in outcomes:
        if outcome.arm not in by_arm:
            raise ValueError(f"experiment {experiment.id!r} has no arm {outcome.arm!r}")
        by_arm[outcome.arm].append(outcome)
    return tuple(_arm_result(arm, by_arm[arm.id]) for arm in experiment.arms)


def _arm_result(arm: Arm, outcomes: Sequence[Outcome]) -> ArmResult:
    cases = len(outcomes)
    paid = sum(o.paid for o in outcomes)
    recovered: dict[str, int] = {}
    for o in outcomes:
        if o.recovered_minor:
            recovered[o.currency] = recovered.get(o.currency, 0) + o.recovered_minor
    days = [o.days_to_pay for o in outcomes if o.paid and o.days_to_pay is not None]
    return ArmResult(
        arm=arm.id,
        holdout=arm.holdout,
        cases=cases,
        paid=paid,
        recovery_rate=_rate(paid, cases),
        recovery_ci=wilson(paid, cases),
        recovered=dict(sorted(recovered.items())),
        median_days_to_pay=float(statistics.median(days)) if days else None,
        unsubscribe_rate=_rate(sum(o.unsubscribed for o in outcomes), cases),
        complaint_rate=_rate(sum(o.complained for o in outcomes), cases),
    )


@dataclass(frozen=True, slots=True)
class Comparison:
    """An arm against the holdout: what its reminders add to the recovery rate."""

    arm: str
    holdout: str
    incremental_recovery: float  # rate(arm) - rate(holdout)
    ci: tuple[float, float]  # 95% Newcombe hybrid score
    z: float
    p_value: float  # two-sided, pooled two-proportion z-test


@dataclass(frozen=True, slots=True)
class Verdict:
    """The figures and whether one arm beats the others (`winner`), with `why` in words."""

    arms: tuple[ArmResult, ...]
    comparisons: tuple[Comparison, ...]  # each non-holdout arm vs the holdout, if any
    winner: str | None
    why: str
    information: float  # the smallest non-holdout arm's share of the planned cases, at most 1
    boundary: float  # the p-value each pairwise test must beat at this look


def verdict(
    experiment: Experiment,
    outcomes: Iterable[Outcome],
    *,
    planned_cases_per_arm: int = DEFAULT_PLANNED_CASES_PER_ARM,
    alpha: float = DEFAULT_ALPHA,
) -> Verdict:
    """The experiment's figures and winner at this look. Arms are compared pairwise (not
    with the holdout) at alpha / the number of pairs (Bonferroni), spent over the looks by
    `spending_boundary`; a winner must have the best rate, beat every other arm, and no
    compared arm may have fewer than 30 cases."""
    if not is_int(planned_cases_per_arm) or planned_cases_per_arm < 1:
        raise ValueError(f"planned_cases_per_arm must be >= 1, got {planned_cases_per_arm!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    figures = results(experiment, outcomes)
    holdout = next((r for r in figures if r.holdout), None)
    variants = [r for r in figures if not r.holdout]
    comparisons = tuple(_against(r, holdout) for r in variants) if holdout is not None else ()
    information = min(1.0, min(r.cases for r in variants) / planned_cases_per_arm)
    pairs = len(variants) * (len(variants) - 1) // 2
    boundary = spending_boundary(alpha / pairs, information) if pairs else 0.0
    winner, why = _winner(variants, information, boundary)
    return Verdict(figures, comparisons, winner, why, information, boundary)


def _against(arm: ArmResult, holdout: ArmResult) -> Comparison:
    z, p = two_proportion_z(arm.paid, arm.cases, holdout.paid, holdout.cases)
    ci = newcombe(arm.paid, arm.cases, holdout.paid, holdout.cases)
    return Comparison(arm.arm, holdout.arm, arm.recovery_rate - holdout.recovery_rate, ci, z, p)


def _winner(
    variants: Sequence[ArmResult], information: float, boundary: float
) -> tuple[str | None, str]:
    if len(variants) < 2:
        return None, (
            f"no winner: arm {variants[0].arm} is the only arm besides the holdout, "
            "so its comparison with the holdout is the result"
        )
    small = [r for r in variants if r.cases < MIN_CASES_FOR_WINNER]
    if small:
        return None, (
            f"no winner yet: arm {small[0].arm} has {small[0].cases} cases, fewer than the "
            f"{MIN_CASES_FOR_WINNER} needed to compare arms"
        )
    best = max(variants, key=lambda r: r.recovery_rate)  # the first declared among equals
    tests = [
        (two_proportion_z(best.paid, best.cases, other.paid, other.cases), other)
        for other in variants
        if other is not best
    ]
    (z, p), rival = max(tests, key=lambda test: test[0][1])  # the hardest comparison
    significant = p < boundary
    sentence = (
        f"arm {best.arm} recovers {(best.recovery_rate - rival.recovery_rate) * 100:.1f} points "
        f"more than arm {rival.arm} (z = {z:.2f}, p = {_probability(p)}, "
        f"{'below' if significant else 'not below'} the {_probability(boundary)} boundary "
        f"at {round(information * 100)}% of the planned cases)"
    )
    return (best.arm, sentence) if significant else (None, f"no winner yet: {sentence}")


def _probability(value: float) -> str:
    """Four decimals, or two significant digits for smaller values (at most 12 decimals)."""
    if value <= 0.0:
        return "0"
    decimals = max(4, min(12, 1 - math.floor(math.log10(value))))
    return f"{value:.{decimals}f}"
