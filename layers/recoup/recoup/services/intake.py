"""Accept a webhook delivery: verify it, normalise it, enqueue it. Nothing else.

Verification is local (a cached secret, an HMAC), so a delivery costs one AWS call, the
enqueue; a rejected one costs none and writes nothing. A verified delivery's own id (Shopify's
webhook id, Stripe's event id) becomes the correlation id of everything it leads to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from recoup import correlation, queue
from recoup.domain.events import DomainEvent
from recoup.errors import MalformedWebhook
from recoup.integrations import shopify, shopify_privacy, stripe
from recoup.observability import logger
from recoup.settings import get_settings


@dataclass(frozen=True, slots=True)
class Accepted:
    status: str  # "queued" or "ignored"
    event_id: str
    kind: str
    message_id: str | None = None

    def to_body(self) -> dict[str, str]:
        body = {"status": self.status, "event_id": self.event_id, "kind": self.kind}
        if self.message_id:
            body["message_id"] = self.message_id
        return body


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def accept_shopify(raw_body: bytes, headers: Mapping[str, str]) -> Accepted:
    shopify.verify_signature(
        raw_body, _header(headers, "X-Shopify-Hmac-Sha256"), get_settings().shopify_secrets()
    )
    delivery = shopify.read_delivery(headers)
    correlation.use(delivery.webhook_id)
    if delivery.topic in shopify_privacy.PRIVACY_TOPICS:
        return _queue_privacy(shopify_privacy.read_job(delivery, raw_body))
    event = shopify.normalise(delivery, raw_body)
    if event is None:
        logger.info("Ignored Shopify topic", extra={"topic": delivery.topic, "shop": delivery.shop})
        return Accepted("ignored", delivery.webhook_id, delivery.topic)
    return _queue(event)


def accept_stripe(raw_body: bytes, headers: Mapping[str, str]) -> Accepted:
    stripe.verify_signature(
        raw_body, _header(headers, "Stripe-Signature"), get_settings().stripe_secrets()
    )
    parsed = stripe.read_event(raw_body)
    correlation.use(parsed.event_id)
    if parsed.type == stripe.DEAUTHORIZED:
        if not parsed.account:
            raise MalformedWebhook("account.application.deauthorized names no account")
        job = shopify_privacy.PrivacyJob(
            shopify_privacy.STRIPE_DEAUTHORIZED, "", parsed.event_id, {"account": parsed.account}
        )
        shopify_privacy.check_payload(job.kind, job.shop, job.payload)
        return _queue_privacy(job)
    event = stripe.normalise(parsed)
    if event is None:
        logger.info("Ignored Stripe event type", extra={"type": parsed.type})
        return Accepted("ignored", parsed.event_id, parsed.type)
    return _queue(event)


def _queue(event: DomainEvent) -> Accepted:
    message_id = queue.enqueue(event)
    logger.info(
        "Queued event",
        extra={"event_id": event.event_id, "kind": event.kind, "case_id": event.case_id},
    )
    return Accepted("queued", event.event_id, event.kind, message_id)


def _queue_privacy(job: shopify_privacy.PrivacyJob) -> Accepted:
    """Privacy requests and uninstalls go to their own worker: its work (exports, erasure)
    takes longer than Shopify's five seconds, and none of it is a case event."""
    message_id = queue.enqueue_privacy(job)
    logger.info("Queued privacy job", extra={"kind": job.kind, "shop": job.shop})
    return Accepted("queued", job.webhook_id, job.kind, message_id)
