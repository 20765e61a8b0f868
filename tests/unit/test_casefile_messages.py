"""The words of each sent reminder, re-rendered for the case file (recoup.casefile.messages)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from recoup.casefile.messages import PAY_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER, Branding, texts
from recoup.domain import cadence
from recoup.domain.dunning import SentMessage
from recoup.domain.referral.policy import default_referral_policy
from tests.unit.test_casefile import T0, _case

BRANDING = Branding(shop_domain="demo.example", shop_name="Demo")


def _sent(step: int, channel: str, template: str, at: datetime = T0) -> SentMessage:
    return SentMessage(step, channel, at, "provider-id", template, 189_900, "USD")


def test_each_channel_gets_its_words_and_an_unknown_send_none() -> None:
    # Given an email with the shop's subject, a send whose outcome was lost, and an SMS
    branding = dataclasses.replace(
        BRANDING, templates={"friendly": {"subject": "About {{ order_name }}"}}
    )
    sent = [
        _sent(0, "email", "friendly"),
        _sent(1, "unknown", "firm"),
        _sent(2, "sms", "firm_sms"),
    ]
    found = texts(_case(), sent, cadence.default_policy(), default_referral_policy(), branding, T0)
    # Then the email has the shop's subject and the placeholders, the SMS a body alone
    assert set(found) == {0, 2}
    assert found[0].subject == "About #1042"
    assert PAY_PLACEHOLDER in found[0].body
    assert UNSUBSCRIBE_PLACEHOLDER in found[0].body
    assert found[2].subject is None
    assert found[2].body.startswith("Demo: order #1042 is unpaid")
    assert "re-rendered on 2026-11-02 from template 'firm_sms'" in found[2].source


def test_without_an_order_snapshot_the_case_id_and_english_stand_in() -> None:
    case = dataclasses.replace(_case(), snapshot=None)
    found = texts(
        case,
        [_sent(0, "email", "friendly")],
        cadence.default_policy(),
        default_referral_policy(),
        BRANDING,
        T0,
    )
    assert f"your order {case.case_id} with Demo" in found[0].body
    assert "\nHello,\n" in found[0].body


def test_the_final_notice_dates_the_referral_in_the_customers_zone() -> None:
    # Given a final notice sent at 23:30 UTC, already the next day for a customer in Germany
    at = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    found = texts(
        _case(),
        [_sent(3, "email", "final_notice", at)],
        cadence.default_policy(),
        default_referral_policy(),
        BRANDING,
        T0,
    )
    # Then the date it announces is fourteen days on from that day, in her locale
    assert "Please pay it by 5. Dezember 2026." in found[3].body
