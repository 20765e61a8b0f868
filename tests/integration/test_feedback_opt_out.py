"""Inbound SMS against moto: the carrier keywords as the whole message, and opt-outs in the
customer's own words, recorded by how they were said (never the words). A free-text opt-out
is confirmed by Recoup in the language it was said in, at most once per opt-out: not when
the number was already opted out (by an earlier free text, a keyword, or a record under the
old hash), nor when the write's answer was lost and its retry found the opt-out made."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from pynamodb.exceptions import UpdateError

from recoup.channels.sms_segments import measure
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
    # and they get the opt-out confirmation once, in English, saying it holds for every shop
    # on this number and naming START
    (reply,) = replies(local)
    assert reply == feedback.OPT_OUT_CONFIRMATIONS["en"]
    assert "any shop" in reply and "START" in reply
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


def test_a_second_free_text_opt_out_is_not_confirmed_again(local: Any) -> None:
    # Given a free-text opt-out, confirmed
    text(local, "Please stop texting me")
    assert len(replies(local)) == 1
    # When the customer writes again in their own words, or begins with STOP
    text(local, "I said remove me from your list")
    text(local, "STOP I paid")
    # Then the number stays opted out, recorded as first said, and no second confirmation
    assert contacts.reachability("any.myshopify.com", None, PHONE).sms_opted_out
    assert global_record()[contacts.SMS_OPT_OUT_KIND] == {"S": "free_text"}
    assert len(replies(local)) == 1


def test_a_free_text_after_a_keyword_opt_out_sends_nothing(local: Any) -> None:
    # Given a STOP (the sending number answered it)
    text(local, "STOP")
    # When the customer then writes in their own words
    text(local, "Bitte keine SMS mehr")
    # Then nothing is sent and the record still says it was a keyword
    assert replies(local) == []
    assert global_record()[contacts.SMS_OPT_OUT_KIND] == {"S": "keyword"}
    assert global_record()["reason"] == {"S": "SMS STOP"}


def test_a_free_text_after_a_stop_under_the_old_hash_sends_nothing(local: Any) -> None:
    # Given a STOP recorded before the hash was keyed
    legacy = f"CONTACT#{contacts.contact_hashes(PHONE)[1]}"
    contacts.update(contacts.GLOBAL, legacy, now=NOW, reason="SMS STOP", sms_opt_out=True)
    # When a free-text opt-out arrives / Then it is recorded, but not confirmed again
    result = feedback.inbound_sms(
        {"originationNumber": PHONE, "messageBody": "Stop texts"}, now=NOW
    )
    assert result.detail == "free text: already opted out of SMS, nothing sent"
    assert replies(local) == []


def test_an_opt_out_after_start_is_confirmed_again(local: Any) -> None:
    # Given an opt-out, then START
    text(local, "no more messages")
    text(local, "START")
    # When the customer opts out again in their own words / Then it is a new opt-out,
    # confirmed again
    text(local, "Unsubscribe, thanks")
    assert contacts.reachability("any.myshopify.com", None, PHONE).sms_opted_out
    assert len(replies(local)) == 2


@pytest.mark.parametrize(
    ("body", "language"),
    [
        ("Bitte keine SMS mehr", "de"),
        ("STOP bitte", "de"),
        ("Arr\u00eat svp", "fr"),
        ("\u00bfC\u00f3mo me doy de baja?", "es"),
        ("\u914d\u4fe1\u505c\u6b62\u3057\u3066\u304f\u3060\u3055\u3044", "ja"),
    ],
)
def test_the_confirmation_is_in_the_language_of_the_opt_out(
    local: Any, body: str, language: str
) -> None:
    text(local, body)
    (reply,) = replies(local)
    assert reply == feedback.OPT_OUT_CONFIRMATIONS[language]


def test_the_confirmations_are_short_and_gsm_7_where_the_language_allows() -> None:
    # One segment with a shop's name before it: 30 characters in GSM-7 (160 a segment), 15
    # in UCS-2 (70), which Japanese needs
    for language, confirmation in feedback.OPT_OUT_CONFIRMATIONS.items():
        ucs2 = language == "ja"
        size = measure(f"{'x' * (15 if ucs2 else 30)}: {confirmation}")
        assert size.segments == 1, language
        assert size.encoding == ("UCS-2" if ucs2 else "GSM-7"), language


def test_a_lost_answer_to_the_opt_out_write_never_confirms_twice(local: Any) -> None:
    # Given DynamoDB writing the opt-out, then losing its answer (the SDK retries the write)
    plan = FaultPlan().fail("dynamodb", "UpdateItem", "timeout_after")
    with plan:
        result = feedback.inbound_sms(
            {"originationNumber": PHONE, "messageBody": "please stop texting me"}, now=NOW
        )
    # Then the retry finds the opt-out made: opted out, and no confirmation (at most once)
    assert plan.injected == [("dynamodb", "UpdateItem", "timeout_after")]
    assert contacts.reachability("any.myshopify.com", None, PHONE).sms_opted_out
    assert result.detail == "free text: already opted out of SMS, nothing sent"
    # and SNS's redelivery of the same message sends nothing either
    text(local, "please stop texting me")
    assert replies(local) == []


def test_a_time_preference_or_a_request_for_texts_changes_nothing(local: Any) -> None:
    for body in ("Don't text me after 9pm", "Don't email me, text me instead"):
        text(local, body)
    assert global_record() == {}
    assert replies(local) == []
