"""Inbound SMS against moto: the carrier keywords as the whole message, and opt-outs in the
customer's own words, recorded by how they were said (never the words), confirmed once."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from pynamodb.exceptions import UpdateError

from recoup.services import feedback
from recoup.store import contacts
from recoup.store.batch import get_many
from recoup_local.outbox import sent_messages
from tests.faults import FaultPlan

PHONE = "+15035550142"
NOW = datetime(2026, 11, 5, 18, 0, tzinfo=UTC)


def text(local: Any, body: str) -> None:
    local.lambdas.publish(
        local.stack.refs["InboundSmsTopic"], {"originationNumber": PHONE, "messageBody": body}
    )


def global_record() -> dict[str, Any]:
    found = get_many([(contacts.GLOBAL, contacts.contact_sk(PHONE))])
    return next(iter(found.values()), {})


def replies(local: Any) -> list[str]:
    return [m.content.decode() for m in sent_messages(local.stack.region) if m.kind == "sms"]


def whole_table(local: Any) -> str:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    pages = ddb.get_paginator("scan").paginate(TableName=local.stack.refs["Table"])
    return json.dumps([item for page in pages for item in page["Items"]])


def test_a_free_text_opt_out_opts_out_confirms_and_keeps_no_words(local: Any) -> None:
    # When the customer answers in their own words
    text(local, "Please stop texting me, I'm on holiday")
    # Then the number is opted out for every shop, recorded as free text
    assert contacts.reachability("any.myshopify.com", None, PHONE).sms_opted_out
    record = global_record()
    assert record[contacts.SMS_OPT_OUT_KIND] == {"S": "free_text"}
    # and they get the opt-out confirmation once, naming START
    (reply,) = replies(local)
    assert "no more text messages" in reply and "START" in reply
    # and nothing they wrote is stored anywhere
    assert "holiday" not in whole_table(local).casefold()
    assert "texting" not in whole_table(local).casefold()


def test_a_keyword_opt_out_is_recorded_as_a_keyword_and_answered_by_the_number(
    local: Any,
) -> None:
    # When the customer sends " Stop. " / Then opted out, said as a keyword
    text(local, " Stop. ")
    assert contacts.reachability("any.myshopify.com", None, PHONE).sms_opted_out
    assert global_record()[contacts.SMS_OPT_OUT_KIND] == {"S": "keyword"}
    assert global_record()["reason"] == {"S": "SMS STOP"}
    # and the sending number's own keyword answer confirms it: Recoup sends nothing
    assert replies(local) == []


def test_a_question_holding_a_keyword_changes_nothing(local: Any) -> None:
    for question in ("can I stop by the store?", "when will my plan end?", "STOP sign"):
        text(local, question)
    assert global_record() == {}
    assert replies(local) == []


def test_start_after_a_free_text_opt_out_opts_back_in(local: Any) -> None:
    text(local, "no más mensajes")
    assert contacts.reachability("any.myshopify.com", None, PHONE).sms_opted_out
    text(local, "START")
    assert not contacts.reachability("any.myshopify.com", None, PHONE).sms_opted_out


def test_a_failed_confirmation_never_undoes_nor_repeats_the_opt_out(local: Any) -> None:
    # Given SNS failing the confirmation
    plan = FaultPlan().fail("sns", "Publish", "server_error", whole_call=True)
    with plan:
        result = feedback.inbound_sms(
            {"originationNumber": PHONE, "messageBody": "配信停止"}, now=NOW
        )
    # Then the opt-out stands, the function does not fail (no retry, no second reply)
    assert plan.injected == [("sns", "Publish", "server_error")]
    assert result.detail == "free text: opted out of SMS (confirmation not sent)"
    assert contacts.reachability("any.myshopify.com", None, PHONE).sms_opted_out
    assert replies(local) == []


def test_a_failed_opt_out_write_fails_the_message_before_any_reply(local: Any) -> None:
    # Given DynamoDB refusing the write / When a free-text opt-out arrives
    plan = FaultPlan().fail("dynamodb", "UpdateItem", "reject", whole_call=True)
    message = {"originationNumber": PHONE, "messageBody": "remove me from your list"}
    # Then it fails (Lambda retries it), and no confirmation went for an opt-out not kept
    with plan, pytest.raises(UpdateError):
        feedback.inbound_sms(message, now=NOW)
    assert replies(local) == []
    assert global_record() == {}
