"""The fraud screening benchmarks (benchmarks/fraud.py, the lifecycle's minimum): what they
count must follow from what the worker did, on the in-process local stack."""

from __future__ import annotations

import pytest

from benchmarks import fraud, lifecycle
from benchmarks.payloads import Deliveries


@pytest.mark.slow  # the benchmark's card-testing run
def test_velocity_reads_under_card_testing_do_not_grow_with_the_attack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given card-testing runs of 10, 100 and 300 failed payments from the case's IP (kept
    # small to be quick; make bench runs up to 10,000)
    monkeypatch.setattr(fraud, "CARD_TESTING", (10, 100, 300))
    # When the same new case is screened after each
    result = fraud.velocity_reads(Deliveries())
    small, base, large = result.runs
    # Then it makes one Query per identity it names, plus the fraud settings' GetItem
    assert {"email", "card", "ip"} <= set(result.identities)
    for run in result.runs:
        assert run.queries == len(result.identities)
        assert run.operations["dynamodb.GetItem (fraud policy)"] == 1
        # and counted every failure of the run, plus the case's own
        assert run.counts["failed_payments_ip_24h"] == run.history + 1
    # and reads at most 25 hourly items per identity, however long the run
    assert large.marks > 2 * base.marks
    assert large.scanned == base.scanned <= 25 * 3 + 15
    assert small.scanned <= base.scanned
    assert result.growth == 1.0


def test_the_lifecycle_minimum_covers_what_the_fraud_screening_reads() -> None:
    # Given a case's whole life (opened, screened, reminded three times, paid)
    result = lifecycle.run(Deliveries())
    worker = next(role for role in result.roles if role.role == "worker")
    scorings = next(rule for rule in result.rules if rule.what.startswith("a fraud scoring"))
    # Then the order was scored once it opened, and every read the scoring made is in the
    # minimum: none is missing, none is left over as excess
    assert scorings.times >= 1
    assert worker.missing == []
    screening_reads = ("fraud policy", "velocity counters", "address buckets")
    assert not [label for label in worker.excess if any(r in label for r in screening_reads)]
    assert any("velocity counters" in label for label in worker.operations)
