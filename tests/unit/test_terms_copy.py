"""The words of an order on payment terms ("Net 30"): the courtesy reminder before the due
date (`payment_due_soon`) and the reminder once it has passed (`terms_overdue`), by email
and SMS in every language, the context they are given (`due_date`, `due_date_short`,
`payment_terms`, from the case's order snapshot in the customer's zone) and a shop's own
templates that use them."""

from __future__ import annotations

import dataclasses
import datetime
from typing import cast
from zoneinfo import ZoneInfo

import pytest

from recoup.channels import compose, i18n
from recoup.channels.render import (
    MAX_SMS_SEGMENTS,
    EmailOverride,
    MessageContext,
    TemplateRejected,
    Tone,
    render_email,
    render_sms,
    template_variables,
    validate_override,
    validate_overrides,
)
from recoup.channels.sms_segments import measure
from recoup.domain import cadence
from recoup.domain.case import Case, CaseStatus
from recoup.domain.events import Customer, OrderSnapshot
from recoup.domain.money import Money
from recoup.domain.payment_situation import Situation
from recoup.services import message_templates
from tests.unit.test_i18n import assert_no_english_left
from tests.unit.test_render import (
    PAGE_URL,
    PRODUCTION_PAGE_URL,
    SMS_LANGUAGES,
    UNSUBSCRIBE_URL,
    make_ctx,
)

DUE = datetime.date(2026, 12, 14)
TERMS = "Net 30"
SITUATIONS = ("payment_due_soon", "terms_overdue")

# What each language says, worked out by hand from CLDR's patterns: 1,899.00 in the
# language's currency (18,990 yen in Japanese, which has no minor unit), the long date an
# email states and the short one an SMS states. German groups with ".", French with a
# narrow no-break space; both put the euro sign after a no-break space.
SAID = {
    "en-US": ("$1,899.00", "1,899.00 USD", "December 14, 2026", "Dec 14, 2026"),
    "de-DE": ("1.899,00\u00a0€", "1.899,00 EUR", "14. Dezember 2026", "14.12.2026"),
    "fr-FR": ("1\u202f899,00\u00a0€", "1 899,00 EUR", "14 décembre 2026", "14 déc. 2026"),
    "es-ES": ("1.899,00\u00a0€", "1.899,00 EUR", "14 de diciembre de 2026", "14 dic 2026"),
    "ja-JP": ("￥18,990", "18,990円", "2026年12月14日", "2026/12/14"),
}


def terms_ctx(
    situation: str,
    locale: str = "en-US",
    tone: Tone = "friendly",
    *,
    due: datetime.date | None = DUE,
    terms: str | None = TERMS,
    page_url: str | None = PAGE_URL,
    **changes: object,
) -> MessageContext:
    """A reminder of order #1042 on payment terms, owing all of 1,899.00 (18,990 yen)."""
    currency = SMS_LANGUAGES[locale]
    fields: dict[str, object] = {
        "situation": situation,
        "due_date": due,
        "payment_terms": terms,
        "page_url": page_url,
        "step_number": 1,
        "shop_name": "Demo Shop",
        **changes,
    }
    owed = 189_900 if currency != "JPY" else 18_990
    return make_ctx(tone, locale=locale, currency=currency, owed_minor=owed, **fields)


# --- the words in each language --------------------------------------------------------------


@pytest.mark.parametrize("locale", SAID)
@pytest.mark.parametrize("situation", SITUATIONS)
def test_the_email_states_the_amount_the_order_and_the_due_date_in_the_customers_formats(
    situation: str, locale: str
) -> None:
    # Given a reminder of an order on Net 30, due on 14 December 2026
    amount, _plain, long_date, _short = SAID[locale]
    email = render_email(terms_ctx(situation, locale))
    # Then the subject names the order and the date, in the customer's language
    assert "#1042" in email.subject and long_date in email.subject, email.subject
    # And the text and the HTML state the amount, the order and the date, and, once the
    # date has passed, the terms' name
    for part in (email.text, email.html):
        for said in (amount, "#1042", long_date):
            assert said in part, (said, part)
        assert (f"({TERMS})" in part or f"（{TERMS}）" in part) is (situation == "terms_overdue")


