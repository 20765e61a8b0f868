"""Customer tags in Shopify, off the request path: the fraud and referral code queues a job
(`enqueue_tag`), the shopify_tasks worker applies it (`run_job`) through the Admin API.

A job for a shop without a token (uninstalled, or OAuth never finished) is dropped with a
metric: no token will appear for it, so retrying would only fill the dead-letter queue.
An Admin API failure fails the job, and SQS retries it; adding tags twice changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recoup import clock, queue
from recoup.integrations.shopify_admin import ShopifyAdmin
from recoup.integrations.shopify_oauth import SHOP_DOMAIN
from recoup.observability import logger, metrics
from recoup.services import shopify_access

MAX_TAG_LENGTH = 255  # Shopify's limit per tag
MAX_TAGS = 50


class MalformedJob(ValueError):
    """A job that can never run as written; the message names the field."""


@dataclass(frozen=True, slots=True)
class TagJob:
    shop: str
    case_id: str
    customer_id: str  # the numeric Shopify customer id
    tags: tuple[str, ...]
    reason: str  # why Recoup tags the customer (fraud, agency referral...), for the logs

    @property
    def customer_gid(self) -> str:
        return f"gid://shopify/Customer/{self.customer_id}"

    def to_json(self) -> str:
        return json.dumps(
            {
                "shop": self.shop,
                "case_id": self.case_id,
                "customer_id": self.customer_id,
                "tags": list(self.tags),
                "reason": self.reason,
            },
            separators=(",", ":"),
        )

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> TagJob:
        shop = _text(data, "shop")
        if not SHOP_DOMAIN.fullmatch(shop):
            raise MalformedJob(f"shop is not a *.myshopify.com domain: {shop[:100]!r}")
        customer_id = _text(data, "customer_id").rsplit("/", 1)[-1]
        if not customer_id.isdigit():
            raise MalformedJob("customer_id must be a Shopify customer id (digits)")
        tags = data.get("tags")
        if not isinstance(tags, list | tuple) or not tags or len(tags) > MAX_TAGS:
            raise MalformedJob(f"tags must be a list of 1 to {MAX_TAGS} tags")
        cleaned: list[str] = []
        for index, tag in enumerate(tags):
            if not isinstance(tag, str) or not tag.strip():
                raise MalformedJob(f"tags[{index}] must be a non-empty string")
            if "," in tag or len(tag.strip()) > MAX_TAG_LENGTH:
                # Shopify splits tags on commas: one tag would silently become several.
                raise MalformedJob(
                    f"tags[{index}] must have no comma and at most {MAX_TAG_LENGTH} characters"
                )
            cleaned.append(tag.strip())
        return cls(
            shop=shop,
            case_id=_text(data, "case_id"),
            customer_id=customer_id,
            tags=tuple(dict.fromkeys(cleaned)),
            reason=_text(data, "reason")[:500],
        )


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise MalformedJob(f"{name} is missing or not a non-empty string")
    return value.strip()


def enqueue_tag(shop: str, case_id: str, customer_id: str, tags: list[str], reason: str) -> None:
    """Queue tagging a customer; raises MalformedJob (naming the field) for input that could
    never be applied, before anything is queued."""
    job = TagJob.parse(
        {
            "shop": shop,
            "case_id": case_id,
            "customer_id": customer_id,
            "tags": tags,
            "reason": reason,
        }
    )
    queue.send(queue.Queue.SHOPIFY_TASKS, job)
    logger.info(
        "Customer tagging queued", extra={"shop": shop, "case_id": case_id, "reason": job.reason}
    )


@dataclass(frozen=True, slots=True)
class TaskResult:
    outcome: str  # tagged | dropped
    detail: str


def run_job(body: str) -> TaskResult:
    """Apply one queued job. Raises for a malformed job or a failed API call (SQS retries
    it, then the dead-letter queue keeps it)."""
    try:
        data = json.loads(body)
    except ValueError:
        raise MalformedJob("the job is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedJob("the job is not a JSON object")
    job = TagJob.parse(data)
    try:
        token = shopify_access.access_token(job.shop, now=clock.now())
    except (shopify_access.NoToken, shopify_access.NeedsReauth) as missing:
        # Uninstalled, or waiting for the merchant to open the app: a tag is not worth a
        # retry that cannot succeed (the admin page shows the shop needs re-authentication).
        logger.warning(
            "Customer tagging dropped: no usable access token",
            extra={"shop": job.shop, "case_id": job.case_id, "reason": job.reason},
        )
        metrics.add_metric(name="ShopifyTaskDropped", unit="Count", value=1)
        return TaskResult("dropped", str(missing))
    ShopifyAdmin(job.shop, token).add_tags(job.customer_gid, job.tags)
    metrics.add_metric(name="CustomerTagged", unit="Count", value=1)
    return TaskResult("tagged", f"case {job.case_id}: {', '.join(job.tags)} ({job.reason})")
