"""The figures of a shop's experiments: per arm, the cases, the recovery rate with its 95%
interval, the amount recovered, the median days to pay, the unsubscribe and complaint rates,
each arm's recovery over the holdout, and a winner only when the difference is significant.

The statistics are `domain/experiments.py`'s: Wilson intervals, Newcombe's interval for a
difference, the pooled two-proportion z-test, Bonferroni over the pairs of arms, and an
O'Brien-Fleming-type alpha-spending boundary, so the page may be opened at any time without
inflating the chance of a false winner. Reads: each experiment's keys in the shop index and
one BatchGetItem of its arms' counters (store/experiment_outcomes.py): they grow with the
experiment's cases, not with the shop.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from recoup.domain import experiments, strategies
from recoup.domain.cadence import ReminderPolicy
from recoup.domain.experiments import Experiment, Outcome, Verdict
from recoup.store import experiment_outcomes

TEST = (
    "two-proportion z-test (pooled, two-sided) between arms, Bonferroni over the pairs of "
    "arms; O'Brien-Fleming-type alpha spending (Lan-DeMets) over repeated looks, by the share "
    "of the planned cases per arm reached; no winner below 30 cases an arm"
)


def figures(shop: str, policy: ReminderPolicy) -> list[dict[str, Any]]:
    """Every experiment of the shop's strategies, with its verdict, as the admin page and
    the console show it."""
    found = []
    for strategy in strategies.in_force(policy):
        experiment = strategy.experiment
        if experiment is None:
            continue
        verdict = _verdict(shop, experiment)
        found.append(_doc(strategy, experiment, verdict))
    return found


def _verdict(shop: str, experiment: Experiment) -> Verdict:
    arms = tuple(arm.id for arm in experiment.arms)
    outcomes = [
        Outcome(
            arm=row.arm,
            paid=row.status == "p",
            recovered_minor=row.recovered_minor,
            currency=row.currency,
            days_to_pay=(row.paid_at - row.opened_at).total_seconds() / 86400
            if row.paid_at
            else None,
            unsubscribed=False,
            complained=False,
        )
        for row in experiment_outcomes.rows(shop, experiment.id)
        if row.arm in arms and row.currency
    ]
    found = experiments.verdict(
        experiment, outcomes, planned_cases_per_arm=experiment.planned_cases_per_arm
    )
    counts = experiment_outcomes.counts(shop, experiment.id, arms)
    return replace(
        found,
        arms=tuple(
            replace(
                result,
                unsubscribe_rate=_rate(counts[result.arm].unsubscribes, result.cases),
                complaint_rate=_rate(counts[result.arm].complaints, result.cases),
            )
            for result in found.arms
        ),
    )


def _rate(count: int, cases: int) -> float:
    return count / cases if cases else 0.0


def _doc(strategy: strategies.Strategy, experiment: Experiment, verdict: Verdict) -> dict[str, Any]:
    return {
        "strategy": {"id": strategy.id, "name": strategy.name},
        "experiment": experiment.id,
        "started_at": experiment.started_at.isoformat(),
        "planned_cases_per_arm": experiment.planned_cases_per_arm,
        "arms": [
            {
                "arm": r.arm,
                "holdout": r.holdout,
                "cases": r.cases,
                "paid": r.paid,
                "recovery_rate": r.recovery_rate,
                "recovery_ci": list(r.recovery_ci),
                "recovered": [{"currency": c, "minor": m} for c, m in r.recovered.items()],
                "median_days_to_pay": r.median_days_to_pay,
                "unsubscribe_rate": r.unsubscribe_rate,
                "complaint_rate": r.complaint_rate,
            }
            for r in verdict.arms
        ],
        "over_holdout": [
            {
                "arm": c.arm,
                "incremental_recovery": c.incremental_recovery,
                "ci": list(c.ci),
                "z": c.z,
                "p_value": c.p_value,
            }
            for c in verdict.comparisons
        ],
        "winner": verdict.winner,
        "why": verdict.why,
        "information": verdict.information,
        "boundary": verdict.boundary,
        "test": TEST,
    }


__all__ = ["TEST", "figures"]
