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


TEMPLATE_PARTS = ("subject", "html", "text", "sms")


def set_template(shop: str, name: str, parts: dict[str, str]) -> None:
    """Store a shop's override of one template, after checking its parts in the sandbox
    together, as they will be rendered (one budget per message, the largest order); raises
    TemplateRejected naming the problem, and stores nothing then."""
    from recoup.channels.render import TemplateRejected, validate_overrides

    unknown = sorted(set(parts) - set(TEMPLATE_PARTS))
    if unknown:
        raise TemplateRejected(f"unknown template part(s): {', '.join(unknown)}")
    validate_overrides(parts)
    item = store.get(shop)
    templates = dict(item.templates or {}) if item else {}
    templates[name] = dict(parts)
    store.save_templates(shop, templates)
