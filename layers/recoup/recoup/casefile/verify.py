"""Check a case file: its audit chain, the digest of the whole record, the signature over
both, and that its amounts reconcile.

- The chain: a changed entry breaks its own hash, a removed or swapped one breaks the sequence
  and the links after it, and entries removed at the end no longer reach the stated head.
- The seal (`casefile.signing`): the record minus its signature block must hash to the digest
  in the signed statement, whose chain head and entry count must be the record's; a field
  edited anywhere, or a trail re-chained after an edit, fails here.
- The signature over the statement, with a check the caller passes (`SignatureCheck`): the
  published public key (openssl, `recoup verify-chain --public-key`) or KMS on the stack.
- The amounts: owed = order_total - paid + refunded, refunded = the refunds listed.

`recoup verify-chain <file>` runs this on a case file's JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from recoup.casefile import signing
from recoup.domain.audit import GENESIS, AuditEntry, ChainReport, verify_chain

# (the signed statement's bytes, the DER signature) -> does it verify with the trusted key
SignatureCheck = Callable[[bytes, bytes], bool]


class _Malformed(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class FileReport:
    ok: bool
    chain: ChainReport
    problem: str | None = None
    record_sha256: str | None = None
    key_id: str | None = None


def verify_record(record: Mapping[str, Any], check_signature: SignatureCheck | None) -> FileReport:
    """Every check, in order; the first that fails is the report's problem. Without a
    signature check the file cannot be trusted, and fails saying so."""
    chain = verify_chain_section(record)
    if not chain.ok:
        return FileReport(False, chain, f"audit chain: {chain.problem}")
    try:
        key_id, signed, signature = _seal(record.get(signing.SIGNATURE))
    except _Malformed as exc:
        return FileReport(False, chain, str(exc))
    digest = signing.record_digest(record)
    if signed != signing.statement(record, key_id):
        return FileReport(
            False,
            chain,
            "the record differs from what was signed: its digest, chain head or entry count "
            "is not the one in the signed statement (the file was changed after signing)",
            digest,
            key_id,
        )
    if check_signature is None:
        return FileReport(False, chain, "no public key to check the signature with", digest, key_id)
    if not check_signature(signed, signature):
        return FileReport(
            False,
            chain,
            "the signature does not verify with the public key: the statement was not signed "
            "by that key",
            digest,
            key_id,
        )
    problem = amounts_problem(record)
    if problem is not None:
        return FileReport(False, chain, f"amounts: {problem}", digest, key_id)
    return FileReport(True, chain, None, digest, key_id)


def verify_document(raw: bytes, check_signature: SignatureCheck | None) -> FileReport:
    """`verify_record` on a case file's JSON bytes; not a case file fails with the reason."""
    try:
        record = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        return FileReport(False, _failed(f"not a JSON document: {exc}"), f"not JSON: {exc}")
    if not isinstance(record, dict):
        problem = "not a case file: the JSON is not an object"
        return FileReport(False, _failed(problem), problem)
    return verify_record(record, check_signature)


def verify_chain_section(record: Mapping[str, Any]) -> ChainReport:
    """Verify the chain of a case-file record (`record.build_record`'s shape) on its own."""
    try:
        entries = _entries(record.get("events"))
        head, count = _chain(record.get("chain"))
    except _Malformed as exc:
        return _failed(str(exc))
    if count != len(entries):
        return ChainReport(
            False,
            len(entries),
            GENESIS,
            f"the file states {count} entries but holds {len(entries)}",
        )
    return verify_chain(entries, expected_head=head)


def amounts_problem(record: Mapping[str, Any]) -> str | None:
    """Why the file's amounts do not reconcile, or None when they do."""
    amounts = record.get("amounts")
    if not isinstance(amounts, Mapping):
        return "no amounts section"
    if amounts.get("currency") is None:
        return None  # nothing states a currency: no amount to reconcile
    try:
        currency = amounts["currency"]
        owed, paid, refunded = (
            _minor(amounts.get(k), currency, k) for k in ("owed", "paid", "refunded")
        )
        listed = record.get("refunds")
        if not isinstance(listed, list):
            raise _Malformed("no refunds list")
        total_refunds = sum(
            _minor(r.get("amount") if isinstance(r, Mapping) else None, currency, "refunds[]")
            for r in listed
        )
        order_total = amounts.get("order_total")
        total = None if order_total is None else _minor(order_total, currency, "order_total")
    except _Malformed as exc:
        return str(exc)
    if min(owed, paid, refunded) < 0:
        return "a negative amount"
    if refunded != total_refunds:
        return f"refunded is {refunded} but the refunds listed add up to {total_refunds}"
    if total is not None and owed != total - paid + refunded:
        return f"owed {owed} != order total {total} - paid {paid} + refunded {refunded}"
    return None


def _seal(raw: object) -> tuple[str, bytes, bytes]:
    if raw is None:
        raise _Malformed("the file carries no signature")
    if not isinstance(raw, Mapping):
        raise _Malformed("the signature block is not an object")
    key_id, signed, value = raw.get("key_id"), raw.get("signed"), raw.get("value")
    if raw.get("algorithm") != signing.ALGORITHM:
        raise _Malformed(f"the signature's algorithm is not {signing.ALGORITHM}")
    if not isinstance(key_id, str) or not isinstance(signed, str) or not isinstance(value, str):
        raise _Malformed("the signature block lacks its key_id, signed statement or value")
    try:
        signature = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Malformed("the signature value is not base64") from exc
    return key_id, signed.encode(), signature


def _minor(raw: object, currency: object, where: str) -> int:
    if not isinstance(raw, Mapping):
        raise _Malformed(f"{where} is missing")
    if raw.get("currency") != currency:
        raise _Malformed(f"{where} is not in {currency}")
    return _integer(raw.get("minor"), f"{where}.minor")


def _failed(problem: str) -> ChainReport:
    return ChainReport(False, 0, GENESIS, problem)


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


__all__ = [
    "FileReport",
    "SignatureCheck",
    "amounts_problem",
    "verify_chain_section",
    "verify_document",
    "verify_record",
]
