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


def kms_check(key_id: str) -> SignatureCheck:
    from recoup.integrations import casefile_key

    def check(signed: bytes, signature: bytes) -> bool:
        return casefile_key.verify(signed, signature, key_id)

    return check


__all__ = ["kms_check", "openssl_check"]
