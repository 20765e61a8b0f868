"""The one-off migration of a table written before cases had partitions of their own
(store/migration.py), on a table written in the old shape."""

from __future__ import annotations

from typing import Any

import boto3

from recoup.domain.audit import verify_chain
from recoup.domain.case import CaseStatus
from recoup.domain.erasure import Subject
from recoup.services import cases, figures
from recoup.store import cases as case_store
from recoup.store import customer_data
from recoup.store.migration import migrate
from tests.conftest import SHOP, event_bytes, event_json, shopify_headers, stripe_headers

PENDING_ID = str(event_json("shopify/order_pending.json")["id"])
PAID_ID = str(event_json("shopify/order_paid_normal.json")["id"])
PAYMENT_INTENT = event_json("stripe/payment_intent.payment_failed.json")["data"]["object"]["id"]


def shopify(local: Any, name: str, topic: str, webhook_id: str) -> None:
    body = event_bytes(f"shopify/{name}.json")
    headers = shopify_headers(body, local.shopify_secret, topic, webhook_id=webhook_id)
    assert (
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"] == 200
    )


def stripe(local: Any, name: str) -> None:
    body = event_bytes(f"stripe/{name}.json")
    headers = stripe_headers(body, local.stripe_secret)
    assert local.lambdas.invoke_http("POST", "/webhooks/stripe", headers, body)["statusCode"] == 200


def table(local: Any) -> tuple[Any, str]:
    return boto3.client("dynamodb", region_name=local.stack.region), local.stack.refs["Table"]


def items(local: Any) -> list[dict[str, Any]]:
    ddb, name = table(local)
    return [i for page in ddb.get_paginator("scan").paginate(TableName=name) for i in page["Items"]]


def to_old_shape(local: Any) -> int:
    """Rewrite every case, audit entry and cross reference under the keys of the shop's
    partition, as the table held them before: what an upgraded stack starts from."""
    ddb, name = table(local)
    moved = 0
    for item in items(local):
        pk, sk = item["pk"]["S"], item["sk"]["S"]
        kind, _, rest = pk.partition("#")
        if kind in ("ROLLUP", "WHO"):  # figures and privacy requests read every case then
            ddb.delete_item(TableName=name, Key={"pk": item["pk"], "sk": item["sk"]})
            continue
        if kind not in ("CASE", "XREF"):
            continue
        if sk.startswith("LIST#"):  # the case list's keys came later
            ddb.delete_item(TableName=name, Key={"pk": item["pk"], "sk": item["sk"]})
            continue
        shop, own_id = rest.split("#", 1)
        old = {k: v for k, v in item.items() if k not in ("shop_part", "shop_sort", "listed")}
        old["pk"] = {"S": f"SHOP#{shop}"}
        if kind == "XREF":
            old["sk"] = {"S": f"XREF#{own_id}"}
        elif sk == "CASE":
            old["sk"] = {"S": f"CASE#{own_id}"}
        else:
            old["sk"] = {"S": f"AUDIT#{own_id}#{sk.removeprefix('AUDIT#')}"}
        ddb.put_item(TableName=name, Item=old)
        ddb.delete_item(TableName=name, Key={"pk": item["pk"], "sk": item["sk"]})
        moved += 1
    return moved


