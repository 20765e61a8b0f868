"""The unit of work for a case (`store.cases.change`): the read, the decision and the commit,
retried in one place. The table is replaced by a dictionary here; the services' own tests
run it against the in-process stack."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from recoup.domain.aggregate import StoredCase
from recoup.domain.audit import GENESIS
from recoup.domain.case import new_case
from recoup.domain.dunning import Dunning, DunningStatus
from recoup.store import cases as case_store

SHOP = "demo.myshopify.com"
NOW = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)


class Table:
    """Cases by id; a commit bumps the version, or fails as the next planned failure says."""

    def __init__(self, *ids: str) -> None:
        self.cases = {i: StoredCase(new_case(SHOP, i), 1, 0, GENESIS) for i in ids}
        self.failures: list[Exception] = []  # raised by the next commits, in order
        self.reads: list[str] = []
        self.commits: list[str] = []

    def load(self, shop: str, case_id: str) -> StoredCase | None:
        self.reads.append(case_id)
        return self.cases.get(case_id)

    def save_all(self, writes: list[case_store.CaseWrite], **_: Any) -> None:
        if self.failures:
            raise self.failures.pop(0)
        for write in writes:
            prior = self.cases.get(write.case.case_id)
            self.cases[write.case.case_id] = StoredCase(
                write.case,
                (prior.version if prior else 0) + 1,
                write.entry.seq,
                write.entry.hash,
                write.reminders,
            )
            self.commits.append(write.case.case_id)

    def save_dunning(self, prior: StoredCase, dunning: Dunning) -> StoredCase:
        if self.failures:
            raise self.failures.pop(0)
        written = replace(prior, version=prior.version + 1, dunning=dunning)
        self.cases[prior.case.case_id] = written
        return written


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Table:
    held = Table("1001", "1002")
    monkeypatch.setattr(case_store, "load", held.load)
    monkeypatch.setattr(case_store, "save_all", held.save_all)
    monkeypatch.setattr(case_store, "save_dunning", held.save_dunning)
    return held


def noted(current: StoredCase | None) -> case_store.Change[str]:
    assert current is not None
    entry = case_store.recoup_entry(
        current, source="recoup", kind="note", event_id="e", summary="", effect="", now=NOW
    )
    return case_store.Change(current.case, entry, f"noted on version {current.version}")


def test_a_conflict_reads_again_and_decides_again_on_what_is_new(table: Table) -> None:
    # Given a commit that meets another writer once
    table.failures = [case_store.ConcurrentUpdate("another writer")]
    # When the case is changed
    result = case_store.change(SHOP, "1001", noted, now=NOW)
    # Then it was read twice, and written once, on the second read
    assert result == "noted on version 1"
    assert table.reads == ["1001", "1001"]
    assert table.commits == ["1001"]


def test_it_gives_up_after_max_attempts_and_raises_the_conflict(table: Table) -> None:
    table.failures = [case_store.ConcurrentUpdate("busy")] * case_store.MAX_ATTEMPTS
    with pytest.raises(case_store.ConcurrentUpdate):
        case_store.change(SHOP, "1001", noted, now=NOW)
    assert len(table.reads) == case_store.MAX_ATTEMPTS
    assert table.commits == []


def test_a_first_read_is_used_and_nothing_to_write_returns_as_it_is(table: Table) -> None:
    # Given a read the caller made already, and a decision with nothing to write
    first = table.cases["1001"]
    # When the case is changed with it
    result = case_store.change(SHOP, "1001", lambda current: current, now=NOW, first=first)
    # Then no second read was made, and the decision's value came back
    assert result is first
    assert table.reads == []
    assert table.commits == []


def test_a_conflict_raised_by_the_decision_itself_is_not_retried(table: Table) -> None:
    def decide(current: StoredCase | None) -> None:
        raise case_store.ConcurrentUpdate("a nested change gave up")

    with pytest.raises(case_store.ConcurrentUpdate, match="nested"):
        case_store.change(SHOP, "1001", decide, now=NOW)
    assert table.reads == ["1001"]


def test_read_again_may_name_the_case_the_change_belongs_to(table: Table) -> None:
    def decide(current: StoredCase | None) -> case_store.Decision[str]:
        assert current is not None
        if current.case.case_id == "1001":
            return case_store.ReadAgain("1002")  # merged into 1002
        return noted(current)

    assert case_store.change(SHOP, "1001", decide, now=NOW) == "noted on version 1"
    assert table.reads == ["1001", "1002"]
    assert table.commits == ["1002"]


def test_after_runs_only_once_the_change_is_written(table: Table) -> None:
    ran: list[int] = []

    def decide(current: StoredCase | None) -> case_store.Change[str]:
        assert current is not None
        return replace(noted(current), after=lambda: ran.append(current.version))

    table.failures = [case_store.ConcurrentUpdate("another writer")]
    case_store.change(SHOP, "1001", decide, now=NOW)
    assert ran == [1]  # the second decision's, once


def test_a_transient_failure_is_retried_after_a_pause_and_the_last_one_raised(
    table: Table,
) -> None:
    # Given commits that fail for rate, then succeed
    paused: list[int] = []
    table.failures = [RuntimeError("throttled"), RuntimeError("throttled")]
    result = case_store.change(
        SHOP, "1001", noted, now=NOW, transient=(RuntimeError,), pause=paused.append
    )
    # Then it paused before each new attempt, read afresh each time, and wrote once
    assert result == "noted on version 1"
    assert paused == [0, 1]
    assert table.reads == ["1001"] * 3
    # and a failure on the last attempt is raised as it is
    table.failures = [RuntimeError("throttled")] * 2
    with pytest.raises(RuntimeError, match="throttled"):
        case_store.change(SHOP, "1002", noted, now=NOW, attempts=2, transient=(RuntimeError,))


def test_a_failure_not_named_transient_is_raised_at_once(table: Table) -> None:
    table.failures = [RuntimeError("refused")]
    with pytest.raises(RuntimeError):
        case_store.change(SHOP, "1001", noted, now=NOW)
    assert table.reads == ["1001"]


def test_progress_changes_the_reminders_alone_and_hands_back_the_case_as_written(
    table: Table,
) -> None:
    def decide(current: StoredCase | None) -> case_store.Progress[int]:
        assert current is not None
        dunning = Dunning(DunningStatus.SCHEDULED, next_step=0, next_at=NOW)
        return case_store.Progress(lambda written: written.version, dunning=dunning)

    assert case_store.change(SHOP, "1001", decide, now=NOW) == 2
    assert table.commits == []  # no transaction, no audit entry
