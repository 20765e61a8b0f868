"""The asymmetric KMS key that signs case files (ECC_NIST_P256, ECDSA_SHA_256: the
algorithm `casefile.signing` names).

Only the escalation function and the admin API (a referral by hand) may `kms:Sign` with it
(template.yaml); anyone with the public key (`public_key_pem`, published by the operator) can
verify a file without AWS.
"""

from __future__ import annotations

import base64
import textwrap

from recoup import aws
from recoup.settings import get_settings


def key_id() -> str:
    return get_settings().require("casefile_signing_key_id")


def sign(message: bytes) -> bytes:
    """The DER ECDSA signature of `message` (at most 4 KiB: KMS's limit for a raw message).
    Signing has no side effect, so botocore's retries are safe here."""
    response = aws.client("kms").sign(
        KeyId=key_id(), Message=message, MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256"
    )
    return response["Signature"]


def verify(message: bytes, signature: bytes, key: str | None = None) -> bool:
    """KMS's own check of a signature (needs `kms:Verify` on the key)."""
    client = aws.client("kms")
    try:
        response = client.verify(
            KeyId=key or key_id(),
            Message=message,
            MessageType="RAW",
            Signature=signature,
            SigningAlgorithm="ECDSA_SHA_256",
        )
    except client.exceptions.KMSInvalidSignatureException:
        return False
    return bool(response["SignatureValid"])


def public_key_pem(key: str | None = None) -> str:
    """The public key as PEM (SubjectPublicKeyInfo), what `openssl dgst -verify` reads."""
    der = aws.client("kms").get_public_key(KeyId=key or key_id())["PublicKey"]
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n"


__all__ = ["key_id", "public_key_pem", "sign", "verify"]
