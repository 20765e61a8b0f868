"""Install a shop (the OAuth flow that calls this is built on top of it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from recoup.domain import template_overrides
from recoup.errors import Conflict
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


TEMPLATE_PARTS = template_overrides.PARTS
# The shop item is read with every case (cached a minute per container), and DynamoDB holds
# at most 400 KB in it: a save may not take the shop's templates, every language of every
# template, past this (the shipped HTML of one email, as the editor offers it, is ~12 KB).
MAX_TEMPLATES_BYTES = 256 * 1024
_SAVE_ATTEMPTS = 3


def set_template(
    shop: str,
    name: str,
    parts: dict[str, str],
    *,
    language: str = template_overrides.STORED_LANGUAGE,
) -> None:
    """Store a shop's version of one template in one language (no parts: that version is
    dropped), after checking its parts in the sandbox together, as they will be rendered
    (one budget per message, the largest order); raises TemplateRejected naming the problem,
    and stores nothing then. The templates are read consistently and written only if no
    other save came in between (read again and retried), so a save never loses another
    language or template saved from elsewhere at the same time."""
    from recoup.channels.render import TemplateRejected, validate_overrides

    unknown = sorted(set(parts) - set(TEMPLATE_PARTS))
    if unknown:
        raise TemplateRejected(f"unknown template part(s): {', '.join(unknown)}")
    if parts:
        validate_overrides(parts)
    for _ in range(_SAVE_ATTEMPTS):
        item = store.get_fresh(shop)
        read = item.templates if item else None
        templates = template_overrides.with_version(read, name, language, parts)
        _check_size(templates, read)
        if store.replace_templates(shop, templates, read=read):
            return
    raise Conflict("the templates were saved from elsewhere meanwhile: try again")


def _check_size(templates: dict[str, Any], read: Any) -> None:
    from recoup.channels.render import TemplateRejected

    size = len(json.dumps(templates).encode())
    if size > MAX_TEMPLATES_BYTES and size > len(json.dumps(read or {}).encode()):
        raise TemplateRejected(
            f"the shop's templates would take {size // 1024:,} KB with this one; at most "
            f"{MAX_TEMPLATES_BYTES // 1024} KB in all: leave a part empty where the shipped "
            "text will do"
        )
