"""Test messages an admin sends to themself from the onboarding checklist.

One item per message (`TESTMSG#<time>#<id>`: the newest is one Query with Limit 1) and one
counter per shop and UTC day (`TESTCOUNT#<day>`), raised conditionally before the message is
recorded, so a shop sends at most DAILY_LIMIT a day whatever the page does. Both expire after
KEPT; no case, audit entry or figure ever reads them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from recoup.store.bind import bind
from recoup.store.models import SampleSendCountItem, SampleSendItem, shop_pk

DAILY_LIMIT = 10
KEPT = timedelta(days=7)
_PREFIX = "TESTMSG#"


@dataclass(frozen=True, slots=True)
class SampleSend:
    send_id: str  # the item's sort key after TESTMSG#
    channel: str
    step: int
    to_address: str
    status: str  # queued | sending | sent | failed | unknown
    detail: str | None
    created_at: datetime
    updated_at: datetime


class DailyLimitReached(Exception):
    """The shop asked for DAILY_LIMIT test messages today already."""


def create(shop: str, *, channel: str, step: int, to_address: str, now: datetime) -> SampleSend:
    """Count the message against today's limit, then record it as queued."""
    bind()
    counter = SampleSendCountItem(shop_pk(shop), f"TESTCOUNT#{now.date().isoformat()}")
    try:
        counter.update(
            actions=[
                SampleSendCountItem.asked.add(1),
                SampleSendCountItem.expires_at.set(now + KEPT),
            ],
            condition=SampleSendCountItem.asked.does_not_exist()
            | (SampleSendCountItem.asked < DAILY_LIMIT),
        )
    except UpdateError as error:
        if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
            raise DailyLimitReached from None
        raise
    send_id = f"{now.strftime('%Y%m%dT%H%M%S%fZ')}#{secrets.token_hex(4)}"
    item = SampleSendItem(
        shop_pk(shop),
        _PREFIX + send_id,
        channel=channel,
        step=step,
        to_address=to_address,
        status="queued",
        created_at=now,
        updated_at=now,
        expires_at=now + KEPT,
    )
    item.save(condition=SampleSendItem.sk.does_not_exist())
    return _view(item)


def claim(shop: str, send_id: str, *, now: datetime) -> SampleSend | None:
    """queued -> sending, once: None when the message was claimed before (a redelivered
    job: it may have been sent, so it is not sent again) or is gone."""
    return _move(shop, send_id, "queued", "sending", None, now)


def finish(shop: str, send_id: str, status: str, detail: str, *, now: datetime) -> None:
    """sending -> sent | failed | unknown, with words for the admin."""
    _move(shop, send_id, "sending", status, detail, now)


def latest(shop: str) -> SampleSend | None:
    bind()
    for item in SampleSendItem.query(
        shop_pk(shop),
        SampleSendItem.sk.startswith(_PREFIX),
        scan_index_forward=False,
        limit=1,
        consistent_read=True,
    ):
        return _view(item)
    return None


def get(shop: str, send_id: str) -> SampleSend | None:
    bind()
    try:
        return _view(SampleSendItem.get(shop_pk(shop), _PREFIX + send_id, consistent_read=True))
    except DoesNotExist:
        return None


def _move(
    shop: str, send_id: str, before: str, after: str, detail: str | None, now: datetime
) -> SampleSend | None:
    bind()
    item = SampleSendItem(shop_pk(shop), _PREFIX + send_id)
    actions: list[Any] = [SampleSendItem.status.set(after), SampleSendItem.updated_at.set(now)]
    if detail is not None:
        actions.append(SampleSendItem.detail.set(detail))
    try:
        item.update(
            actions=actions,
            condition=SampleSendItem.sk.exists() & (SampleSendItem.status == before),
        )
    except UpdateError as error:
        if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
            return None
        raise
    return _view(item)


def _view(item: SampleSendItem) -> SampleSend:
    return SampleSend(
        send_id=item.sk.removeprefix(_PREFIX),
        channel=item.channel,
        step=int(item.step),
        to_address=item.to_address,
        status=item.status,
        detail=item.detail,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )
