"""The customer's page link in messages: the case's one link, kept open by each message,
revived when it expired, issued when there is none or it was revoked, and revoked.

A link is `/c/<token>` (`links.sign_page`); the table maps its id to the shop and case
(`store/case_pages.py`). `link_for` runs for every message: one small read and at most one
conditional write, and a retried job gets the same link. The page itself, and a fresh link
sent on the customer's request, are `services/case_pages.py`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from recoup import links
from recoup.observability import logger, metrics
from recoup.settings import get_settings
from recoup.store import case_pages as store

if TYPE_CHECKING:
    from recoup.domain.aggregate import StoredCase
    from recoup.domain.case import Case

LIFETIME = links.PAY_LIFETIME  # 180 days after the link was last put in a message
# A link with more than LIFETIME - EXTEND_AFTER left is not written again: a message a day
# moves its expiry at most once.
EXTEND_AFTER = timedelta(days=1)


def link_for(stored: StoredCase, *, now: datetime) -> str | None:
    """The page URL for this case's next message; None when it cannot be made now (the
    message then goes without it). A retried job gets the same link."""
    return _link(stored, now, None, read=False)


@dataclass(slots=True)
class MessageLink:
    """The page link of one send job's message: the case's link as read with the case (or
    read when first needed), made at most once per job, so a pass the sender repeats after a
    conflict carries the same link without reading or writing it again."""

    current: store.CurrentLink | None = None
    read: bool = False  # `current` is the link as read (None: the case has none)
    made: bool = False
    url: str | None = None

    def for_message(self, stored: StoredCase, now: datetime) -> str | None:
        if not self.made:
            self.url = _link(stored, now, self.current, read=self.read)
            self.made = True
        return self.url


def _link(
    stored: StoredCase, now: datetime, current: store.CurrentLink | None, *, read: bool
) -> str | None:
    case = stored.case
    try:
        settings = get_settings()
        secret, base = settings.link_secrets()[0], settings.public_base_url()
        if not read:
            current = store.current(case.shop, case.case_id)
        # A message revives an expired (never a revoked) link: the customer's older
        # messages open the page again.
        link_id = kept_or_issued(case, current, now, revive_expired=True)
        return links.page_url(base, links.sign_page(link_id, secret=secret))
    except Exception as error:  # noqa: BLE001 (the message goes without the page link)
        logger.warning(
            "Page link not made; the message goes without it",
            extra={"case_id": case.case_id, "error_type": type(error).__name__},
        )
        metrics.add_metric(name="PageLinkFailed", unit="Count", value=1)
        return None


def revoke(shop: str, case_id: str, *, now: datetime) -> bool:
    """Stop the case's link from opening the page (its page then offers a fresh one); the
    next message carries a new link. False when there was none to revoke."""
    return store.revoke(shop, case_id, now=now)


def kept_or_issued(
    case: Case, current: store.CurrentLink | None, now: datetime, *, revive_expired: bool
) -> str:
    """The case's current link kept open for LIFETIME more (written at most once a day),
    or a new one in place of a revoked one (and of an expired one unless `revive_expired`)."""
    until = now + LIFETIME
    kept = current is not None and current.revoked_at is None
    if current is not None and kept and (revive_expired or now <= current.expires_at):
        if current.expires_at < until - EXTEND_AFTER:
            store.extend(case.shop, case.case_id, current.link_id, until=until)
        return current.link_id
    link_id = links.new_page_id()
    store.issue(
        case.shop,
        case.case_id,
        link_id,
        replacing=current.link_id if current else None,
        now=now,
        until=until,
    )
    return link_id
