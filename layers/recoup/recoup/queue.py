"""Put verified webhooks on their queues: domain events on the events queue, privacy
requests on the privacy queue."""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from recoup.domain.events import DomainEvent
from recoup.integrations import queue_bodies
from recoup.integrations.shopify_privacy import PrivacyJob
from recoup.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# SQS refuses a message over 256 KiB (body and attributes); keep a margin below it.
MAX_INLINE_BYTES = 256 * 1024 - 4 * 1024


@cache
def _client() -> SQSClient:
    # Created on first use, not at import: a cold start that rejects a forged webhook
    # never pays for it. boto3 honours AWS_ENDPOINT_URL on the local stack.
    import boto3

    return boto3.client("sqs", region_name=get_settings().region)


def enqueue(event: DomainEvent) -> str:
    """Send one event. The queue is standard: the worker needs no order (a case is a join of
    facts) and drops a duplicate by the event ids the case keeps. An event too large for a
    message is stored in the queue bodies bucket and queued by reference, never lost; only
    such an event pays for the extra call."""
    body = json.dumps(event.to_dict(), separators=(",", ":"))
    if len(body.encode()) > MAX_INLINE_BYTES:
        body = _by_reference(event, body)
    response = _client().send_message(QueueUrl=get_settings().events_queue_url, MessageBody=body)
    return str(response["MessageId"])


def _by_reference(event: DomainEvent, body: str) -> str:
    ids: dict[str, Any] = {
        "event_id": event.event_id,
        "source": str(event.source),
        "kind": event.kind,
        "case_id": event.case_id,
    }
    if event.shop:
        ids["shop"] = event.shop
    if event.stripe_account:
        ids["stripe_account"] = event.stripe_account
    key = queue_bodies.inbox_key(ids)
    queue_bodies.put(key, body)
    return json.dumps({queue_bodies.INBOX_REF: key, **ids}, separators=(",", ":"))


def enqueue_privacy(job: PrivacyJob) -> str:
    """Send one privacy job (a standard queue: the worker's handling is idempotent, so a
    duplicate is harmless and needs no deduplication id)."""
    response = _client().send_message(
        QueueUrl=get_settings().require("privacy_queue_url"), MessageBody=job.to_json()
    )
    return str(response["MessageId"])
