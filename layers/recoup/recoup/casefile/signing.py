"""The case file's seal: one SHA-256 digest of the whole record, and the chain head, signed
with an asymmetric key (ECDSA over P-256 with SHA-256; KMS holds the private key).

What is signed is a short statement (`record.signed` in the file set):

    recoup.casefile.signed/1
    record-sha256: <hex SHA-256 of the canonical JSON of the record without "signature">
    chain-head: <the audit chain's head>
    chain-entries: <how many entries>
    key-id: <the signing key's id>
    algorithm: ECDSA_SHA_256

Canonical JSON is the audit chain's (`domain.audit.canonical`): keys sorted, separators ','
and ':', UTF-8 with non-ASCII kept. The statement is small (KMS signs at most 4 KiB as a raw
message), so the signature verifies with `openssl dgst -sha256 -verify` over its bytes.
Editing any field changes the digest; re-chaining the trail after an edit changes it too, and
only the key's holder can sign a new statement. Pure: the signer is passed in.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from recoup.domain.audit import canonical

SIGNATURE = "signature"  # the record's key that holds the seal (left out of the digest)
STATEMENT_HEADER = "recoup.casefile.signed/1"
ALGORITHM = "ECDSA_SHA_256"
KEY_SPEC = "ECC_NIST_P256"
COVERS = (
    "record-sha256 is SHA-256 over the canonical JSON of this record without its 'signature' "
    "key (keys sorted, separators ',' and ':', UTF-8 with non-ASCII kept); 'signed' is the "
    "statement signed, 'value' the DER signature (base64) over its UTF-8 bytes"
)

# The signer: the statement's bytes in, the DER-encoded ECDSA signature out.
Signer = Callable[[bytes], bytes]


def unsigned(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record as digested: everything but the signature block."""
    return {key: value for key, value in record.items() if key != SIGNATURE}


def record_digest(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(unsigned(record))).hexdigest()


def statement(record: Mapping[str, Any], key_id: str) -> bytes:
    """The bytes signed for `record` with the key `key_id`."""
    chain = record.get("chain")
    head = chain.get("head") if isinstance(chain, Mapping) else None
    entries = chain.get("entries") if isinstance(chain, Mapping) else None
    lines = (
        STATEMENT_HEADER,
        f"record-sha256: {record_digest(record)}",
        f"chain-head: {head}",
        f"chain-entries: {entries}",
        f"key-id: {key_id}",
        f"algorithm: {ALGORITHM}",
    )
    return ("\n".join(lines) + "\n").encode()


def sign_record(record: Mapping[str, Any], key_id: str, sign: Signer) -> dict[str, Any]:
    """The record with its signature block (any earlier one replaced)."""
    signed = statement(record, key_id)
    der = sign(signed)
    chain = record.get("chain")
    return {
        **unsigned(record),
        SIGNATURE: {
            "algorithm": ALGORITHM,
            "key_spec": KEY_SPEC,
            "key_id": key_id,
            "record_sha256": record_digest(record),
            "chain_head": chain.get("head") if isinstance(chain, Mapping) else None,
            "signed": signed.decode(),
            "value": base64.b64encode(der).decode(),
            "covers": COVERS,
        },
    }


def signature_files(record: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """`record.signed` and `record.sig` (DER) of a signed record, for openssl."""
    block = record[SIGNATURE]
    return str(block["signed"]).encode(), base64.b64decode(str(block["value"]), validate=True)


__all__ = [
    "ALGORITHM",
    "COVERS",
    "KEY_SPEC",
    "SIGNATURE",
    "STATEMENT_HEADER",
    "Signer",
    "record_digest",
    "sign_record",
    "signature_files",
    "statement",
    "unsigned",
]
