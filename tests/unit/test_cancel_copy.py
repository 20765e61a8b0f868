"""The notice of an order's cancellation (`order_cancelled`): the customer's last message
before an unpaid manual-payment order is cancelled and its items restocked, by email and SMS
in every language, factual and without any way to pay the order; and the payment terms a
message states, given alike by the case file's re-rendering and the previews' sample order."""

from __future__ import annotations

import dataclasses
import datetime
import gettext
from typing import cast

import pytest

from recoup.casefile.messages import Branding, texts
from recoup.channels import i18n
from recoup.channels.render import (
    MAX_SMS_SEGMENTS,
    EmailOverride,
    MessageContext,
    Tone,
    render_email,
    render_sms,
    template_variables,
)
from recoup.channels.sms_segments import measure
from recoup.domain import cadence
from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import SentMessage
from recoup.domain.events import Customer, OrderSnapshot
from recoup.domain.money import Money
from recoup.domain.payment_situation import Situation
from recoup.domain.referral.policy import default_referral_policy
from recoup.errors import InvalidInput
from recoup.services import message_templates, sample_sends, step_samples
from recoup.store.models import ShopItem
from tests.unit.test_i18n import assert_no_english_left
from tests.unit.test_render import (
    PAGE_URL,
    PAY_URL,
    PRODUCTION_PAGE_URL,
    SMS_LANGUAGES,
    make_ctx,
)
from tests.unit.test_terms_copy import SAID

CANCELLED = "order_cancelled"
HELP_URL = "https://demo-electronics.example/help"
# The catalog strings of the notice (msgids: the English words).
SUBJECT = "%(shop)s: your order %(order)s is being cancelled"
HEADING = "Your order is being cancelled"
PARAGRAPH = (
    "We haven't received the payment of %(amount)s for order %(order)s, so the order is being "
    "cancelled and its items released. You don't need to do anything."
)
IF_PAID = "If you have already sent the payment, please get in touch so we can sort it out."
NEW_ORDER = "If you still want the items, you're welcome to place a new order."
SMS = "we haven't received %(amount)s for order %(order)s, so it is being cancelled."
SHORT_SMS = "order %(order)s is unpaid and is being cancelled."


def cancel_ctx(locale: str = "en-US", tone: Tone = "friendly", **changes: object) -> MessageContext:
    """The notice for order #1042, owing all of 1,899.00 (18,990 yen), its step carrying a
    pay link and the customer's page."""
    currency = SMS_LANGUAGES[locale]
    fields: dict[str, object] = {
        "situation": CANCELLED,
        "page_url": PAGE_URL,
        "step_number": 1,
        "shop_name": "Demo Shop",
        **changes,
    }
    owed = 189_900 if currency != "JPY" else 18_990
    return make_ctx(tone, locale=locale, currency=currency, owed_minor=owed, **fields)


def _words(locale: str) -> gettext.NullTranslations:
    return i18n.translations("messages", i18n.language_for(locale))


# --- the email --------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", SAID)
@pytest.mark.parametrize("tone", ["friendly", "firm"])
def test_the_email_says_the_amount_the_order_and_that_it_is_being_cancelled(
    tone: str, locale: str
) -> None:
    # Given the notice in the customer's language, from a friendly or a firm step
    amount = SAID[locale][0]
    words = _words(locale)
    email = render_email(cancel_ctx(locale, cast(Tone, tone)))
    # Then its subject and heading say the order is being cancelled
    assert email.subject == words.gettext(SUBJECT) % {"shop": "Demo Shop", "order": "#1042"}
    assert email.text.startswith(words.gettext(HEADING) + "\n"), email.text
    # And its text says why, with the amount and the order, that nothing needs doing, what
    # to do if the payment was sent, and that a new order is welcome
    paragraph = words.gettext(PARAGRAPH) % {"amount": amount, "order": "#1042"}
    for said in (paragraph, words.gettext(IF_PAID), words.gettext(NEW_ORDER)):
        assert said in email.text, (said, email.text)
    # And the HTML states the amount and the order too
    assert amount in email.html and "#1042" in email.html
    # And the shop's contact is offered, the customer's page to see the order
    contact = words.gettext("Questions? Write to us:")
    assert f"{contact} help@demo-electronics.example" in email.text
    assert f"{words.gettext('See your order:')} {PAGE_URL}" in email.text


