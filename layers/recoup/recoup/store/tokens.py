"""Shops' offline Admin API tokens and their refresh tokens: encrypted with the stack's
token key (its own KMS key, not the data key every table reader holds; only the Shopify
tasks worker may decrypt with it) before they reach the table, bound to their shop by the
encryption context, so a token copied onto another shop's item does not decrypt. The
plaintext exists only in memory, never in a log or an error. Every token write but an
install's is conditioned on the version it read (`services.shopify_access`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from recoup import aws
from recoup.settings import get_settings
from recoup.store.bind import bind
from recoup.store.models import ShopItem, shop_pk
from recoup.store.shops import META


@dataclass(frozen=True, slots=True)
class StoredToken:
    """The shop's offline token as stored, decrypted."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: datetime | None  # None: a non-expiring token (migrated on next use)
    refresh_expires_at: datetime | None
    scopes: str
    version: int  # every token write is conditioned on the version it read
    lease_until: datetime | None  # a refresh is under way until then
    needs_reauth: str | None  # why the merchant must open the app again


def _encrypt(shop: str, plaintext: str) -> bytes:
    return aws.client("kms").encrypt(
        KeyId=get_settings().require("token_key_arn"),
        Plaintext=plaintext.encode(),
        EncryptionContext={"shop": shop},
    )["CiphertextBlob"]


def _decrypt(shop: str, blob: bytes) -> str:
    return (
        aws.client("kms")
        .decrypt(
            CiphertextBlob=blob,
            EncryptionContext={"shop": shop},
            KeyId=get_settings().require("token_key_arn"),
        )["Plaintext"]
        .decode()
    )


def save_grant(
    shop: str,
    access_token: str,
    *,
    scopes: str,
    now: datetime,
    refresh_token: str | None = None,
    expires_in: int | None = None,
    refresh_expires_in: int | None = None,
    version: int | None = None,
) -> bool:
    """Encrypt and store a token Shopify gave (and its refresh token and expiries), clearing
    a lease and a re-authentication mark; the shop's other attributes stay. `version`: the
    token version this replaces (False if another write changed it since); None: whatever
    is stored (an install)."""
    actions = [
        ShopItem.access_token.set(_encrypt(shop, access_token)),
        ShopItem.scopes.set(scopes),
        ShopItem.token_version.set((ShopItem.token_version | 0) + 1),
        ShopItem.refresh_lease_until.remove(),
        ShopItem.needs_reauth.remove(),
    ]
    if refresh_token is not None and expires_in is not None:
        actions += [
            ShopItem.refresh_token.set(_encrypt(shop, refresh_token)),
            ShopItem.token_expires_at.set(now + timedelta(seconds=expires_in)),
        ]
        actions.append(
            ShopItem.refresh_expires_at.set(now + timedelta(seconds=refresh_expires_in))
            if refresh_expires_in is not None
            else ShopItem.refresh_expires_at.remove()
        )
    else:
        actions += [
            ShopItem.refresh_token.remove(),
            ShopItem.token_expires_at.remove(),
            ShopItem.refresh_expires_at.remove(),
        ]
    return _update(shop, actions, _version_is(version) if version is not None else None)


def save_token(shop: str, token: str, *, scopes: str) -> None:
    """Store a non-expiring token (installs made before expiring tokens; tests)."""
    save_grant(shop, token, scopes=scopes, now=datetime.now(tz=UTC))


def load(shop: str) -> StoredToken | None:
    """The shop's token record, decrypted; None when there is no token (never installed,
    or uninstalled). Read consistently: an uninstall or a refresh must show at once."""
    bind()
    try:
        item = ShopItem.get(shop_pk(shop), META, consistent_read=True)
    except DoesNotExist:
        return None
    if not item.access_token:
        return None
    return StoredToken(
        access_token=_decrypt(shop, item.access_token),
        refresh_token=_decrypt(shop, item.refresh_token) if item.refresh_token else None,
        expires_at=item.token_expires_at,
        refresh_expires_at=item.refresh_expires_at,
        scopes=item.scopes or "",
        version=int(item.token_version or 0),
        lease_until=item.refresh_lease_until,
        needs_reauth=item.needs_reauth,
    )


@dataclass(frozen=True, slots=True)
class TokenStatus:
    """What is known about the shop's token without decrypting it."""

    present: bool
    expiring: bool  # an expiring token with a refresh token (False: none, or to migrate)
    needs_reauth: str | None


def status(shop: str) -> TokenStatus:
    """The token's state, read without the token key (the admin function may not decrypt)."""
    bind()
    try:
        item = ShopItem.get(
            shop_pk(shop),
            META,
            consistent_read=True,
            attributes_to_get=["access_token", "refresh_token", "token_expires_at", "needs_reauth"],
        )
    except DoesNotExist:
        return TokenStatus(present=False, expiring=False, needs_reauth=None)
    present = bool(item.access_token)
    expiring = present and bool(item.refresh_token) and item.token_expires_at is not None
    return TokenStatus(present, expiring, item.needs_reauth if present else None)


def load_token(shop: str) -> str | None:
    """The shop's access token in plain text, as stored (no refresh: `services.shopify_access`
    gives a usable one)."""
    stored = load(shop)
    return stored.access_token if stored else None


def claim_refresh(shop: str, *, version: int, now: datetime, lease: timedelta) -> bool:
    """Take the lease of the one refresh of this token version; False if another function
    holds it or has already replaced the token."""
    no_lease = ShopItem.refresh_lease_until.does_not_exist() | (ShopItem.refresh_lease_until < now)
    return _update(
        shop,
        [ShopItem.refresh_lease_until.set(now + lease)],
        (_version_is(version)) & no_lease,
    )


def release_refresh(shop: str, *, version: int) -> bool:
    """Give the lease back after a refresh that got no answer (the refresh token is unspent
    or still honoured), so the next try need not wait for the lease to run out."""
    return _update(shop, [ShopItem.refresh_lease_until.remove()], _version_is(version))


def mark_needs_reauth(shop: str, reason: str, *, version: int) -> bool:
    """Shopify refused the refresh for good: stop using the token until the merchant opens
    the app again (which exchanges a new one)."""
    return _update(
        shop,
        [ShopItem.needs_reauth.set(reason[:300]), ShopItem.refresh_lease_until.remove()],
        _version_is(version),
    )


def _version_is(version: int) -> Any:
    if version == 0:
        return ShopItem.token_version.does_not_exist() | (ShopItem.token_version == 0)
    return ShopItem.token_version == version


def _update(shop: str, actions: list[Any], condition: Any) -> bool:
    bind()
    exists = ShopItem.pk.exists()
    try:
        ShopItem(shop_pk(shop), META).update(
            actions=actions, condition=exists & condition if condition is not None else None
        )
    except UpdateError as error:
        if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def delete_token(shop: str) -> None:
    """Forget the token, its refresh token and scopes (idempotent; the shop's other
    attributes stay)."""
    bind()
    try:
        # Conditioned on the item existing, so deleting never creates a shop.
        ShopItem(shop_pk(shop), META).update(
            actions=[
                ShopItem.access_token.remove(),
                ShopItem.refresh_token.remove(),
                ShopItem.token_expires_at.remove(),
                ShopItem.refresh_expires_at.remove(),
                ShopItem.refresh_lease_until.remove(),
                ShopItem.needs_reauth.remove(),
                ShopItem.scopes.remove(),
                ShopItem.token_version.set((ShopItem.token_version | 0) + 1),
            ],
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