@pytest.mark.parametrize("locale", SAID)
@pytest.mark.parametrize("situation", SITUATIONS)
def test_the_sms_states_the_amount_the_order_and_the_due_date_and_fits(
    situation: str, locale: str
) -> None:
    # Given the same reminder with the customer's page link
    _amount, plain, _long, short_date = SAID[locale]
    body = render_sms(terms_ctx(situation, locale)).body
    # Then it states the amount, the order and the date as an SMS writes them, and the
    # terms' name once the date has passed
    for said in (plain, "#1042", short_date, PAGE_URL):
        assert said in body, (said, body)
    assert (TERMS in body) is (situation == "terms_overdue")
    # And it fits two segments, in GSM-7 wherever the language allows
    size = measure(body)
    assert size.segments <= MAX_SMS_SEGMENTS, (size, body)
    assert size.encoding == ("UCS-2" if locale == "ja-JP" else "GSM-7"), body
    stop = i18n.translations("messages", i18n.language_for(locale)).gettext("Reply STOP to opt out")
    assert body.endswith(f" {PAGE_URL} {stop}"), body


@pytest.mark.parametrize("locale", ["de-DE", "fr-FR", "es-ES", "ja-JP"])
@pytest.mark.parametrize("tone", ["friendly", "firm", "final_notice"])
@pytest.mark.parametrize("situation", SITUATIONS)
def test_no_english_is_left_in_a_foreign_customers_reminder(
    situation: str, tone: str, locale: str
) -> None:
    # Given the reminder with its date and terms, and the same one in English
    ctx = terms_ctx(
        situation,
        locale,
        cast(Tone, tone),
        referral_date=datetime.date(2026, 12, 28) if tone == "final_notice" else None,
    )
    # Then no catalog string nor sentence of the English one is left in any part
    assert_no_english_left(ctx)


def test_the_courtesy_reminder_is_friendly_and_suggests_nothing_failed() -> None:
    # Given the courtesy reminder three days before the due date, with a pay link
    ctx = terms_ctx("payment_due_soon")
    email, sms = render_email(ctx), render_sms(ctx).body
    # Then it says when the payment is due, and how to pay
    assert email.subject == "Demo Shop: your payment for order #1042 is due on December 14, 2026"
    assert (
        "Your payment of $1,899.00 for order #1042 is due on December 14, 2026. This is just a "
        "friendly reminder ahead of that date." in email.text
    )
    assert "You can pay securely with the link below." in email.text
    assert "Pay securely: https://pay.demo-electronics.example/p/cs_1042" in email.text
    assert "Pay $1,899.00</a>" in email.html
    assert sms.startswith(
        "Demo Shop: a friendly reminder: 1,899.00 USD for order #1042 is due on Dec 14, 2026."
    ), sms
    # And nothing of a failure, a problem or a debt
    for part in (email.subject, email.text, email.html, sms):
        lower = part.lower()
        for word in ("wrong", "problem", "declined", "could not", "unpaid", "still due"):
            assert word not in lower, (word, part)


def test_the_overdue_reminder_names_the_terms_the_date_and_what_to_do() -> None:
    email = render_email(terms_ctx("terms_overdue"))
    assert email.subject == "Demo Shop: the payment for order #1042 was due on December 14, 2026"
    assert (
        "The payment for order #1042 (Net 30) was due on December 14, 2026, and we have not "
        "received it yet. Please pay $1,899.00 as soon as you can." in email.text
    )
    assert "Your payment date has passed" in email.text
    # And a firm step says the same of the terms, in its own frame
    firm = render_email(terms_ctx("terms_overdue", tone="firm"))
    assert "(Net 30) was due on December 14, 2026" in firm.text
    assert "(Net 30) was due on December 14, 2026" in firm.html