@pytest.mark.parametrize("locale", SAID)
@pytest.mark.parametrize("tone", ["friendly", "firm"])
def test_the_email_offers_no_way_to_pay_the_order(tone: str, locale: str) -> None:
    # Given the notice, whose step carries a pay link
    ctx = cancel_ctx(locale, cast(Tone, tone))
    assert ctx.pay_url == PAY_URL
    words = _words(locale)
    email = render_email(ctx)
    # Then neither the text nor the HTML has the pay link, its button or its label
    for part in (email.text, email.html):
        assert PAY_URL not in part, part
    assert words.gettext("Pay securely:") not in email.text
    button = words.gettext("Pay %(amount)s") % {"amount": SAID[locale][0]}
    assert button not in email.html
    # And nor the invitations to pay of the other messages
    for invitation in (
        "You can complete the payment securely with the button below.",
        "Please pay the balance with the button below.",
        "See your order, pay, or choose another way:",
        "Amount due for order %(order)s",
    ):
        said = words.gettext(invitation) % {"order": "#1042"}
        assert said not in email.html, invitation
    # Whereas another situation's email from the same step has them
    other = render_email(dataclasses.replace(ctx, situation="awaiting_payment"))
    assert PAY_URL in other.html and button in other.html


@pytest.mark.parametrize("tone", ["friendly", "firm"])
def test_in_english_nothing_asks_for_the_money_or_threatens(tone: str) -> None:
    ctx = cancel_ctx(tone=cast(Tone, tone))
    email, sms = render_email(ctx), render_sms(ctx).body
    assert email.subject == "Demo Shop: your order #1042 is being cancelled"
    assert (
        "We haven't received the payment of $1,899.00 for order #1042, so the order is being "
        "cancelled and its items released. You don't need to do anything." in email.text
    )
    assert "Unpaid amount for order #1042: $1,899.00" in email.text
    for part in (email.subject, email.text, email.html, sms):
        lower = part.lower()
        for word in (
            "please pay",
            "pay securely",
            "pay $",
            "complete the payment",
            "pay the balance",
            "is due",
            "still due",
            "amount due",
            "final",
            "collection",
            "lawyer",
        ):
            assert word not in lower, (word, part)


# --- the SMS ----------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", SAID)
@pytest.mark.parametrize("tone", ["friendly", "firm"])
def test_the_sms_says_the_amount_the_order_and_the_cancellation_and_fits(
    tone: str, locale: str
) -> None:
    # Given the notice with the customer's page link (48 characters)
    plain = SAID[locale][1]
    words = _words(locale)
    body = render_sms(cancel_ctx(locale, cast(Tone, tone))).body
    # Then it is the shop, the catalog's sentence with the amount and order, the page link
    # and the opt-out, and nothing else
    said = words.gettext(SMS) % {"amount": plain, "order": "#1042"}
    stop = words.gettext("Reply STOP to opt out")
    assert body == f"Demo Shop: {said} {PAGE_URL} {stop}"
    assert PAY_URL not in body
    # And it is one GSM-7 segment, or two UCS-2 ones in Japanese
    size = measure(body)
    if locale == "ja-JP":
        assert (size.encoding, size.segments) == ("UCS-2", MAX_SMS_SEGMENTS), (size, body)
    else:
        assert (size.encoding, size.segments) == ("GSM-7", 1), (size, body)


def test_the_english_sms_word_for_word() -> None:
    # 11 ("Demo Shop: ") + 75 (the sentence) + 1 + 48 (the link) + 1 + 21 (the opt-out):
    # 157 GSM-7 characters, one segment of 160
    body = render_sms(cancel_ctx()).body
    assert body == (
        "Demo Shop: we haven't received 1,899.00 USD for order #1042, so it is being cancelled. "
        f"{PAGE_URL} Reply STOP to opt out"
    )
    assert len(body) == 157 and measure(body).segments == 1


