"""The signature checks `recoup verify-chain` passes to `casefile.verify`.

- `openssl_check(pem)`: the published public key and `openssl dgst -sha256 -verify`, the
  same command README gives an agency (no AWS, no Python cryptography library);
- `kms_check(key_id)`: KMS `Verify` on the running local stack (or AWS, with credentials).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from recoup.casefile.verify import SignatureCheck


def openssl_check(public_key_pem: Path) -> SignatureCheck:
    pem = public_key_pem.resolve()

    def check(signed: bytes, signature: bytes) -> bool:
        with tempfile.TemporaryDirectory() as folder:
            statement, der = Path(folder, "record.signed"), Path(folder, "record.sig")
            statement.write_bytes(signed)
            der.write_bytes(signature)
            command = ["openssl", "dgst", "-sha256", "-verify", str(pem)]
            result = subprocess.run(
                [*command, "-signature", str(der), str(statement)],
                capture_output=True,
                check=False,
            )
        return result.returncode == 0

    return check


def verify_folder(folder: Path, public_key_pem: Path) -> tuple[int, list[str]]:
    """Check every `record.json` under `folder` with the public key and openssl: how many
    passed, and the problems of the others."""
    from recoup.casefile.verify import verify_document

    check = openssl_check(public_key_pem)
    passed, problems = 0, []
    for path in sorted(folder.rglob("record.json")):
        report = verify_document(path.read_bytes(), check)
        if report.ok:
            passed += 1
        else:
            problems.append(f"{path}: {report.problem}")
    return passed, problems


def kms_check(key_id: str) -> SignatureCheck:
    from recoup.integrations import casefile_key

    def check(signed: bytes, signature: bytes) -> bool:
        return casefile_key.verify(signed, signature, key_id)

    return check


__all__ = ["kms_check", "openssl_check", "verify_folder"]
