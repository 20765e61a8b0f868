from dataclasses import replace

from recoup.domain.audit import GENESIS, AuditEntry, verify_chain


def _chain(n: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for i in range(n):
        entries.append(AuditEntry.after(entries[-1] if entries else None, {"summary": f"e{i}"}))
    return entries


def test_an_intact_chain_verifies_and_reports_its_head() -> None:
    entries = _chain(4)
    report = verify_chain(entries, expected_head=entries[-1].hash)
    assert report.ok
    assert report.entries == 4
    assert report.head == entries[-1].hash
    assert entries[0].prev_hash == GENESIS


def test_an_edited_entry_is_detected() -> None:
    entries = _chain(4)
    entries[1] = replace(entries[1], body={"summary": "paid in full"})
    report = verify_chain(entries)
    assert not report.ok
    assert report.problem == "entry 2: content changed"


def test_a_removed_entry_is_detected() -> None:
    entries = _chain(4)
    del entries[2]
    assert verify_chain(entries).problem == "entry 4: expected 3"


def test_a_reordered_chain_is_detected() -> None:
    entries = _chain(4)
    entries[1], entries[2] = entries[2], entries[1]
    assert not verify_chain(entries).ok


def test_a_truncated_chain_is_detected_against_the_recorded_head() -> None:
    entries = _chain(4)
    report = verify_chain(entries[:3], expected_head=entries[-1].hash)
    assert not report.ok
    assert "missing at the end" in (report.problem or "")


def test_following_continues_a_chain_from_its_head() -> None:
    entries = _chain(2)
    nxt = AuditEntry.following(entries[-1].seq, entries[-1].hash, {"summary": "e2"})
    assert verify_chain([*entries, nxt]).ok
