"""Put verified webhooks on their queues: domain events on the events FIFO queue, privacy
requests on the privacy queue."""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from recoup.domain.events import DomainEvent
from recoup.integrations.shopify_privacy import PrivacyJob
from recoup.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


@cache
def _client() -> SQSClient:
    # Created on first use, not at import: a cold start that rejects a forged webhook
    # never pays for it. boto3 honours AWS_ENDPOINT_URL on the local stack.
    import boto3

    return boto3.client("sqs", region_name=get_settings().region)


def enqueue(event: DomainEvent) -> str:
    """Send one event. Group: shop + order, so one order's events stay in order.
    Deduplication: the provider's delivery id, so SQS drops a redelivery within 5 minutes
    (the worker's own check catches later ones)."""
    body: dict[str, Any] = event.to_dict()
    response = _client().send_message(
        QueueUrl=get_settings().events_queue_url,
        MessageBody=json.dumps(body, separators=(",", ":")),
        MessageGroupId=event.group_key[:128],
        MessageDeduplicationId=f"{event.source}:{event.event_id}"[:128],
    )
    return str(response["MessageId"])


def enqueue_privacy(job: PrivacyJob) -> str:
    """Send one privacy job (a standard queue: the worker's handling is idempotent, so a
    duplicate is harmless and needs no deduplication id)."""
    response = _client().send_message(
        QueueUrl=get_settings().require("privacy_queue_url"), MessageBody=job.to_json()
    )
    return str(response["MessageId"])
