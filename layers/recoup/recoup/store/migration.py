"""The one-off move of a table written before cases had partitions of their own.

Before, a shop's cases, audit entries and cross references lived in the shop's partition
(`SHOP#<domain>`, sort keys `CASE#<id>`, `AUDIT#<id>#<seq>`, `XREF#<stripe id>`). Now each
case and its trail is `CASE#<domain>#<id>`, each cross reference `XREF#<domain>#<stripe id>`,
all listed through the shop index (store.models). `migrate` reads the table once (a
paginated Scan: the only one in Recoup, run by an operator, never by a function), writes
each old item under its new key unless an item is already there, then deletes the old one;
velocity marks become counters (store.velocity.migrate_marks). Every step is idempotent,
so an interrupted run is finished by running it again, and a second run finds nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pynamodb.expressions.update import Update

from recoup import aws, clock
from recoup.domain import erasure, rollup
from recoup.domain.case import Case
from recoup.domain.dunning import Dunning
from recoup.domain.fraud.screening import Screening
from recoup.domain.referral import Referrals
from recoup.settings import get_settings
from recoup.store import contacts, customer_links, rollups
from recoup.store.models import (
    CASE_SK,
    TRACKED,
    UNTRACKED,
    XREF,
    XREF_SK,
    audit_sk,
    case_pk,
    shop_part,
    xref_pk,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

Item = dict[str, "AttributeValueTypeDef"]
OLD_KINDS = ("CASE#", "AUDIT#", "XREF#", "MSG#")


@dataclass
class Report:
    moved: dict[str, int] = field(default_factory=lambda: {k: 0 for k in OLD_KINDS})
    already: int = 0  # the new key held an item already (an earlier run, or new writes)
    shops: set[str] = field(default_factory=set)

    def summary(self) -> str:
        kinds = ", ".join(f"{n} {k.rstrip('#').lower()}" for k, n in self.moved.items())
        return (
            f"moved {kinds} item(s); {self.already} already in the new shape; "
            f"{len(self.shops)} shop(s)"
        )


def new_shape(item: Item) -> Item | None:
    """The item under its new key, or None if it is not a case, audit entry or cross
    reference in a shop's partition."""
    pk, sk = str(item["pk"]["S"]), str(item["sk"]["S"])
    if not pk.startswith("SHOP#") or not sk.startswith(OLD_KINDS):
        return None
    shop = pk.removeprefix("SHOP#")
    moved = dict(item)
    if sk.startswith("CASE#"):
        case_id = sk.removeprefix("CASE#")
        tracked = bool(item.get("opened", {}).get("BOOL"))
        moved["pk"] = {"S": case_pk(shop, case_id)}
        moved["sk"] = {"S": CASE_SK}
        moved["shop_part"] = {"S": shop_part(shop, case_id)}
        moved["shop_sort"] = {"S": (TRACKED if tracked else UNTRACKED) + case_id}
        # Counted in the current rollups with the move (`_case_entries`).
        moved["rollup_version"] = {"N": str(rollup.VERSION)}
    elif sk.startswith("AUDIT#"):
        case_id, seq = sk.removeprefix("AUDIT#").rsplit("#", 1)
        moved["pk"] = {"S": case_pk(shop, case_id)}
        moved["sk"] = {"S": audit_sk(int(seq))}
    else:
        stripe_id = sk.removeprefix("XREF#")
        moved["pk"] = {"S": xref_pk(shop, stripe_id)}
        moved["sk"] = {"S": XREF_SK}
        moved["shop_part"] = {"S": shop_part(shop, stripe_id)}
        moved["shop_sort"] = {"S": XREF + stripe_id}
    return moved


