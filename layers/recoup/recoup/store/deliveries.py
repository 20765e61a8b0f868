"""Provider message ids and the delivery reports recorded for them.

The sender writes one `DELIVERY#<channel>#<provider id>` item in the transaction that records
the message; SES's events and SNS's SMS delivery status name only that id, so the feedback
function finds the case through it. Each report kind is recorded once: its REPORT# item is
put, absent-only, in the same transaction as the audit entry it explains, so a redelivered
notification adds nothing. Reads and writes are by key (one GetItem per report); the items
expire after REPORT_WINDOW, longer than SES (bounces within days) and SNS (72 hours) report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.exceptions import DoesNotExist

from recoup.store.bind import bind
from recoup.store.models import DeliveryItem

REPORT_WINDOW = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """Which case and reminder step a provider's message id belongs to."""

    shop: str
    case_id: str
    step: int


def _pk(channel: str, provider_id: str) -> str:
    return f"DELIVERY#{channel}#{provider_id}"


def sent_item(
    channel: str, provider_id: str, *, shop: str, case_id: str, step: int, at: datetime
) -> DeliveryItem:
    """The lookup item for one message, written in the sender's transaction."""
    return DeliveryItem(
        _pk(channel, provider_id),
        "META",
        shop=shop,
        case_id=case_id,
        step=step,
        expires_at=at + REPORT_WINDOW,
    )


def report_item(channel: str, provider_id: str, kind: str, *, at: datetime) -> DeliveryItem:
    """The marker that a report of this kind is on the case's trail (put only if absent)."""
    return DeliveryItem(
        _pk(channel, provider_id),
        f"REPORT#{kind}",
        shop="",
        case_id="",
        step=-1,
        expires_at=at + REPORT_WINDOW,
    )


def find(channel: str, provider_id: str) -> SentMessage | None:
    bind()
    try:
        item = DeliveryItem.get(_pk(channel, provider_id), "META", consistent_read=True)
    except DoesNotExist:
        return None
    return SentMessage(item.shop, item.case_id, int(item.step))


def reported(channel: str, provider_id: str, kind: str) -> bool:
    bind()
    try:
        DeliveryItem.get(_pk(channel, provider_id), f"REPORT#{kind}", consistent_read=True)
    except DoesNotExist:
        return False
    return True
