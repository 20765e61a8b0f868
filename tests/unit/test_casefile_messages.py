"""The words of each sent reminder, re-rendered for the case file (recoup.casefile.messages)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from recoup.casefile.messages import (
    PAGE_PLACEHOLDER,
    PAY_PLACEHOLDER,
    UNSUBSCRIBE_PLACEHOLDER,
    Branding,
    texts,
)
from recoup.domain import cadence
from recoup.domain.dunning import SentMessage
from recoup.domain.referral.policy import default_referral_policy
from tests.unit.test_casefile import T0, _case

BRANDING = Branding(shop_domain="demo.example", shop_name="Demo")


def _sent(step: int, channel: str, template: str, at: datetime = T0) -> SentMessage:
    return SentMessage(step, channel, at, "provider-id", template, 189_900, "USD")


def test_each_channel_gets_its_words_and_an_unknown_send_none() -> None:
    # Given an email with the shop's subject in the customer's language (German; its English
    # one is not for them), a send whose outcome was lost, and an SMS
    subjects = {"subject": "In English", "languages": {"de": {"subject": "About {{ order_name }}"}}}
    branding = dataclasses.replace(BRANDING, templates={"friendly": subjects})
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
    # (in the customer's language, de-DE, as a numbered reminder: the third step)
    assert found[2].body.startswith(
        "Demo: Für Bestellung #1042 sind noch 1.899,00 USD offen (Erinnerung 3)."
    )
    assert found[2].body.endswith("STOP zum Abmelden")
    assert "re-rendered on 2026-11-02 from template 'firm_sms'" in found[2].source
    # And the note says the language and situation were derived, not recorded
    assert "the language (de) and the payment situation (partially_paid)" in found[2].source
    assert "derived from the order as it is now" in found[2].source


def test_a_message_is_re_rendered_in_the_language_and_wording_it_was_sent_in() -> None:
    # Given an SMS recorded as sent in French for a broken promise, to a German customer
    sent = dataclasses.replace(_sent(2, "sms", "firm_sms"), locale="fr", situation="promise_broken")
    found = texts(
        _case(), [sent], cadence.default_policy(), default_referral_policy(), BRANDING, T0
    )
    # Then its case file shows the French words of a broken promise, and says they were recorded
    derived = texts(
        _case(),
        [_sent(2, "sms", "firm_sms")],
        cadence.default_policy(),
        default_referral_policy(),
        BRANDING,
        T0,
    )
    assert found[2].body != derived[2].body
    assert found[2].body.startswith(
        "Demo: nous attendons toujours les 1 899,00 USD promis pour la commande #1042. "
    )
    assert found[2].body.endswith(" STOP pour se désabonner")
    assert "Für Bestellung" not in found[2].body
    assert "the language (fr) and the payment situation (promise_broken) are those recorded" in (
        found[2].source
    )
    # And the page link it carried is a placeholder like the others
    assert PAGE_PLACEHOLDER in found[2].body


def test_a_re_rendered_email_greets_the_customer_by_the_name_her_language_uses() -> None:
    # Given an email recorded as sent in Japanese, to a customer whose family name is known
    case = _case()
    assert case.snapshot is not None and case.snapshot.customer is not None
    customer = dataclasses.replace(case.snapshot.customer, first_name="Hanako", last_name="佐藤")
    case = dataclasses.replace(case, snapshot=dataclasses.replace(case.snapshot, customer=customer))
    sent = dataclasses.replace(_sent(0, "email", "friendly"), locale="ja", situation="expired_card")
    found = texts(case, [sent], cadence.default_policy(), default_referral_policy(), BRANDING, T0)
    # Then the case file shows the greeting she was sent: her family name and 様
    assert "\n佐藤様\n" in found[0].body


def test_a_sent_message_keeps_its_language_and_situation_through_storage() -> None:
    sent = dataclasses.replace(_sent(0, "email", "friendly"), locale="ja", situation="expired_card")
    assert SentMessage.from_dict(sent.to_dict()) == sent
    older = {k: v for k, v in sent.to_dict().items() if k not in ("locale", "situation")}
    assert (SentMessage.from_dict(older).locale, SentMessage.from_dict(older).situation) == ("", "")


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
    # Then the date it announces is fourteen days on from that day, in her language
    assert "Bitte bezahlen Sie ihn bis zum 5. Dezember 2026." in found[3].body
