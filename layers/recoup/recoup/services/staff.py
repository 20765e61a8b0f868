"""Who did it: the staff member behind an admin action, by name.

The session token names the staff member only by user id (`sub`). Their name comes from
Shopify's token exchange for an online access token, whose answer carries the user; it is
kept per shop and user (`store.staff_names`) and fetched again when missing or stale, at
most once per request. The online token itself is dropped unread. If Shopify does not
answer, the action goes ahead under "staff member <id>" (or the name kept before), and the
next request asks again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from recoup.integrations import shopify_http
from recoup.integrations import shopify_oauth as oauth
from recoup.observability import logger
from recoup.settings import get_settings
from recoup.store import staff_names


@dataclass(frozen=True, slots=True)
class Actor:
    """A staff member acting in the admin: the user id, and the name when known."""

    id: str
    name: str | None = None

    @property
    def label(self) -> str:
        """How the trail names them: "Ana Ruiz", else "staff member 123"."""
        return self.name or f"staff member {self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "staff", "id": self.id, "name": self.name}


def actor(
    shop: str,
    user: str,
    session_token: str,
    *,
    now: datetime,
    transport: shopify_http.Transport | None = None,
) -> Actor:
    """The staff member `user` of `shop`, named from the cache or, when it holds no fresh
    name, by one online token exchange of their session token. Never raises for Shopify
    or the cache: an action does not wait on a name."""
    kept = _kept(shop, user, now)
    if kept is not None and kept.fresh(now):
        return Actor(user, kept.name)
    fallback = Actor(user, kept.name if kept else None)
    settings = get_settings()
    try:
        member = oauth.staff_member(
            shop,
            session_token,
            api_key=settings.require("shopify_api_key"),
            secret=settings.shopify_secrets()[0],
            transport=transport or shopify_http.urllib_transport,
        )
    except oauth.OAuthRejected as refused:
        logger.warning(
            "Staff name not found; the next request asks again",
            extra={"shop": shop, "status": refused.status},
        )
        return fallback
    if member.user_id != user or member.name is None:
        # Another user than the token's, or one without a name: nothing to keep.
        return fallback
    try:
        staff_names.put(shop, user, member.name, now=now)
    except Exception as exc:  # noqa: BLE001 - the name is still used; the next request keeps it
        logger.warning("Staff name not kept", extra={"shop": shop, "error": type(exc).__name__})
    return Actor(user, member.name)


def _kept(shop: str, user: str, now: datetime) -> staff_names.StaffName | None:
    try:
        return staff_names.get(shop, user, now=now)
    except Exception as exc:  # noqa: BLE001 - a failed read is a missing name
        logger.warning("Staff name not read", extra={"shop": shop, "error": type(exc).__name__})
        return None


__all__ = ["Actor", "actor"]
