"""Check the audit trail a case file quotes: every entry's link and hash, and the head.

A changed entry breaks its own hash, a removed or swapped one breaks the sequence and the
links after it, and entries removed at the end no longer reach the head the file states.
`recoup verify-chain <file>` runs this on a case file's JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from recoup.domain.audit import GENESIS, AuditEntry, ChainReport, verify_chain


class _Malformed(ValueError):
    pass


def verify_file(record: Mapping[str, Any]) -> ChainReport:
    """Verify the chain of a case-file record (`record.build_record`'s shape)."""
    try:
        entries = _entries(record.get("events"))
        head, count = _chain(record.get("chain"))
    except _Malformed as exc:
        return ChainReport(False, 0, GENESIS, str(exc))
    if count != len(entries):
        return ChainReport(
            False,
            len(entries),
            GENESIS,
            f"the file states {count} entries but holds {len(entries)}",
        )
    return verify_chain(entries, expected_head=head)


def verify_json(raw: bytes) -> ChainReport:
    """Verify a case file's JSON bytes; a file that is not a case file fails with the reason."""
    try:
        record = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        return ChainReport(False, 0, GENESIS, f"not a JSON document: {exc}")
    if not isinstance(record, dict):
        return ChainReport(False, 0, GENESIS, "not a case file: the JSON is not an object")
    return verify_file(record)


def _entries(raw: object) -> list[AuditEntry]:
    if not isinstance(raw, list):
        raise _Malformed("not a case file: no events list")
    entries: list[AuditEntry] = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise _Malformed(f"events[{i}] is not an object")
        seq, prev_hash, digest, body = (item.get(k) for k in ("seq", "prev_hash", "hash", "body"))
        if not isinstance(prev_hash, str) or not isinstance(digest, str):
            raise _Malformed(f"events[{i}] lacks its prev_hash or hash")
        if not isinstance(body, dict):
            raise _Malformed(f"events[{i}].body is not an object")
        entries.append(AuditEntry(_integer(seq, f"events[{i}].seq"), prev_hash, digest, body))
    return entries


def _chain(raw: object) -> tuple[str, int]:
    if not isinstance(raw, Mapping):
        raise _Malformed("not a case file: no chain section")
    head = raw.get("head")
    if not isinstance(head, str):
        raise _Malformed("the chain section states no head")
    return head, _integer(raw.get("entries"), "chain.entries")


def _integer(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Malformed(f"{where} is not an integer")
    return value


__all__ = ["verify_file", "verify_json"]