def migrate(
    *,
    velocity: Callable[[str], Any] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Report:
    """Move every old-shape item of the table; `velocity(shop)` converts each shop's old
    velocity marks (store.velocity.migrate_marks by default)."""
    if velocity is None:
        from recoup.store.velocity import migrate_marks

        velocity = migrate_marks
    client = aws.client("dynamodb")
    table = get_settings().table_name
    report = Report()
    for item in _old_items(table):
        shop = str(item["pk"]["S"]).removeprefix("SHOP#")
        report.shops.add(shop)
        if str(item["sk"]["S"]).startswith("MSG#"):
            _log_message(item, shop, table)
            report.moved["MSG#"] += 1
            client.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
            continue
        moved = new_shape(item)
        if moved is None:
            continue
        put: dict[str, Any] = {
            "Put": {
                "TableName": table,
                "Item": moved,
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        try:
            # A case's share of the figures and its customer links are written with it,
            # once: with the put that moves it, which no second run repeats.
            entries: list[Any] = [put, *_case_entries(shop, moved)]
            client.transact_write_items(TransactItems=entries)
            report.moved[next(k for k in OLD_KINDS if item["sk"]["S"].startswith(k))] += 1
        except client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons", [])
            if not reasons or reasons[0].get("Code") != "ConditionalCheckFailed":
                raise
            report.already += 1
        client.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    for shop in sorted(report.shops):
        velocity(shop)
        progress(f"{shop}: velocity marks converted")
    progress(report.summary())
    return report


def _log_message(item: Item, shop: str, table: str) -> None:
    """Add one message of the shop partition's old log (`MSG#<hash>#<time>`) to the
    customer's log under the same hash: adding to a set twice adds once, so a second run
    changes nothing; the log's expiry only ever moves later."""
    digest, at = str(item["sk"]["S"]).removeprefix("MSG#").split("#", 1)
    sent = datetime.fromisoformat(at)
    expires = sent + contacts.MESSAGE_RETENTION
    if expires <= clock.now():
        return  # outside the cap's window: TTL would have removed it
    case_id, channel = str(item["case_id"]["S"]), str(item["channel"]["S"])
    client = aws.client("dynamodb")
    update = _raw_update(table, *contacts.log_update(shop, digest, sent, case_id, channel))
    update["ConditionExpression"] = "attribute_not_exists(expires_at) OR expires_at < :expiry"
    update["ExpressionAttributeValues"][":expiry"] = {"N": str(int(expires.timestamp()))}
    try:
        client.update_item(**update)
    except client.exceptions.ConditionalCheckFailedException:
        # The log expires later already: add the entry, leave its expiry.
        kept = contacts.log_update(shop, digest, sent, case_id, channel, expiry=False)
        client.update_item(**_raw_update(table, *kept))


def _raw_update(table: str, item: Any, actions: list[Any]) -> dict[str, Any]:
    """A PynamoDB update as the plain client's UpdateItem arguments."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    expression = Update(*actions).serialize(names, values)
    return {
        "TableName": table,
        "Key": {"pk": {"S": item.pk}, "sk": {"S": item.sk}},
        "UpdateExpression": expression,
        "ExpressionAttributeNames": {v: k for k, v in names.items()},
        "ExpressionAttributeValues": values,
    }


def _case_entries(shop: str, moved: Item) -> list[dict[str, Any]]:
    if moved["sk"].get("S") != CASE_SK:
        return []
    case = Case.from_dict(json.loads(str(moved["doc"]["S"])))
    raw_dunning = moved.get("dunning", {}).get("S")
    dunning = Dunning.from_dict(json.loads(str(raw_dunning))) if raw_dunning else None
    raw_screening = moved.get("screening", {}).get("S")
    screening = Screening.from_dict(json.loads(str(raw_screening))) if raw_screening else None
    raw_referrals = moved.get("referral", {}).get("S")
    referrals = Referrals.from_dict(json.loads(str(raw_referrals))) if raw_referrals else None
    change = rollup.delta(None, rollup.contribution(case, dunning, screening, referrals))
    links = [
        customer_links.link(shop, who, case.case_id)
        for who in sorted(erasure.case_identities(case))
    ]
    table = get_settings().table_name
    puts = [
        {
            "Put": {
                "TableName": table,
                "Item": {
                    name: {"S": str(value)}
                    for name, value in (
                        ("pk", link.pk),
                        ("sk", link.sk),
                        ("shop_part", link.shop_part),
                        ("shop_sort", link.shop_sort),
                    )
                },
            }
        }
        for link in links
    ]
    return rollups.raw_updates(shop, case.case_id, change) + puts


def _old_items(table: str) -> Iterator[Item]:
    """Every item of a shop's partition that is in the old shape, and each shop's META (so
    every shop is seen, for its velocity marks): one paginated Scan."""
    pages = (
        aws.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=table,
            FilterExpression="begins_with(pk, :shop) AND (sk = :meta OR "
            + " OR ".join(f"begins_with(sk, :k{i})" for i in range(len(OLD_KINDS)))
            + ")",
            ExpressionAttributeValues={
                ":shop": {"S": "SHOP#"},
                ":meta": {"S": "META"},
                **{f":k{i}": {"S": kind} for i, kind in enumerate(OLD_KINDS)},
            },
        )
    )
    for page in pages:
        yield from page.get("Items", [])
