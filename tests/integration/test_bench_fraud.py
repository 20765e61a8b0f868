"""The fraud screening benchmarks (benchmarks/fraud.py, the lifecycle's minimum): what they
count must follow from what the worker did, on the in-process local stack."""

from __future__ import annotations

import pytest

from benchmarks import fraud, lifecycle
from benchmarks.payloads import Deliveries


def test_velocity_reads_follow_the_identities_not_the_history(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a shop whose history of failed payments grows tenfold (kept small to be quick)
    monkeypatch.setattr(fraud, "HISTORY", (20, 200))
    # When the same new case is screened with each history
    result = fraud.velocity_reads(Deliveries())
    small, large = result.runs
    # Then it makes one Query per identity it names, plus the fraud settings' GetItem
    assert {"email", "card"} <= set(result.identities)
    for run in result.runs:
        assert run.queries == len(result.identities)
        assert run.operations["dynamodb.GetItem (fraud policy)"] == 1
    # and reads the same items, only the recent handful, however long the history
    assert large.marks > 5 * small.marks
    assert large.scanned == small.scanned
    assert large.scanned >= fraud.RECENT * len({"email", "card", "ip"} & set(result.identities))
    assert large.counts["failed_payments_email_24h"] == fraud.RECENT + 1  # + the case's own


def test_the_lifecycle_minimum_covers_what_the_fraud_screening_reads() -> None:
    # Given a case's whole life (opened, screened, reminded three times, paid)
    result = lifecycle.run(Deliveries())
    worker = next(role for role in result.roles if role.role == "worker")
    scorings = next(rule for rule in result.rules if rule.what.startswith("a fraud scoring"))
    # Then the order was scored once it opened, and every read the scoring made is in the
    # minimum: none is missing, none is left over as excess
    assert scorings.times >= 1
    assert worker.missing == []
    screening_reads = ("fraud policy", "velocity marks", "address marks")
    assert not [label for label in worker.excess if any(r in label for r in screening_reads)]
    assert any("velocity marks" in label for label in worker.operations)
