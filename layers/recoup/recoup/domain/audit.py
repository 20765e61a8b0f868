"""The case's audit trail as a hash chain: each entry carries the hash of the one before.

Changing, removing or reordering any entry breaks every hash after it, so a referral file
that quotes the chain head proves the trail it quotes is the one that was written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
# The kind of entry a provider's delivery report about one reminder is recorded as; its body
# also carries "provider_message_id", "outcome" and "step" (services.delivery_reports).
DELIVERY_REPORT = "message.delivery"


def canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link_hash(prev_hash: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(body)).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    prev_hash: str
    hash: str
    body: dict[str, Any]

    @classmethod
    def after(cls, prev: AuditEntry | None, body: dict[str, Any]) -> AuditEntry:
        seq = prev.seq + 1 if prev else 1
        prev_hash = prev.hash if prev else GENESIS
        return cls(seq, prev_hash, link_hash(prev_hash, {"seq": seq, **body}), body)

    @classmethod
    def following(cls, seq: int, head: str, body: dict[str, Any]) -> AuditEntry:
        """The entry after one whose sequence number and hash are known (the case's head)."""
        return cls(seq + 1, head, link_hash(head, {"seq": seq + 1, **body}), body)


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    entries: int
    head: str
    problem: str | None = None


def verify_chain(entries: Iterable[AuditEntry], expected_head: str | None = None) -> ChainReport:
    prev_hash, seq, count = GENESIS, 0, 0
    for entry in entries:
        count += 1
        if entry.seq != seq + 1:
            return ChainReport(False, count, prev_hash, f"entry {entry.seq}: expected {seq + 1}")
        if entry.prev_hash != prev_hash:
            return ChainReport(False, count, prev_hash, f"entry {entry.seq}: broken link")
        if link_hash(prev_hash, {"seq": entry.seq, **entry.body}) != entry.hash:
            return ChainReport(False, count, prev_hash, f"entry {entry.seq}: content changed")
        prev_hash, seq = entry.hash, entry.seq
    if expected_head is not None and expected_head != prev_hash:
        return ChainReport(
            False, count, prev_hash, "chain head differs: entries missing at the end"
        )
    return ChainReport(True, count, prev_hash)