def test_without_the_customers_page_the_sms_links_help_never_the_pay_link() -> None:
    body = render_sms(cancel_ctx(page_url=None)).body
    assert f"Help: {HELP_URL}" in body
    assert PAY_URL not in body and "Pay:" not in body
    # And with no help either it carries no link at all
    bare = render_sms(cancel_ctx(page_url=None, help_url=None)).body
    assert bare == (
        "Demo Shop: we haven't received 1,899.00 USD for order #1042, so it is being cancelled. "
        "Reply STOP to opt out"
    )


@pytest.mark.parametrize("locale", SAID)
def test_with_a_production_link_the_sms_fits_and_japanese_takes_the_short_form(
    locale: str,
) -> None:
    # Given a shop named with an accent GSM-7 lacks and the production page link (89
    # characters)
    ctx = cancel_ctx(locale, shop_name="Electrónica Pérez", page_url=PRODUCTION_PAGE_URL)
    words = _words(locale)
    body = render_sms(ctx).body
    # Then the link and the opt-out are whole, the shop named, two segments at most
    stop = words.gettext("Reply STOP to opt out")
    assert body.endswith(f" {PRODUCTION_PAGE_URL} {stop}"), body
    assert body.startswith("Elect"), body
    assert measure(body).segments <= MAX_SMS_SEGMENTS, body
    if locale == "ja-JP":
        # 134 UCS-2 characters hold the link (89), two spaces, the opt-out (9) and 34 more:
        # ": " and the short form's 24 characters leave 8 for the shop name, "Elect..."
        assert body.startswith("Elect...: "), body
        assert words.gettext(SHORT_SMS) % {"order": "#1042"} in body, body
    else:
        plain = SAID[locale][1]
        assert words.gettext(SMS) % {"amount": plain, "order": "#1042"} in body, body


# --- every language ---------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["de-DE", "fr-FR", "es-ES", "ja-JP"])
@pytest.mark.parametrize("tone", ["friendly", "firm"])
def test_no_english_is_left_in_a_foreign_customers_notice(tone: str, locale: str) -> None:
    assert_no_english_left(cancel_ctx(locale, cast(Tone, tone)))


# --- the pay link, for any template -----------------------------------------------------------


def test_no_template_sees_a_pay_link_in_the_notice() -> None:
    ctx = cancel_ctx()
    assert template_variables(ctx)["pay_url"] is None
    assert template_variables(dataclasses.replace(ctx, situation="awaiting_payment"))[
        "pay_url"
    ] == (PAY_URL)
    # And a shop's own SMS that offers the pay link when there is one offers none
    own = (
        "{{ shop_name }}: order {{ order_name }}.{% if pay_url %} Pay {{ pay_url }}{% endif %} STOP"
    )
    assert render_sms(ctx, own, strict=True).body == "Demo Shop: order #1042. STOP"
    awaited = dataclasses.replace(ctx, situation="awaiting_payment")
    assert (
        render_sms(awaited, own, strict=True).body == f"Demo Shop: order #1042. Pay {PAY_URL} STOP"
    )


# --- the case file's re-rendering -------------------------------------------------------------

T0 = datetime.datetime(2026, 11, 2, 15, 0, tzinfo=datetime.UTC)
# Due at 05:00 UTC on 2 December: still 1 December in Oregon (21:00 the evening before),
# already 2 December in Tokyo (14:00).
DUE_AT = datetime.datetime(2026, 12, 2, 5, 0, tzinfo=datetime.UTC)
BRANDING = Branding(shop_domain="demo.example", shop_name="Demo")


def _terms_case(country: str, province: str | None = None) -> Case:
    snapshot = OrderSnapshot(
        amount_owed=Money("USD", 189_900),
        order_total=Money("USD", 189_900),
        order_name="#1042",
        financial_status="pending",
        customer=Customer(first_name="Alex", locale="en-US", country=country, province=province),
        payment_terms="Net 30",
        payment_due_at=DUE_AT,
    )
    return Case(
        shop="demo.myshopify.com",
        case_id="1042",
        status=CaseStatus.OPEN,
        status_since=((CaseStatus.OPEN, T0),),
        snapshot=snapshot,
    )


