"""Shops' offline Admin API tokens: encrypted with the stack's token key (its own KMS key, not
the data key every table reader holds; only the Shopify tasks worker may decrypt with it)
before they reach the table, bound to their shop by the encryption context, so a token copied
onto another shop's item does not decrypt. The plaintext exists only in memory, never in a
log or an error."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from pynamodb.exceptions import DoesNotExist, UpdateError

from recoup.settings import get_settings
from recoup.store.bind import bind
from recoup.store.models import ShopItem, shop_pk
from recoup.store.shops import META

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient


@cache
def _kms() -> KMSClient:
    import boto3

    return boto3.client("kms", region_name=get_settings().region)


def save_token(shop: str, token: str, *, scopes: str) -> None:
    """Encrypt and store the shop's token and the scopes it was granted (other attributes of
    the shop, such as its settings, are kept)."""
    blob = _kms().encrypt(
        KeyId=get_settings().require("token_key_arn"),
        Plaintext=token.encode(),
        EncryptionContext={"shop": shop},
    )["CiphertextBlob"]
    bind()
    ShopItem(shop_pk(shop), META).update(
        actions=[ShopItem.access_token.set(blob), ShopItem.scopes.set(scopes)]
    )


def load_token(shop: str) -> str | None:
    """The shop's token in plain text; None when there is none (never installed through
    OAuth, or uninstalled). Read consistently: an uninstall must take effect at once."""
    bind()
    try:
        item = ShopItem.get(
            shop_pk(shop), META, consistent_read=True, attributes_to_get=["access_token"]
        )
    except DoesNotExist:
        return None
    if not item.access_token:
        return None
    plaintext = _kms().decrypt(
        CiphertextBlob=item.access_token,
        EncryptionContext={"shop": shop},
        KeyId=get_settings().require("token_key_arn"),
    )["Plaintext"]
    return plaintext.decode()


def delete_token(shop: str) -> None:
    """Forget the token and its scopes (idempotent; the shop's other attributes stay)."""
    bind()
    try:
        # Conditioned on the item existing, so deleting never creates a shop.
        ShopItem(shop_pk(shop), META).update(
            actions=[ShopItem.access_token.remove(), ShopItem.scopes.remove()],
            condition=ShopItem.pk.exists(),
        )
    except UpdateError as error:
        if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise


@dataclass(frozen=True, slots=True)
class MoveReport:
    moved: int  # re-encrypted under the token key
    already: int  # under the token key already
    changed: int  # re-written meanwhile (a new install): left as it is


def move_to_token_key(table_name: str, token_key: str, *, region: str) -> MoveReport:
    """One-off, run by an operator once after the deploy that introduced the token key: every
    stored token encrypted under the data key (which every table reader may use) is
    re-encrypted under the token key with KMS ReEncrypt (the plaintext never leaves KMS),
    bound to its shop as before. Each write is conditioned on the ciphertext read, so a token
    a reinstall wrote meanwhile is kept; running it again moves nothing."""
    import boto3

    kms = boto3.client("kms", region_name=region)
    ddb = boto3.client("dynamodb", region_name=region)
    key_arn = kms.describe_key(KeyId=token_key)["KeyMetadata"]["Arn"]
    moved = already = changed = 0
    pages = ddb.get_paginator("scan").paginate(
        TableName=table_name,
        FilterExpression="sk = :meta AND attribute_exists(access_token)",
        ExpressionAttributeValues={":meta": {"S": META}},
        ProjectionExpression="pk, sk, access_token",
    )
    for item in (item for page in pages for item in page["Items"]):
        shop = item["pk"]["S"].removeprefix("SHOP#")
        old = item["access_token"]["B"]
        answer = kms.re_encrypt(
            CiphertextBlob=old,
            SourceEncryptionContext={"shop": shop},
            DestinationKeyId=key_arn,
            DestinationEncryptionContext={"shop": shop},
        )
        if answer["SourceKeyId"] == key_arn:
            already += 1
            continue
        try:
            ddb.update_item(
                TableName=table_name,
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET access_token = :new",
                ConditionExpression="access_token = :old",
                ExpressionAttributeValues={
                    ":new": {"B": answer["CiphertextBlob"]},
                    ":old": {"B": old},
                },
            )
            moved += 1
        except ddb.exceptions.ConditionalCheckFailedException:
            # Either a reinstall wrote a new token, or this very write landed and its answer
            # was lost (the SDK's retry then fails the condition): the item tells which.
            now = ddb.get_item(TableName=table_name, Key={"pk": item["pk"], "sk": item["sk"]})
            current = now.get("Item", {}).get("access_token", {}).get("B")
            if current == answer["CiphertextBlob"]:
                moved += 1
            else:
                changed += 1
    return MoveReport(moved, already, changed)
