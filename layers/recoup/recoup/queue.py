"""Every message the package puts on a queue: verified webhooks (domain events on the events
queue, privacy requests on the privacy queue) and the workers' jobs (reminder steps and test
messages, escalation checks, hand-overs, Shopify tasks, instalment plans' charges), one at a
time or in batches.

Callers hand over job objects and never see SQS: a failed call is raised as `NotQueued`,
named by the service's error code. Every message carries the current correlation id as its
`correlation_id` attribute (`recoup.correlation`), which the worker that takes it sets again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from recoup import aws, correlation
from recoup.domain.events import DomainEvent
from recoup.integrations import queue_bodies
from recoup.integrations.shopify_privacy import PrivacyJob
from recoup.settings import QueueSetting, get_settings

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import (
        MessageAttributeValueTypeDef,
        SendMessageBatchRequestEntryTypeDef,
        SendMessageRequestTypeDef,
    )

# SQS refuses a message over 256 KiB (body and attributes); keep a margin below it, which
# also holds the correlation id's attribute (at most correlation.MAX_LENGTH characters).
MAX_INLINE_BYTES = 256 * 1024 - 4 * 1024
BATCH_LIMIT = 10  # SendMessageBatch's limit


class Queue(StrEnum):
    """A queue, by the Settings field holding its URL."""

    EVENTS = "events_queue_url"
    PRIVACY = "privacy_queue_url"
    REMINDERS = "reminder_queue_url"
    ESCALATION_CHECKS = "escalation_queue_url"
    HANDOVERS = "handover_queue_url"
    SHOPIFY_TASKS = "shopify_tasks_queue_url"
    PLAN_CHARGES = "plan_charges_queue_url"

    @property
    def setting(self) -> QueueSetting:
        return self.value


class Job(Protocol):
    """What a queue carries: a job that writes itself as the body its worker reads."""

    def to_json(self) -> str: ...


@dataclass(frozen=True, slots=True)
class CaseJob:
    """A job about one case, as the reminder, escalation, hand-over and plan charges workers
    read it."""

    shop: str
    case_id: str
    step: int | None = None  # a reminder job's step
    referral_id: str | None = None  # a hand-over queued with the referral that made it

    def to_json(self) -> str:
        body: dict[str, Any] = {"shop": self.shop, "case_id": self.case_id}
        if self.step is not None:
            body["step"] = self.step
        if self.referral_id is not None:
            body["referral_id"] = self.referral_id
        return json.dumps(body)


class NotQueued(aws.CallFailed):
    """The message was not put on its queue (after the SDK's retries)."""


@dataclass(frozen=True, slots=True)
class BatchAnswer:
    """What SQS did not take of a batch, by entry id; every other entry was queued."""

    retry: frozenset[str]  # failed on SQS's side: sending them again may work
    refused: frozenset[str]  # refused for good (the sender's fault): sending again cannot help


def enqueue(event: DomainEvent) -> str:
    """Send one event. The queue is standard: the worker needs no order (a case is a join of
    facts) and drops a duplicate by the event ids the case keeps. An event too large for a
    message is stored in the queue bodies bucket and queued by reference, never lost; only
    such an event pays for the extra call."""
    body = json.dumps(event.to_dict(), separators=(",", ":"))
    with aws.failures_as(NotQueued):
        if len(body.encode()) > MAX_INLINE_BYTES:
            body = _by_reference(event, body)
        return _send(Queue.EVENTS, body)


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
    return send(Queue.PRIVACY, job)


def send(queue: Queue, job: Job) -> str:
    """Put one job on a worker's queue; SQS's message id."""
    with aws.failures_as(NotQueued):
        return _send(queue, job.to_json())


def _send(queue: Queue, body: str) -> str:
    request: SendMessageRequestTypeDef = {
        "QueueUrl": get_settings().require(queue.setting),
        "MessageBody": body,
    }
    if attributes := _correlation_attributes():
        request["MessageAttributes"] = attributes
    response = aws.client("sqs").send_message(**request)
    return str(response["MessageId"])


def _correlation_attributes() -> dict[str, MessageAttributeValueTypeDef]:
    """The message attributes with the current correlation id; none without one. It is the
    only attribute Recoup sets (SQS allows ten); an event queued by reference carries it on
    the reference."""
    value = correlation.current()
    if value is None:
        return {}
    return {correlation.MESSAGE_ATTRIBUTE: {"DataType": "String", "StringValue": value}}


def send_batch(queue: Queue, jobs: Mapping[str, Job]) -> BatchAnswer:
    """Put up to ten jobs on a worker's queue in one call, each under its entry id. One call,
    no retry of the entries SQS failed: how often to try again is the caller's to say."""
    if len(jobs) > BATCH_LIMIT:
        raise ValueError(f"at most {BATCH_LIMIT} jobs per batch, not {len(jobs)}")
    url = get_settings().require(queue.setting)
    attributes = _correlation_attributes()
    entries: list[SendMessageBatchRequestEntryTypeDef] = []
    for entry_id, job in jobs.items():
        entry: SendMessageBatchRequestEntryTypeDef = {"Id": entry_id, "MessageBody": job.to_json()}
        if attributes:
            entry["MessageAttributes"] = attributes
        entries.append(entry)
    with aws.failures_as(NotQueued):
        response = aws.client("sqs").send_message_batch(QueueUrl=url, Entries=entries)
    failed = response.get("Failed", [])
    return BatchAnswer(
        retry=frozenset(f["Id"] for f in failed if not f.get("SenderFault")),
        refused=frozenset(f["Id"] for f in failed if f.get("SenderFault")),
    )