@pytest.mark.parametrize(
    ("country", "province", "day"),
    [("US", "OR", "December 1, 2026"), ("JP", None, "December 2, 2026")],
)
def test_the_case_file_re_renders_an_overdue_terms_email_with_its_terms_and_date(
    country: str, province: str | None, day: str
) -> None:
    # Given the first step's email, recorded as worded for terms past their due date
    sent = SentMessage(
        0,
        "email",
        DUE_AT + datetime.timedelta(days=1),
        "provider-id",
        "friendly",
        189_900,
        "USD",
        locale="en-US",
        situation="terms_overdue",
    )
    case = _terms_case(country, province)
    found = texts(case, [sent], cadence.default_policy(), default_referral_policy(), BRANDING, T0)
    # Then its case file shows the terms' name and the customer's day they were due on
    assert found[0].subject == f"Demo: the payment for order #1042 was due on {day}"
    assert (
        f"The payment for order #1042 (Net 30) was due on {day}, and we have not received it "
        "yet. Please pay $1,899.00 as soon as you can." in found[0].body
    )


# --- the previews' sample order ---------------------------------------------------------------

SHOP = "demo.myshopify.com"
NOW = datetime.datetime(2026, 11, 2, 15, 0, tzinfo=datetime.UTC)


def _sample(situation: Situation) -> MessageContext:
    item = ShopItem(f"SHOP#{SHOP}", "META", currency="USD", locale="en-US", shop_name="Demo")
    return sample_sends.sample_context(
        SHOP,
        item,
        cadence.default_policy().steps[0],
        1,
        NOW,
        pay_url=PAY_URL,
        unsubscribe_url="https://recoup.example/unsubscribe?t=sample",
        situation=situation,
    )


@pytest.mark.parametrize(
    ("situation", "due", "says"),
    [
        # 2 November + 3 days: the courtesy reminder's due date ahead
        (
            Situation.PAYMENT_DUE_SOON,
            datetime.date(2026, 11, 5),
            "Your payment of $249.00 for order #1001 is due on November 5, 2026.",
        ),
        # 2 November - 7 days: a week past it
        (
            Situation.TERMS_OVERDUE,
            datetime.date(2026, 10, 26),
            "The payment for order #1001 (Net 30) was due on October 26, 2026",
        ),
    ],
)
def test_a_sample_worded_for_terms_states_sample_terms_and_a_due_date(
    situation: Situation, due: datetime.date, says: str
) -> None:
    ctx = _sample(situation)
    assert (ctx.situation, ctx.payment_terms, ctx.due_date) == (str(situation), "Net 30", due)
    assert says in render_email(ctx).text


def test_a_sample_of_another_situation_has_no_terms_and_the_notice_no_pay_link() -> None:
    failed = _sample(Situation.PAYMENT_FAILED)
    assert (failed.situation, failed.payment_terms, failed.due_date) == (
        "payment_failed",
        None,
        None,
    )
    cancelled = render_email(_sample(Situation.ORDER_CANCELLED))
    assert cancelled.subject == "Demo: your order #1001 is being cancelled"
    assert PAY_URL not in cancelled.html and PAY_URL not in cancelled.text


def test_a_preview_names_a_known_situation_or_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        step_samples.preview(SHOP, {"index": 0, "situation": "card_melted"}, now=NOW)
    assert refused.value.field == "situation"
    with pytest.raises(InvalidInput) as unknown:
        step_samples.preview(SHOP, {"index": 0, "mood": "calm"}, now=NOW)
    assert unknown.value.field == "mood"


@pytest.mark.parametrize("language", ["en", "de", "fr", "es", "ja"])
@pytest.mark.parametrize("name", ["friendly", "firm"])
def test_the_shipped_source_in_a_language_says_the_notice_as_shipped(
    name: str, language: str
) -> None:
    # Given the built-in template as the editor offers it in a language, saved as the
    # shop's own version
    mine = {p: t for p, t in (message_templates.builtin_parts(name, language) or {}).items() if t}
    override = EmailOverride(mine["subject"], mine["html"], mine["text"])
    locale = {"en": "en-US", "de": "de-DE", "fr": "fr-FR", "es": "es-ES", "ja": "ja-JP"}[language]
    # Then the notice renders as the shipped template renders it, without the pay link
    ctx = cancel_ctx(locale, cast(Tone, name))
    ours, theirs = render_email(ctx, override, strict=True), render_email(ctx)
    assert (ours.subject, ours.html, ours.text) == (theirs.subject, theirs.html, theirs.text)
    assert PAY_URL not in ours.html