@pytest.mark.parametrize(
    ("situation", "due", "terms", "says"),
    [
        ("payment_due_soon", None, TERMS, "Your payment of $1,899.00 for order #1042 is due soon."),
        (
            "terms_overdue",
            None,
            TERMS,
            "The payment for order #1042 (Net 30) is now due, and we have not received it yet.",
        ),
        (
            "terms_overdue",
            DUE,
            None,
            "The payment for order #1042 was due on December 14, 2026, and we have not received",
        ),
        (
            "terms_overdue",
            None,
            None,
            "The payment for order #1042 is now due, and we have not received it yet.",
        ),
    ],
)
def test_without_a_due_date_or_terms_name_the_words_leave_them_out(
    situation: str, due: datetime.date | None, terms: str | None, says: str
) -> None:
    # Given terms with no date yet (due on fulfilment), or a caller that knows no name
    ctx = terms_ctx(situation, due=due, terms=terms)
    email, sms = render_email(ctx), render_sms(ctx).body
    # Then the email says what it knows, and nothing blank where the rest would be
    assert says in email.text and says in email.html
    for part in (email.subject, email.text, sms):
        assert "on ." not in part and "()" not in part and " ," not in part, part
    # And the SMS still names the amount and the order, the terms only with their date
    assert "1,899.00 USD" in sms and "#1042" in sms
    assert (TERMS in sms) is (
        situation == "terms_overdue" and due is not None and terms is not None
    )


@pytest.mark.parametrize("locale", SAID)
@pytest.mark.parametrize("situation", SITUATIONS)
def test_with_a_production_link_the_sms_fits_leaving_the_date_out_only_if_it_must(
    situation: str, locale: str
) -> None:
    # Given a shop named with an accent GSM-7 lacks and the production page link
    ctx = terms_ctx(situation, locale, shop_name="Electrónica Pérez", page_url=PRODUCTION_PAGE_URL)
    # When its SMS is rendered
    body = render_sms(ctx).body
    # Then the link and the opt-out are whole, the shop is still named, two segments
    stop = i18n.translations("messages", i18n.language_for(locale)).gettext("Reply STOP to opt out")
    assert body.endswith(f" {PRODUCTION_PAGE_URL} {stop}"), body
    assert body.startswith("Elect"), body
    assert measure(body).segments <= MAX_SMS_SEGMENTS, body
    # And the date is there, except in Japanese, where it cannot fit beside a 90-character
    # link (134 UCS-2 characters in all): the link leads to it
    _amount, plain, _long, short_date = SAID[locale]
    assert (short_date in body) is (locale != "ja-JP"), body
    assert plain in body, body


# --- the context ------------------------------------------------------------------------------


def test_the_templates_see_the_terms_and_both_forms_of_the_due_date() -> None:
    shown = template_variables(terms_ctx("terms_overdue", "de-DE"))
    assert (shown["payment_terms"], shown["due_date"], shown["due_date_short"]) == (
        "Net 30",
        "14. Dezember 2026",
        "14.12.2026",
    )
    bare = template_variables(terms_ctx("card_declined", due=None, terms=None))
    assert (bare["payment_terms"], bare["due_date"], bare["due_date_short"]) == (None,) * 3


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"due_date": datetime.datetime(2026, 12, 14, 8, tzinfo=datetime.UTC)}, "due_date"),
        ({"due_date": "2026-12-14"}, "due_date"),
        ({"payment_terms": "Net 30\nBcc: x"}, "payment_terms"),
        ({"payment_terms": "  "}, "payment_terms"),
        ({"payment_terms": 30}, "payment_terms"),
    ],
)
def test_the_context_refuses_a_time_for_a_date_and_a_name_on_several_lines(
    changes: dict[str, object], message: str
) -> None:
    ctx = terms_ctx("terms_overdue")
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(ctx, **changes)  # type: ignore[arg-type]


T0 = datetime.datetime(2026, 11, 2, 15, 0, tzinfo=datetime.UTC)
# Due at 05:00 UTC on 2 December: still 1 December in Oregon (21:00 the evening before),
# already 2 December in Tokyo (14:00).
DUE_AT = datetime.datetime(2026, 12, 2, 5, 0, tzinfo=datetime.UTC)


def _terms_case(terms: str | None = " Net  30 ", due_at: datetime.datetime | None = DUE_AT) -> Case:
    snapshot = OrderSnapshot(
        amount_owed=Money("USD", 189_900),
        order_total=Money("USD", 189_900),
        order_name="#1042",
        financial_status="pending",
        customer=Customer(first_name="Alex", locale="en-US"),
        payment_terms=terms,
        payment_due_at=due_at,
    )
    return Case(
        shop="demo.myshopify.com",
        case_id="1042",
        status=CaseStatus.OPEN,
        status_since=((CaseStatus.OPEN, T0),),
        snapshot=snapshot,
    )


