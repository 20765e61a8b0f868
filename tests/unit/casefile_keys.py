"""A P-256 key pair made with openssl, to sign case files in tests the way KMS does (ECDSA
over SHA-256, DER signature) and to verify them with the public key alone."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Keys:
    private: Path
    public: Path
    key_id: str = "arn:aws:kms:us-east-1:123456789012:key/test-signing-key"

    def sign(self, message: bytes) -> bytes:
        """DER ECDSA-SHA256 signature of `message`, as KMS returns it."""
        return subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.private)],
            input=message,
            capture_output=True,
            check=True,
        ).stdout


def make_keys(folder: Path) -> Keys:
    private, public = folder / "signing.pem", folder / "public.pem"
    subprocess.run(
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(private)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["openssl", "ec", "-in", str(private), "-pubout", "-out", str(public)],
        check=True,
        capture_output=True,
    )
    return Keys(private, public)
