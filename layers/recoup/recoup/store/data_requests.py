"""One marker per customers/data_request: the export's key, whom it is about (a hash), and
whether the merchant was told. The marker makes the email at-most-once per request.

pk SHOP#<domain>, sk PRIVACY#DATA_REQUEST#<data_request id>. A request is claimed with a
conditional put before the email is sent; a failed send releases the claim (SQS retries),
a claim older than CLAIM_TIMEOUT (the worker died mid-send) may be taken over, and a
finished marker stops every redelivery from emailing again. Markers expire with the export.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from recoup import aws
from recoup.settings import get_settings
from recoup.store.models import shop_pk

PREFIX = "PRIVACY#DATA_REQUEST#"
# Longer than the privacy worker's Lambda timeout: an older claim is a crashed send.
CLAIM_TIMEOUT = timedelta(minutes=10)
RETENTION = timedelta(days=30)  # as long as the export itself is kept
_TIME = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True, slots=True)
class Marker:
    request_id: str
    export_key: str
    status: str  # claimed | emailed | no_contact_email


def marker_sk(request_id: str) -> str:
    return f"{PREFIX}{request_id}"


def claim(
    shop: str, request_id: str, *, customer_hash: str, export_key: str, now: datetime
) -> bool:
    """Claim the right to tell the merchant; False: done already, or being done now. The
    claim carries a token of its own, so a put that landed but whose answer was lost (and
    that the SDK's retry then found taken) is still recognised as ours."""
    stale = (now - CLAIM_TIMEOUT).astimezone(UTC).strftime(_TIME)
    token = uuid.uuid4().hex
    key = {"pk": {"S": shop_pk(shop)}, "sk": {"S": marker_sk(request_id)}}
    try:
        aws.client("dynamodb").put_item(
            TableName=get_settings().table_name,
            Item={
                **key,
                "status": {"S": "claimed"},
                "claimed_at": {"S": now.astimezone(UTC).strftime(_TIME)},
                "claim_token": {"S": token},
                "customer": {"S": customer_hash},
                "export_key": {"S": export_key},
                "expires_at": {"N": str(int((now + RETENTION).timestamp()))},
            },
            ConditionExpression=(
                "attribute_not_exists(pk) OR (#status = :claimed AND claimed_at < :stale)"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":claimed": {"S": "claimed"}, ":stale": {"S": stale}},
        )
    except aws.client("dynamodb").exceptions.ConditionalCheckFailedException:
        held = (
            aws.client("dynamodb")
            .get_item(TableName=get_settings().table_name, Key=key, ConsistentRead=True)
            .get("Item", {})
        )
        return held.get("status", {}).get("S") == "claimed" and (
            held.get("claim_token", {}).get("S") == token
        )
    except Exception:
        # The put may have landed (its answer lost): give back a claim that is ours, so
        # SQS's retry of the job can claim again; then fail this attempt.
        _drop_claim(key, token)
        raise
    return True


def _drop_claim(key: dict[str, dict[str, str]], token: str) -> None:
    try:
        aws.client("dynamodb").delete_item(
            TableName=get_settings().table_name,
            Key=key,
            ConditionExpression="claim_token = :token",
            ExpressionAttributeValues={":token": {"S": token}},
        )
    except Exception:  # noqa: BLE001 - best effort: a claim left behind ages out (CLAIM_TIMEOUT)
        return


def finish(shop: str, request_id: str, status: str, message_id: str | None = None) -> None:
    aws.client("dynamodb").update_item(
        TableName=get_settings().table_name,
        Key={"pk": {"S": shop_pk(shop)}, "sk": {"S": marker_sk(request_id)}},
        UpdateExpression="SET #status = :status, message_id = :message",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":status": {"S": status}, ":message": {"S": message_id or ""}},
    )


def release(shop: str, request_id: str) -> None:
    """Give the claim back after a failed send, so the retry may send."""
    try:
        aws.client("dynamodb").delete_item(
            TableName=get_settings().table_name,
            Key={"pk": {"S": shop_pk(shop)}, "sk": {"S": marker_sk(request_id)}},
            ConditionExpression="#status = :claimed",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":claimed": {"S": "claimed"}},
        )
    except aws.client("dynamodb").exceptions.ConditionalCheckFailedException:
        return


def about(shop: str, customer_hash: str) -> list[Marker]:
    """The shop's data requests about one customer (their exports are theirs to erase)."""
    pages = (
        aws.client("dynamodb")
        .get_paginator("query")
        .paginate(
            TableName=get_settings().table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            FilterExpression="customer = :customer",
            ExpressionAttributeValues={
                ":pk": {"S": shop_pk(shop)},
                ":prefix": {"S": PREFIX},
                ":customer": {"S": customer_hash},
            },
            ConsistentRead=True,
        )
    )
    return [
        Marker(
            request_id=item["sk"]["S"].removeprefix(PREFIX),
            export_key=item["export_key"]["S"],
            status=item["status"]["S"],
        )
        for page in pages
        for item in page.get("Items", [])
    ]
