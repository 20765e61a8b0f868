"""Sign a body the way Stripe does (scheme v1), for the demo and hand-made deliveries."""

from __future__ import annotations

import hashlib
import hmac
import time


def stripe_signature(body: bytes, secret: str, *, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"
