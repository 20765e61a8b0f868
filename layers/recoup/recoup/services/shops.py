"""Install a shop (the OAuth flow that calls this is built on top of it)."""

from __future__ import annotations

from datetime import UTC, datetime

from recoup.store import shops as store


def install(shop: str, *, stripe_account: str | None = None, now: datetime | None = None) -> None:
    store.save_installation(
        shop, installed_at=now or datetime.now(tz=UTC), stripe_account=stripe_account
    )
