"""The private case-files bucket: its layout, and the few S3 calls Recoup makes on it.

Layout (every key starts with a kind, then the shop, so a shop's objects are found by prefix):
- `exports/<shop>/<data_request id>.json`: a customers/data_request export, kept 30 days
  (the bucket's lifecycle rule);
- `cases/<shop>/<case id>/...`: files about one case (referral case files).

Objects are encrypted with the stack's KMS key by the bucket's default encryption; the bucket
refuses non-TLS requests and public access. It is versioned, with S3 Object Lock in governance
mode: every version of a case file is kept for the retention period (a rewrite adds a
version). An export is put with a one-day lock so that it expires after 30 days. Erasure
deletes every version and delete marker under a prefix, bypassing governance retention: the
privacy function alone has that right.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from recoup import aws
from recoup.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

KINDS = ("exports", "cases")
DELETE_BATCH = 1000  # DeleteObjects' limit
EXPORT_LOCK = timedelta(days=1)  # the shortest lock: the export's 30-day expiry does the rest


def _bucket() -> str:
    return get_settings().require("case_files_bucket")


def export_key(shop: str, request_id: str) -> str:
    return f"exports/{shop}/{request_id}.json"


def case_prefix(shop: str, case_id: str) -> str:
    return f"cases/{shop}/{case_id}/"


def shop_prefixes(shop: str) -> tuple[str, ...]:
    return tuple(f"{kind}/{shop}/" for kind in KINDS)


def put_json(key: str, document: Any) -> None:
    """Store a data export, locked for one day only (not the bucket's default retention)."""
    body = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True).encode()
    aws.client("s3").put_object(
        Bucket=_bucket(),
        Key=key,
        Body=body,
        ContentType="application/json; charset=utf-8",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=datetime.now(tz=UTC) + EXPORT_LOCK,
    )


def put_bytes(key: str, body: bytes, content_type: str) -> None:
    """Store one file, encrypted with the stack's KMS key (SSE-KMS, asked for explicitly
    rather than left to the bucket's default)."""
    settings = get_settings()
    extra: dict[str, Any] = {"ServerSideEncryption": "aws:kms"}
    if settings.kms_key_arn:
        extra["SSEKMSKeyId"] = settings.kms_key_arn
    aws.client("s3").put_object(
        Bucket=_bucket(), Key=key, Body=body, ContentType=content_type, **extra
    )


def get_json(key: str) -> Any:
    body = aws.client("s3").get_object(Bucket=_bucket(), Key=key)["Body"].read()
    return json.loads(body)


def download_link(key: str, valid_for: timedelta) -> str:
    """A presigned GET. It stops working early if the credentials that signed it expire
    first (a Lambda role's session does, within hours); S3 caps it at 7 days anyway."""
    return aws.client("s3").generate_presigned_url(
        "get_object",
        Params={"Bucket": _bucket(), "Key": key},
        ExpiresIn=int(valid_for.total_seconds()),
    )


def delete(key: str) -> None:
    """Erase one object: every version of it (see `delete_prefix`)."""
    delete_prefix(key, exact=True)


def delete_prefix(prefix: str, *, exact: bool = False) -> int:
    """Erase every object under the prefix: all its versions and delete markers, bypassing
    governance retention (a plain delete in a versioned bucket only hides the object behind
    a delete marker). Paginated, 1,000 per call; how many versions and markers went."""
    bucket, count = _bucket(), 0
    pages = (
        aws.client("s3")
        .get_paginator("list_object_versions")
        .paginate(Bucket=bucket, Prefix=prefix)
    )
    for page in pages:
        objects: list[ObjectIdentifierTypeDef] = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in (*page.get("Versions", []), *page.get("DeleteMarkers", []))
            if "Key" in item and "VersionId" in item and (not exact or item["Key"] == prefix)
        ]
        for start in range(0, len(objects), DELETE_BATCH):
            batch = objects[start : start + DELETE_BATCH]
            response = aws.client("s3").delete_objects(
                Bucket=bucket,
                Delete={"Objects": batch, "Quiet": True},
                BypassGovernanceRetention=True,
            )
            if response.get("Errors"):
                failed = ", ".join(e.get("Key", "?") for e in response["Errors"][:5])
                raise RuntimeError(f"S3 refused to delete {len(response['Errors'])}: {failed}")
            count += len(batch)
    return count
