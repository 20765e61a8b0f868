"""Mint App Bridge session tokens for the local stack (`recoup admin-url`) and the tests.

Shopify signs a session token with the app's client secret; locally the development secret
plays that part, so the admin page can be opened without a Shopify store. A deployed stack
only ever verifies tokens with the real secret from SSM: these are worthless there.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

LOCAL_STAFF_USER = "1"  # the staff member's user id (`sub`) in minted tokens


def claims(
    shop: str,
    *,
    api_key: str,
    lifetime: timedelta = timedelta(minutes=1),
    user: str = LOCAL_STAFF_USER,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The claims Shopify puts in a session token for `shop` (valid from now)."""
    issued = int((now or datetime.now(tz=UTC)).timestamp())
    return {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": api_key,
        "sub": user,
        "exp": issued + int(lifetime.total_seconds()),
        "nbf": issued,
        "iat": issued,
        "jti": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
    }


def sign(payload: dict[str, Any], secret: str) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def mint(
    shop: str,
    *,
    api_key: str,
    secret: str,
    lifetime: timedelta = timedelta(minutes=1),
    user: str = LOCAL_STAFF_USER,
) -> str:
    """A signed session token for `shop`, valid from now for `lifetime`."""
    return sign(claims(shop, api_key=api_key, lifetime=lifetime, user=user), secret)
