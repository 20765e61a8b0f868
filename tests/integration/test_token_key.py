"""Shops' Shopify tokens are encrypted under a key of their own, which only the Shopify tasks
worker may decrypt with (tests/unit/test_template.py checks the policies), not under the data
key every table reader holds; tokens stored under the data key before are moved by a one-off
re-encryption."""

from __future__ import annotations

from typing import Any

import boto3

from recoup.store import tokens
from recoup.store.models import ShopItem, shop_pk
from recoup.store.shops import META
from recoup_local.cli import main as recoup_cli
from tests.conftest import SHOP
from tests.faults import FaultPlan

OTHER = "other-electronics.myshopify.com"


def key_of(blob: bytes, shop: str) -> str:
    kms = boto3.client("kms", region_name="us-east-1")
    return str(kms.decrypt(CiphertextBlob=blob, EncryptionContext={"shop": shop})["KeyId"])


def stored_blob(shop: str) -> bytes:
    return bytes(ShopItem.get(shop_pk(shop), META).access_token)


def test_a_token_is_encrypted_under_the_token_key_bound_to_its_shop(local: Any) -> None:
    # Given a shop that installs
    # When its token is saved
    tokens.save_token(SHOP, "shpat_demo", scopes="read_orders")
    # Then it is under the token key, not the data key the table is encrypted with
    assert key_of(stored_blob(SHOP), SHOP) == local.stack.attrs[("TokenKey", "Arn")]
    assert local.stack.attrs[("TokenKey", "Arn")] != local.stack.attrs[("DataKey", "Arn")]
    assert tokens.load_token(SHOP) == "shpat_demo"


def test_tokens_under_the_data_key_are_moved_once_and_still_decrypt(
    local: Any, capsys: Any
) -> None:
    # Given a token an earlier version encrypted under the data key, and one under the new key
    data_key = local.stack.attrs[("DataKey", "Arn")]
    token_key = local.stack.attrs[("TokenKey", "Arn")]
    kms = boto3.client("kms", region_name="us-east-1")
    legacy = kms.encrypt(
        KeyId=data_key, Plaintext=b"shpat_legacy", EncryptionContext={"shop": SHOP}
    )["CiphertextBlob"]
    ShopItem(shop_pk(SHOP), META).update(actions=[ShopItem.access_token.set(legacy)])
    tokens.save_token(OTHER, "shpat_new", scopes="read_orders")
    assert key_of(stored_blob(SHOP), SHOP) == data_key
    # When the operator runs the one-off move (README, "Deploy")
    argv = ["move-tokens", "--table", local.stack.refs["Table"], "--region", "us-east-1"]
    assert recoup_cli([*argv, "--token-key", "alias/recoup-dev-tokens"]) == 0
    # Then the old token is under the token key, still bound to its shop, and still the same
    assert "moved to alias/recoup-dev-tokens: 1; already there: 1" in capsys.readouterr().out
    assert key_of(stored_blob(SHOP), SHOP) == token_key
    assert tokens.load_token(SHOP) == "shpat_legacy"
    assert tokens.load_token(OTHER) == "shpat_new"
    # When it is run again / Then it moves nothing
    report = tokens.move_to_token_key(
        local.stack.refs["Table"], "alias/recoup-dev-tokens", region="us-east-1"
    )
    assert report == tokens.MoveReport(moved=0, already=2, changed=0)


def test_a_move_whose_answer_times_out_after_the_write_still_counts_it_moved(local: Any) -> None:
    # Given a token under the data key
    kms = boto3.client("kms", region_name="us-east-1")
    legacy = kms.encrypt(
        KeyId=local.stack.attrs[("DataKey", "Arn")],
        Plaintext=b"shpat_legacy",
        EncryptionContext={"shop": SHOP},
    )["CiphertextBlob"]
    ShopItem(shop_pk(SHOP), META).update(actions=[ShopItem.access_token.set(legacy)])
    # When the move's write lands but its answer times out (the SDK retries it, and the retry
    # finds the condition no longer true)
    with FaultPlan() as plan:
        plan.fail("dynamodb", "UpdateItem", "timeout_after")
        report = tokens.move_to_token_key(
            local.stack.refs["Table"], "alias/recoup-dev-tokens", region="us-east-1"
        )
    # Then the token is moved, still decrypts, and is reported moved (not "changed")
    assert plan.injected == [("dynamodb", "UpdateItem", "timeout_after")]
    assert report == tokens.MoveReport(moved=1, already=0, changed=0)
    assert key_of(stored_blob(SHOP), SHOP) == local.stack.attrs[("TokenKey", "Arn")]
    assert tokens.load_token(SHOP) == "shpat_legacy"