def _context(case: Case, **kwargs: object) -> MessageContext:
    return compose.message_context(
        case,
        cadence.default_policy().steps[0],
        0,
        None,
        reply_to=None,
        links=compose.Links(unsubscribe=UNSUBSCRIBE_URL, page=PAGE_URL),
        notice=None,
        **kwargs,  # type: ignore[arg-type]
    )


def test_compose_gives_the_terms_and_the_customers_day_they_are_due_on() -> None:
    case = _terms_case()
    # Given the customer's zone, the due date is their calendar day
    oregon = _context(case, zone=ZoneInfo("America/Los_Angeles"))
    assert oregon.due_date == datetime.date(2026, 12, 1)
    assert _context(case, zone=ZoneInfo("Asia/Tokyo")).due_date == datetime.date(2026, 12, 2)
    # And without one it is UTC's
    assert _context(case).due_date == datetime.date(2026, 12, 2)
    # And the terms' name comes on one line, the situation derived from the order
    assert oregon.payment_terms == "Net 30"
    assert oregon.situation == "terms_overdue"
    assert "was due on December 1, 2026" in render_email(oregon).text
    # And a courtesy reminder is the caller's to ask for
    asked = _context(case, situation=Situation.PAYMENT_DUE_SOON, zone=ZoneInfo("Asia/Tokyo"))
    assert asked.situation == "payment_due_soon"
    assert "is due on December 2, 2026" in render_email(asked).text


def test_an_order_without_terms_gives_neither() -> None:
    ctx = _context(_terms_case(terms=None, due_at=None))
    assert (ctx.payment_terms, ctx.due_date) == (None, None)
    assert ctx.situation != "terms_overdue"
    # And terms without a date yet give the name alone
    undated = _context(_terms_case(due_at=None))
    assert (undated.payment_terms, undated.due_date) == ("Net 30", None)


# --- a shop's own templates ---------------------------------------------------------------------


def test_a_shops_template_may_use_the_terms_and_the_due_date() -> None:
    # Given a subject and an SMS of the shop's own that state them
    subject = "{{ order_name }}: {{ payment_terms }}, due {{ due_date }}"
    sms = "{{ shop_name }}: {{ amount_owed_plain }} due {{ due_date_short }} {{ page_url }} STOP"
    # Then saving them is allowed (checked against samples with and without terms)
    validate_overrides({"subject": subject, "sms": sms})
    # And a reminder renders them
    ctx = terms_ctx("terms_overdue")
    email = render_email(ctx, EmailOverride(subject=subject), strict=True)
    assert email.subject == "#1042: Net 30, due December 14, 2026"
    assert render_sms(ctx, sms, strict=True).body == (
        f"Demo Shop: 1,899.00 USD due Dec 14, 2026 {PAGE_URL} STOP"
    )
    # But a subject that is only the terms is refused: an order may have none
    with pytest.raises(TemplateRejected, match="subject is empty"):
        validate_override("subject", "{{ payment_terms }}")


@pytest.mark.parametrize("language", ["en", "de", "fr", "es", "ja"])
@pytest.mark.parametrize("name", ["friendly", "firm"])
def test_the_shipped_source_in_a_language_says_the_terms_as_shipped(
    name: str, language: str
) -> None:
    # Given the built-in template as the editor offers it in a language, saved as the
    # shop's own version
    mine = {p: t for p, t in (message_templates.builtin_parts(name, language) or {}).items() if t}
    override = EmailOverride(mine["subject"], mine["html"], mine["text"])
    locale = {"en": "en-US", "de": "de-DE", "fr": "fr-FR", "es": "es-ES", "ja": "ja-JP"}[language]
    # Then for an order on terms, with or without its date and name, it renders what the
    # shipped template renders
    for situation in SITUATIONS:
        for due, terms in ((DUE, TERMS), (None, TERMS), (DUE, None), (None, None)):
            ctx = terms_ctx(situation, locale, cast(Tone, name), due=due, terms=terms)
            ours, theirs = render_email(ctx, override, strict=True), render_email(ctx)
            assert (ours.subject, ours.html, ours.text) == (
                theirs.subject,
                theirs.html,
                theirs.text,
            )
            sms = render_sms(ctx, mine["sms"])
            if sms.override_error is None:
                assert sms.body == render_sms(ctx).body
            else:
                # Japanese may need more than two segments as written: a shop's text is
                # never cut, the shipped one shortens itself
                assert language == "ja" and "segments" in sms.override_error
