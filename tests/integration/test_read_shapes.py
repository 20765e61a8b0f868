"""The worker's and the sender's reads batched as the design says (docs/data-model.md): the
shop's item in the case's BatchGetItem when the container holds no copy of it, the contact
records with the customer's message log in one, and a message log that keeps eight days."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3

from recoup.services import cases, sending
from recoup.store import contacts, shops
from tests.conftest import SHOP
from tests.faults import FaultPlan
from tests.integration.test_event_worker import _last_event_body
from tests.integration.test_sender_faults import OPENED, PENDING, PENDING_ID, STEP_1_DUE, at
from tests.integration.test_sender_faults import post_order as post_pending

__all__ = ["at"]  # the sender's settable clock, as a fixture here


def dynamodb_calls(plan: FaultPlan) -> list[str]:
    return [operation for service, operation in plan.calls if service == "dynamodb"]


def test_an_event_reads_the_shop_with_its_case_when_the_container_has_no_copy(
    local: Any,
) -> None:
    # Given a container that has not read the shop yet
    body = _last_event_body(local, "order_pending", "orders/create", "wh-create")
    shops.forget()
    with FaultPlan() as plan:
        # When the worker applies an order that opens a case
        applied = cases.apply_message(body)
    # Then the case, the policies and the shop came in one BatchGetItem, no GetItem
    assert applied is not None and not applied.duplicate
    calls = dynamodb_calls(plan)
    assert calls.count("BatchGetItem") == 1 and "GetItem" not in calls
    assert calls[-1] == "TransactWriteItems"
    # and the shop is cached: the next event reads the case and the policies alone
    update = _last_event_body(local, "order_pending_updated", "orders/updated", "wh-update")
    with FaultPlan() as plan:
        cases.apply_message(update)
    assert "GetItem" not in dynamodb_calls(plan)
    assert shops.is_cached(SHOP)


def test_a_send_reads_twice_before_its_claim(local: Any, at: Any) -> None:
    # Given a case whose first step is due, and a sender container that has no copy of the
    # shop
    post_pending(local)
    shops.forget()
    at.now = STEP_1_DUE
    with FaultPlan() as plan:
        # When the step is sent
        result = sending.send_step(SHOP, PENDING_ID, 0, now=STEP_1_DUE)
    # Then it read the case with its policy, the shop and the case's page link, then the
    # contact records with the message log, issued the page link (the case's first message
    # has none yet), claimed, sent, and recorded: no Query, no GetItem
    assert result.outcome == "sent"
    upto = plan.calls.index(("sesv2", "SendEmail"))
    assert [op for _, op in plan.calls[:upto]] == [
        "BatchGetItem",
        "BatchGetItem",
        "TransactWriteItems",
        "UpdateItem",
    ]
    calls = dynamodb_calls(plan)
    assert "Query" not in calls and "GetItem" not in calls
    # and the message is in the customer's log, read by the next send's cap
    customer = str(PENDING["customer"]["id"])
    logged = contacts.message_logs(SHOP, customer)
    assert [(m.case_id, m.channel) for m in logged] == [(PENDING_ID, "email")]


def test_the_message_log_keeps_the_days_the_cap_reads(local: Any) -> None:
    # Given messages to one customer on day 0, day 3 and day 12
    customer = "cust-7"
    for days in (0, 3, 12):
        item, actions = contacts.message_logged(
            SHOP, customer, OPENED + timedelta(days=days), f"case-{days}", "email"
        )
        item.update(actions=actions)
    # Then the log is one item, holding day 12 only: the days 8 or more before it were
    # removed by that write, so it never grows past the cap's window
    ddb = boto3.client("dynamodb", region_name=local.stack.region)
    pk, sk = contacts.message_log_keys(SHOP, customer)[0]  # under the keyed hash
    raw = ddb.get_item(TableName=local.stack.refs["Table"], Key={"pk": {"S": pk}, "sk": {"S": sk}})
    days = sorted(name for name in raw["Item"] if name.startswith("d"))
    assert days == [f"d{(OPENED + timedelta(days=12)).date().isoformat()}"]
    assert int(raw["Item"]["expires_at"]["N"]) == int(
        (OPENED + timedelta(days=12) + contacts.MESSAGE_RETENTION).timestamp()
    )
    # and the cap reads that one message, and none a week later
    day12 = OPENED + timedelta(days=12)
    assert contacts.recent_messages(SHOP, customer, now=day12) == [day12]
    assert contacts.recent_messages(SHOP, customer, now=day12 + timedelta(days=7, seconds=1)) == []
