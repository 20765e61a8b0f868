"""Install a shop (the OAuth flow that calls this is built on top of it)."""

from __future__ import annotations

from datetime import UTC, datetime

from recoup.store import shops as store


def install(
    shop: str,
    *,
    stripe_account: str | None = None,
    now: datetime | None = None,
    shop_name: str | None = None,
    contact_email: str | None = None,
    timezone: str = "UTC",
    locale: str = "en-US",
) -> None:
    store.save_installation(
        shop,
        installed_at=now or datetime.now(tz=UTC),
        stripe_account=stripe_account,
        shop_name=shop_name,
        contact_email=contact_email,
        timezone=timezone,
        locale=locale,
    )
