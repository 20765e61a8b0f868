"""Shops' offline Admin API tokens: encrypted with the stack's KMS key before they reach the
table, bound to their shop by the encryption context, so a token copied onto another shop's
item does not decrypt. The plaintext exists only in memory, never in a log or an error."""

from __future__ import annotations

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
        KeyId=get_settings().require("kms_key_arn"),
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
        KeyId=get_settings().require("kms_key_arn"),
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
