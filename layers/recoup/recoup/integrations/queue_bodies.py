"""Queue bodies kept out of SQS, in their own private bucket (SSE-KMS with the data key).

Layout (kind, then owner, then case, so erasure finds a case's or a shop's bodies by prefix):
- `inbox/<owner>/<case id>/<event id>.json`: a normalised event too large for an SQS message;
  the queue carries `{"inbox": key, ...ids}` and the worker loads it.
- `quarantine/<owner>/<case id>/<message id>.json`: the body of a message whose last allowed
  attempt failed; the dead-letter queue carries `{"quarantined": key, ...ids}` instead, so it
  holds no personal data, and a redrive of that reference loads the body again.

The owner is the shop, or `stripe-<account>` for a Stripe event not yet routed to a shop;
`_` stands for a missing part. Both prefixes expire by the bucket's lifecycle rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from recoup import aws
from recoup.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

INBOX = "inbox"
QUARANTINE = "quarantine"
KINDS = (INBOX, QUARANTINE)
INBOX_REF = "inbox"  # the key of an event stored by reference
QUARANTINE_REF = "quarantined"  # the key of a dead-lettered body
MAX_HOPS = 3  # a quarantined reference to an inbox event is two hops; more is a loop
DELETE_BATCH = 1000  # DeleteObjects' limit
# Message fields that identify without saying anything about a person: what a reference,
# a log line and a quarantine key may carry.
CORRELATION_FIELDS = (
    "shop",
    "case_id",
    "case",
    "event_id",
    "webhook_id",
    "kind",
    "source",
    "step",
    "referral_id",
    "attempt",
    "stripe_account",
)


class MissingBody(RuntimeError):
    """A reference whose body is gone (expired, or erased by a privacy request)."""


def _bucket() -> str:
    return get_settings().require("queue_bodies_bucket")


def _part(value: object) -> str:
    text = str(value) if value not in (None, "") else "_"
    return text.replace("/", "_")


def owner_of(ids: Mapping[str, Any]) -> str:
    if ids.get("shop"):
        return _part(ids["shop"])
    if ids.get("stripe_account"):
        return _part(f"stripe-{ids['stripe_account']}")
    return "_"


def inbox_key(ids: Mapping[str, Any]) -> str:
    return f"{INBOX}/{owner_of(ids)}/{_part(ids.get('case_id'))}/{_part(ids['event_id'])}.json"


def quarantine_key(ids: Mapping[str, Any], message_id: str) -> str:
    case = ids.get("case_id") or ids.get("case")
    return f"{QUARANTINE}/{owner_of(ids)}/{_part(case)}/{_part(message_id)}.json"


def case_prefixes(shop: str, case_id: str) -> tuple[str, ...]:
    return tuple(f"{kind}/{_part(shop)}/{_part(case_id)}/" for kind in KINDS)


def shop_prefixes(shop: str) -> tuple[str, ...]:
    return tuple(f"{kind}/{_part(shop)}/" for kind in KINDS)


def correlation_ids(body: str) -> dict[str, Any]:
    """The identifying, non-personal fields of a message body (empty if it is not a JSON
    object). Only scalars: a field of the same name holding a document is not an id."""
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        name: data[name]
        for name in CORRELATION_FIELDS
        if isinstance(data.get(name), str | int) and not isinstance(data.get(name), bool)
    }


def put(key: str, body: str) -> None:
    """Store one body, encrypted with the data key (SSE-KMS asked for explicitly)."""
    settings = get_settings()
    extra: dict[str, Any] = {"ServerSideEncryption": "aws:kms"}
    if settings.kms_key_arn:
        extra["SSEKMSKeyId"] = settings.kms_key_arn
    aws.client("s3").put_object(
        Bucket=_bucket(),
        Key=key,
        Body=body.encode(),
        ContentType="application/json; charset=utf-8",
        **extra,
    )


def get(key: str) -> str:
    from botocore.exceptions import ClientError

    try:
        return aws.client("s3").get_object(Bucket=_bucket(), Key=key)["Body"].read().decode()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise MissingBody(f"queued body {key} no longer exists") from None
        raise


def delete(key: str) -> None:
    aws.client("s3").delete_object(Bucket=_bucket(), Key=key)


def reference_key(body: str) -> str | None:
    """The bucket key a message stands for, if it is a reference."""
    if not body.startswith("{") or (INBOX_REF not in body and QUARANTINE_REF not in body):
        return None  # not a reference: no parse on the common path
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    key = data.get(QUARANTINE_REF) or data.get(INBOX_REF)
    return key if isinstance(key, str) else None


def resolve(body: str) -> str:
    """The body a message stands for: itself, or what its reference points to."""
    for _ in range(MAX_HOPS):
        key = reference_key(body)
        if key is None:
            return body
        body = get(key)
    raise MissingBody("queued body: too many references in a row")


def delete_prefix(prefix: str) -> int:
    """Delete every body under the prefix (paginated); how many."""
    bucket, count = _bucket(), 0
    for page in (
        aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    ):
        objects: list[ObjectIdentifierTypeDef] = [
            {"Key": item["Key"]} for item in page.get("Contents", [])
        ]
        for start in range(0, len(objects), DELETE_BATCH):
            batch = objects[start : start + DELETE_BATCH]
            response = aws.client("s3").delete_objects(
                Bucket=bucket, Delete={"Objects": batch, "Quiet": True}
            )
            if response.get("Errors"):
                raise RuntimeError(f"S3 refused to delete {len(response['Errors'])} queued bodies")
            count += len(batch)
    return count