def test_a_table_in_the_old_shape_is_moved_whole_and_keeps_working(local: Any) -> None:
    # Given an unpaid order with a failed Stripe payment linked to it, and an order paid at
    # checkout, processed, then the table rewritten as the previous key design held it
    shopify(local, "order_pending", "orders/create", "wh-pending")
    stripe(local, "payment_intent.payment_failed")
    shopify(local, "order_paid_normal", "orders/create", "wh-paid")
    local.lambdas.drain()
    before = case_store.load(SHOP, PENDING_ID)
    trail_before = cases.timeline(SHOP, PENDING_ID)
    untracked_before = case_store.load(SHOP, PAID_ID)
    assert before is not None and untracked_before is not None
    assert case_store.resolve_xref(SHOP, [PAYMENT_INTENT]) == PENDING_ID
    figures_before = figures.for_shop(SHOP)
    moved = to_old_shape(local)
    assert moved >= 5  # two cases, their entries, a cross reference
    assert case_store.load(SHOP, PENDING_ID) is None
    assert cases.list_cases(SHOP) == []
    # When the migration runs
    shops_seen: list[str] = []
    report = migrate(velocity=shops_seen.append)
    # Then every item is back under its new key, the same as before
    assert report.moved["CASE#"] == 2
    assert report.moved["AUDIT#"] == len(trail_before) + len(cases.timeline(SHOP, PAID_ID))
    assert report.moved["XREF#"] >= 1
    assert sum(report.moved.values()) == moved
    assert shops_seen == [SHOP]
    after = case_store.load(SHOP, PENDING_ID)
    assert after == before
    assert case_store.load(SHOP, PAID_ID) == untracked_before
    trail = cases.timeline(SHOP, PENDING_ID)
    assert trail == trail_before
    assert verify_chain(trail, expected_head=before.audit_head).ok
    assert [c.case_id for c in cases.list_cases(SHOP)] == [PENDING_ID]
    all_ids = [c.case_id for c in cases.list_cases(SHOP, include_untracked=True)]
    assert sorted(all_ids) == sorted([PENDING_ID, PAID_ID])
    assert case_store.resolve_xref(SHOP, [PAYMENT_INTENT]) == PENDING_ID
    # and the figures, rebuilt from the moved cases, are those of the cases
    tracked = list(case_store.tracked_cases(SHOP))
    assert figures.for_shop(SHOP) == figures.compute(tracked) == figures_before
    assert figures_before.cases == 1 and figures_before.outstanding
    # and a privacy request about the customer finds their case through its new links
    email = event_json("shopify/order_pending.json")["email"]
    about = customer_data.cases_about(SHOP, Subject(None, email, None))
    assert [held.case.case_id for held in about] == [PENDING_ID]
    # and nothing is left in the old shape
    old = [
        i
        for i in items(local)
        if i["pk"]["S"].startswith("SHOP#")
        and i["sk"]["S"].startswith(("CASE#", "AUDIT#", "XREF#"))
    ]
    assert old == []
    # When it runs again / Then it finds nothing to move
    again = migrate(velocity=lambda _shop: None)
    assert sum(again.moved.values()) == 0 and again.already == 0
    # When the order is paid after the upgrade / Then the migrated case closes on its trail
    shopify(local, "order_paid", "orders/paid", "wh-paid-later")
    local.lambdas.drain()
    closed = case_store.load(SHOP, PENDING_ID)
    assert closed is not None and closed.case.status is CaseStatus.PAID
    final = cases.timeline(SHOP, PENDING_ID)
    assert final[: len(trail)] == trail and len(final) == len(trail) + 1
    assert verify_chain(final, expected_head=closed.audit_head).ok
    # and the figures follow: nothing outstanding, the amount paid before any reminder
    paid = figures.for_shop(SHOP)
    assert paid.outstanding == figures.Total()
    assert paid.self_cured.minor == figures_before.outstanding.minor > 0
    assert paid == figures.compute([closed])


def test_an_interrupted_migration_is_finished_by_running_it_again(local: Any) -> None:
    # Given a table in the old shape, and a first run that stopped after writing one new
    # item but before deleting its old one (the new key already holds it)
    shopify(local, "order_pending", "orders/create", "wh-pending")
    local.lambdas.drain()
    before = case_store.load(SHOP, PENDING_ID)
    to_old_shape(local)
    ddb, name = table(local)
    from recoup.store.migration import new_shape

    (old_case,) = [i for i in items(local) if i["sk"]["S"] == f"CASE#{PENDING_ID}"]
    moved = new_shape(old_case)
    assert moved is not None
    ddb.put_item(TableName=name, Item=moved)
    # When it runs again
    report = migrate(velocity=lambda _shop: None)
    # Then the item already moved is counted as such, the rest is moved, the case is whole
    assert report.already == 1 and report.moved["CASE#"] == 0
    assert case_store.load(SHOP, PENDING_ID) == before
    assert [c.case_id for c in cases.list_cases(SHOP)] == [PENDING_ID]


def test_the_shop_partitions_message_log_moves_to_the_customers_log(local: Any) -> None:
    # Given the earlier layout's log in the shop's partition: two messages to one customer
    # this week (one under the hash from before it was keyed), one to another ten days ago
    from datetime import timedelta

    from recoup import clock
    from recoup.store import contacts, identity

    ddb, name = table(local)
    now = clock.now()
    keyed, bare = contacts.contact_hash("cust-1"), identity.unkeyed("cust-1")[:40]
    old = [
        (keyed, now - timedelta(days=1), "1001", "email"),
        (bare, now - timedelta(days=3), "1002", "sms"),
        (contacts.contact_hash("cust-2"), now - timedelta(days=10), "1003", "email"),
    ]
    for digest, at, case_id, channel in old:
        ddb.put_item(
            TableName=name,
            Item={
                "pk": {"S": f"SHOP#{SHOP}"},
                "sk": {"S": f"MSG#{digest}#{at.isoformat()}"},
                "case_id": {"S": case_id},
                "channel": {"S": channel},
                "expires_at": {"N": str(int((at + contacts.MESSAGE_RETENTION).timestamp()))},
            },
        )
    # When the migration runs, twice
    report = migrate(velocity=lambda _shop: None)
    migrate(velocity=lambda _shop: None)
    # Then the shop's partition keeps none of them
    assert report.moved["MSG#"] == 3
    assert not [i for i in items(local) if i["sk"]["S"].startswith("MSG#")]
    # and the weekly cap counts this week's two, once each, under both hashes
    logged = contacts.message_logs(SHOP, "cust-1")
    assert [(m.case_id, m.channel) for m in logged] == [("1002", "sms"), ("1001", "email")]
    assert contacts.recent_messages(SHOP, "cust-1", now=now) == [m.at for m in logged]
    # and the one the cap no longer looks at was dropped, not moved
    assert contacts.message_logs(SHOP, "cust-2") == []
