"""Reminder rendering: shipped templates per tone and locale, SMS limits, merchant overrides."""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import json
import re
import time
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2.exceptions import SecurityError

from recoup.channels import compose, i18n, render
from recoup.channels.render import (
    MAX_FINAL_NOTICE_SMS_SEGMENTS,
    MAX_SMS_SEGMENTS,
    TONES,
    EmailOverride,
    ItemLine,
    MessageContext,
    MessageTooLong,
    TemplateRejected,
    Tone,
    amount_summary,
    check_draft,
    render_email,
    render_sms,
    template_variables,
    templates_dir,
    validate_override,
    validate_overrides,
)
from recoup.channels.sandbox import (
    MAX_ITEM_ITERATIONS,
    MAX_OUTPUT_CHARS,
    MAX_RENDER_MS,
    MAX_SOURCE_BYTES,
    TEMPLATE_VARIABLES,
    RenderBudget,
    TemplateTooSlow,
    compile_override,
    render_override,
)
from recoup.channels.sms_segments import measure
from recoup.domain import cadence, payment_situation
from recoup.domain.case import Case, apply, new_case
from recoup.domain.money import Money
from recoup.domain.payment_situation import NOT_DERIVED, SITUATIONS, Situation
from recoup.integrations import shopify
from recoup.services.shops import set_template
from tests.conftest import event_json, shopify_headers

PAY_URL = "https://pay.demo-electronics.example/p/cs_1042"
UNSUBSCRIBE_URL = "https://recoup.example/u/tok_1042?shop=demo&case=1042"
REFERRAL = datetime.date(2026, 12, 14)
STOP = "Reply STOP to opt out"


def make_ctx(
    tone: Tone = "friendly",
    *,
    currency: str = "USD",
    owed_minor: int = 189900,
    locale: str = "en-US",
    **changes: object,
) -> MessageContext:
    ctx = MessageContext(
        shop_name="Demo Electronics",
        shop_email="help@demo-electronics.example",
        shop_url="https://demo-electronics.example",
        brand_color="#0a5c36",
        customer_first_name="Alex",
        locale=locale,
        order_name="#1042",
        items=(
            ItemLine("Laptop Pro 14", 1, Money(currency, owed_minor)),
            ItemLine("USB-C cable", 2, None),
        ),
        amount_owed=Money(currency, owed_minor),
        order_total=Money(currency, owed_minor),
        pay_url=PAY_URL,
        unsubscribe_url=UNSUBSCRIBE_URL,
        help_url="https://demo-electronics.example/help",
        step_number=2,
        tone=tone,
        referral_date=REFERRAL if tone == "final_notice" else None,
        referral_to="agency" if tone == "final_notice" else None,
    )
    return dataclasses.replace(ctx, **changes)  # type: ignore[arg-type]


# The notice of a missed instalment: 2 of 3, due on 3 December, to be paid by 10:00 on
# 8 December in Oregon (when the grace days end).
PLAN_PAY_BY = datetime.datetime(2026, 12, 8, 10, 0, tzinfo=ZoneInfo("America/Los_Angeles"))


def make_plan_ctx(
    tone: Tone = "friendly", *, currency: str = "USD", locale: str = "en-US", **changes: object
) -> MessageContext:
    """The notice of a missed instalment: instalment 2 of 3 (633.00, or 6,330 yen) of an
    order of 1,899.00 of which 1,266.00 is owed."""
    scale = 1 if currency != "JPY" else 10  # yen have no minor unit
    plan = compose.PlanNotice(
        number=2,
        count=3,
        amount=Money(currency, 63_300 // scale),
        due_on=datetime.date(2026, 12, 3),
        pay_by=PLAN_PAY_BY,
    )
    return make_ctx(
        tone,
        currency=currency,
        owed_minor=126_600 // scale,
        locale=locale,
        order_total=Money(currency, 189_900 // scale),
        situation="instalment_missed",
        plan=plan,
        **changes,
    )


def default_html(ctx: MessageContext) -> str:
    return render_email(ctx).html


@pytest.fixture
def no_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests of the other limits: on a loaded machine, their deliberately heavy templates
    could also overrun the clock, which is not what they are about."""
    monkeypatch.setattr("recoup.channels.sandbox.MAX_RENDER_MS", 600_000)


# --- shipped templates -----------------------------------------------------------------------


def test_shipped_templates_are_found_where_the_layer_puts_them() -> None:
    # Given the package in the source tree (layers/recoup/templates is a symlink)
    # When the templates directory is located from the package
    folder = templates_dir()
    # Then every tone has its subject, HTML, text and SMS template there
    for tone in TONES:
        for name in (
            f"email/{tone}.subject.txt.j2",
            f"email/{tone}.html.j2",
            f"email/{tone}.txt.j2",
            f"sms/{tone}.txt.j2",
        ):
            assert (folder / name).is_file(), name


@pytest.mark.parametrize("tone", TONES)
@pytest.mark.parametrize(
    ("currency", "minor", "locale", "formatted", "plain"),
    [
        ("USD", 189900, "en-US", "$1,899.00", "1,899.00 USD"),
        ("EUR", 219146, "de-DE", "2.191,46\xa0€", "2.191,46 EUR"),
        ("JPY", 129800, "ja-JP", "￥129,800", "129,800円"),  # in SMS as Japanese text writes it
    ],
)
def test_each_tone_renders_money_for_the_customers_locale(
    tone: Tone, currency: str, minor: int, locale: str, formatted: str, plain: str
) -> None:
    # Given a reminder owed in a currency, for a customer in a locale
    ctx = make_ctx(tone, currency=currency, owed_minor=minor, locale=locale)
    # When the email and the SMS are rendered from the shipped templates
    email = render_email(ctx)
    sms = render_sms(ctx)
    # Then the amount is formatted the customer's way in every part
    assert formatted in email.html
    assert formatted in email.text
    assert plain in sms.body
    # And the subject is one short line naming the shop and the order
    assert "Demo Electronics" in email.subject
    assert "#1042" in email.subject
    assert "\n" not in email.subject
    assert len(email.subject) < 80
    # And nothing came from an override
    assert email.template == f"email/{tone}"
    assert email.override_error is None
    assert sms.template == f"sms/{tone}"


@pytest.mark.parametrize("tone", TONES)
def test_items_contact_and_unsubscribe_appear_in_both_parts(tone: Tone) -> None:
    # Given a reminder with two order lines, one without a known price
    ctx = make_ctx(tone)
    # When it is rendered
    email = render_email(ctx)
    # Then both parts list the items with their quantities and prices
    assert "Laptop Pro 14" in email.html
    assert "USB-C cable" in email.html
    assert re.search(r">\s*2\s*</td>", email.html)
    assert "- 1 x Laptop Pro 14: $1,899.00" in email.text
    assert "- 2 x USB-C cable\n" in email.text
    # And the merchant's contact and the unsubscribe link (HTML-escaped in the HTML)
    assert "mailto:help@demo-electronics.example" in email.html
    assert "help@demo-electronics.example" in email.text
    assert 'href="https://recoup.example/u/tok_1042?shop=demo&amp;case=1042"' in email.html
    assert f"Unsubscribe from payment reminders: {UNSUBSCRIBE_URL}" in email.text
    # And the brand colour
    assert "#0a5c36" in email.html


def test_line_totals_multiply_the_unit_price() -> None:
    # Given two of an item at 19.99
    ctx = make_ctx(items=(ItemLine("Charger", 2, Money("USD", 1999)),))
    # When rendered / Then the line shows 2 x 19.99
    assert "- 2 x Charger: $39.98" in render_email(ctx).text


def test_pay_button_only_with_a_pay_link() -> None:
    # Given the same reminder with and without a pay link
    with_link = render_email(make_ctx("firm"))
    without = render_email(make_ctx("firm", pay_url=None))
    # Then only the first has the button and the link, in both parts
    assert f'<a href="{PAY_URL}"' in with_link.html
    assert ">Pay $1,899.00</a>" in with_link.html
    assert f"Pay securely: {PAY_URL}" in with_link.text
    assert PAY_URL not in without.html
    assert ">Pay $1,899.00</a>" not in without.html
    assert "Pay securely" not in without.text
    # And the amount owed is still stated
    assert "$1,899.00" in without.html


def test_logo_replaces_the_shop_name_heading() -> None:
    # Given a shop with an https logo
    ctx = make_ctx(logo_url="https://cdn.demo-electronics.example/logo.png")
    # When rendered / Then the logo is shown with the shop name as its text alternative
    html = render_email(ctx).html
    assert '<img src="https://cdn.demo-electronics.example/logo.png" alt="Demo Electronics"' in html
    assert "<img" not in default_html(make_ctx())


@pytest.mark.parametrize(
    ("locale", "long_date", "short_date", "agency"),
    [
        ("en-US", "December 14, 2026", "Dec 14, 2026", "collection agency"),
        ("de-DE", "14. Dezember 2026", "14.12.2026", "Inkasso"),
        ("ja-JP", "2026年12月14日", "2026/12/14", "債権回収会社"),
    ],
)
def test_final_notice_states_the_referral_date(
    locale: str, long_date: str, short_date: str, agency: str
) -> None:
    # Given a final notice with a referral date
    ctx = make_ctx("final_notice", locale=locale)
    # When rendered
    email = render_email(ctx)
    sms = render_sms(ctx)
    # Then every part states the date, localised (short in the SMS, to keep it short), and
    # what happens then, in the customer's language
    for body in (email.html, email.text):
        assert long_date in body
        assert agency in body
    assert short_date in sms.body
    assert agency in sms.body


def test_the_final_notice_invites_a_dispute_or_a_plan() -> None:
    text = render_email(make_ctx("final_notice")).text
    assert "believe this amount is wrong" in text
    assert "payment plan" in text


def test_a_final_notice_names_legal_when_legal_follows() -> None:
    # Given a final notice whose case the shop's policy will refer to legal
    ctx = make_ctx("final_notice", referral_to="legal")
    # When rendered
    email, sms = render_email(ctx), render_sms(ctx)
    # Then every part names the lawyers and none threatens an agency
    for body in (email.html, email.text, sms.body):
        assert "our lawyers" in body
        assert "agency" not in body
    assert "December 14, 2026" in email.text
    assert "Dec 14, 2026" in sms.body


def test_a_final_notice_names_no_referral_when_none_follows() -> None:
    # Given a final notice whose case the policy would refer nowhere (merchant decides)
    ctx = make_ctx("final_notice", referral_to=None)
    # When rendered
    email, sms = render_email(ctx), render_sms(ctx)
    # Then it gives the date but threatens neither an agency nor lawyers
    for body in (email.html, email.text, sms.body):
        assert "agency" not in body
        assert "lawyers" not in body
    assert "December 14, 2026" in email.text
    assert "Dec 14, 2026" in sms.body


def test_referral_to_is_agency_legal_or_nothing() -> None:
    with pytest.raises(ValueError, match="referral_to"):
        make_ctx("final_notice", referral_to="bailiff")


def test_other_tones_do_not_threaten_referral() -> None:
    # Given friendly and firm reminders / Then neither mentions a collection agency
    tones: tuple[Tone, ...] = ("friendly", "firm")
    for tone in tones:
        email = render_email(make_ctx(tone))
        assert "collection" not in email.text.lower()
        assert "collection" not in email.html.lower()
    # And the firm one says the order is unpaid, and nothing of fulfilment, which Recoup does
    # not know (cash-on-delivery and invoice orders ship before they are paid)
    firm = render_email(make_ctx("firm")).text
    assert "is still not fully paid: $1,899.00 is due." in firm
    assert "on hold" not in firm


def test_greeting_without_a_first_name() -> None:
    # Given no first name / When rendered / Then a neutral greeting, no "None"
    email = render_email(make_ctx(customer_first_name=None, shop_email=None, order_total=None))
    assert "Hello," in email.text
    assert "None" not in email.text
    assert "None" not in email.html


def test_unknown_locale_falls_back_to_english() -> None:
    # Given locales babel does not know, or with extensions it cannot parse
    for locale in ("xx-YY", "", "en-US-u-ca-buddhist", "i-klingon"):
        ctx = make_ctx(locale=locale)
        # When rendered / Then money is formatted in English
        assert "$1,899.00" in render_email(ctx).text
    assert template_variables(make_ctx(locale="en-US-u-ca-buddhist"))["locale"] == "en-US"


def test_template_variables_are_the_fixed_set() -> None:
    # Given any context / Then templates see exactly the documented variables
    assert set(template_variables(make_ctx("final_notice"))) == TEMPLATE_VARIABLES


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"brand_color": "red"}, "brand_color"),
        ({"brand_color": "#12345"}, "brand_color"),
        ({"logo_url": "http://cdn.example/logo.png"}, "logo_url"),
        ({"pay_url": "javascript:alert(1)"}, "pay_url"),
        ({"unsubscribe_url": "https://x.example/u\r\nBcc: y"}, "unsubscribe_url"),
        ({"tone": "angry"}, "tone"),
        ({"amount_owed": Money("USD", 0)}, "amount_owed"),
        ({"order_total": Money("EUR", 100)}, "order_total"),
        ({"shop_email": "not an address"}, "shop_email"),
        ({"step_number": 0}, "step_number"),
    ],
)
def test_context_refuses_values_a_template_could_misuse(
    changes: dict[str, Any], message: str
) -> None:
    # Given a value that is not what the field promises / Then the context refuses it
    with pytest.raises(ValueError, match=message):
        make_ctx(**changes)


def test_a_final_notice_needs_its_referral_date() -> None:
    with pytest.raises(ValueError, match="referral_date"):
        make_ctx("final_notice", referral_date=None)


def test_subject_stays_one_line_whatever_the_shop_name() -> None:
    # Given a shop name with a line break and a header after it
    ctx = make_ctx(shop_name="Evil\r\nBcc: victim@example.com")
    # When the subject is rendered / Then it is a single line
    subject = render_email(ctx).subject
    assert "\r" not in subject
    assert "\n" not in subject


def test_customer_name_is_escaped_in_the_default_html() -> None:
    # Given a customer whose first name is markup
    ctx = make_ctx(customer_first_name="<script>alert(1)</script>")
    # When rendered
    email = render_email(ctx)
    # Then the HTML shows it escaped and the text as written
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "Hi <script>alert(1)</script>," in email.text


# --- SMS ------------------------------------------------------------------------------------


@pytest.mark.parametrize("tone", TONES)
def test_sms_is_short_names_the_shop_and_ends_with_stop(tone: Tone) -> None:
    # Given a reminder / When the SMS is rendered
    body = render_sms(make_ctx(tone)).body
    # Then it fits, names the merchant, carries the link and ends with the opt-out
    assert measure(body).segments <= MAX_SMS_SEGMENTS
    assert body.startswith("Demo Electronics:")
    assert PAY_URL in body
    assert body.endswith(STOP)


@pytest.mark.parametrize("tone", TONES)
def test_sms_cuts_a_long_shop_name_never_the_link_or_stop(tone: Tone) -> None:
    # Given a 200-character shop name
    name = "Extremely Long Electronics " * 8
    ctx = make_ctx(tone, shop_name=name[:200])
    # When the SMS is rendered
    body = render_sms(ctx).body
    # Then it fits in two segments with the link and the opt-out whole
    assert measure(body).segments <= MAX_SMS_SEGMENTS
    assert PAY_URL in body
    assert body.endswith(STOP)
    # And the shop name was cut, not dropped
    assert body.startswith("Extremely Long Electronics")
    assert "...:" in body


def test_sms_that_cannot_fit_is_refused() -> None:
    # Given a pay link that alone nearly fills three segments
    ctx = make_ctx("final_notice", pay_url="https://pay.example/" + "a" * 430)
    # When rendered / Then it is refused rather than cut
    with pytest.raises(MessageTooLong, match="the maximum is 3 segments"):
        render_sms(ctx)
    # And a reminder's limit is two
    with pytest.raises(MessageTooLong, match="the maximum is 2 segments"):
        render_sms(make_ctx("firm", pay_url="https://pay.example/" + "a" * 280))


def test_sms_without_a_pay_link_points_to_help() -> None:
    body = render_sms(make_ctx("firm", pay_url=None)).body
    assert "Help: https://demo-electronics.example/help" in body
    assert body.endswith(STOP)


def test_sms_override_is_used_when_it_fits() -> None:
    # Given a short override with the opt-out
    source = "{{ shop_name }}: {{ amount_owed_plain }} due. {{ pay_url }} Reply STOP to opt out"
    # When rendered
    sms = render_sms(make_ctx("firm"), source)
    # Then it is used
    assert sms.body == f"Demo Electronics: 1,899.00 USD due. {PAY_URL} Reply STOP to opt out"
    assert sms.template == "sms/firm+override"
    assert sms.override_error is None


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "{{ shop_name }} " + "x" * 330 + " STOP",
            "SMS is 3 segments (352 GSM-7 characters); the maximum is 2 segments",
        ),
        # Counted in segments, not characters: 80 Japanese characters are two UCS-2 ones
        ("{{ shop_name }} " + "払" * 120 + " STOP", "SMS is 3 segments (142 UCS-2 characters)"),
        ("Pay now: {{ pay_url }}", "reply STOP"),
        ("{{ items.__class__ }} STOP", "access to attribute '__class__' is not allowed"),
    ],
)
def test_sms_override_that_breaks_a_rule_falls_back(source: str, message: str) -> None:
    # Given an override too long, without the opt-out, or reaching internals
    ctx = make_ctx("friendly")
    # When rendered
    sms = render_sms(ctx, source)
    # Then the default is sent and the reason is kept
    assert sms.body == render_sms(ctx).body
    assert sms.template == "sms/friendly"
    assert sms.override_error is not None
    assert message in sms.override_error


# --- overrides that work ---------------------------------------------------------------------


def test_email_overrides_are_used_part_by_part() -> None:
    # Given a shop that overrides the subject and HTML but not the text
    override = EmailOverride(
        subject="{{ order_name }} at {{ shop_name }}: {{ amount_owed }} due",
        html=(
            "<h1 style='color:{{ brand_color }}'>Hi {{ customer_first_name|default('there') }}</h1>"
            "<ul>{% for item in items %}<li>{{ loop.index }}. {{ item.quantity }} × "
            "{{ item.title|upper }} {{ item.line_total or '' }}</li>{% endfor %}</ul>"
            "{% if pay_url %}<a href='{{ pay_url }}'>Pay</a>{% endif %}"
            "<a href='{{ unsubscribe_url }}'>Unsubscribe</a>"
        ),
    )
    ctx = make_ctx("firm")
    # When rendered
    email = render_email(ctx, override)
    # Then the overridden parts are the shop's and the text is the default
    assert email.subject == "#1042 at Demo Electronics: $1,899.00 due"
    assert "<h1 style='color:#0a5c36'>Hi Alex</h1>" in email.html
    assert "<li>1. 1 × LAPTOP PRO 14 $1,899.00</li><li>2. 2 × USB-C CABLE </li>" in email.html
    assert email.text == render_email(ctx).text
    assert email.template == "email/firm+override:subject,html"
    assert email.override_error is None
    validate_override("html", override.html or "")
    validate_override("subject", override.subject or "")


def test_text_override_keeps_plain_characters() -> None:
    # Given a plain-text override / When rendered / Then nothing is HTML-escaped
    ctx = make_ctx(customer_first_name="Zoë & <Co>")
    email = render_email(
        ctx, EmailOverride(text="Hi {{ customer_first_name }}\n{{ unsubscribe_url }}")
    )
    assert email.text == f"Hi Zoë & <Co>\n{UNSUBSCRIBE_URL}\n"


def test_customer_name_is_escaped_in_an_html_override() -> None:
    # Given an HTML override that prints the customer's name
    ctx = make_ctx(customer_first_name="<script>alert(1)</script>")
    source = "<p>Hi {{ customer_first_name }}</p><a href='{{ unsubscribe_url }}'>x</a>"
    # When rendered
    email = render_email(ctx, EmailOverride(html=source))
    # Then the override was used and the name is escaped
    assert email.override_error is None
    assert "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;</p>" in email.html


# --- overrides that are refused -------------------------------------------------------------

UNSUB = "{{ unsubscribe_url }}"
# id: (source, the message it is refused with); each source also prints the unsubscribe link
_REFUSED: dict[str, tuple[str, str]] = {
    "str-internals": (
        "{{ ''.__class__.__mro__ }}",
        "access to attribute '__class__' is not allowed",
    ),
    "items-internals": ("{{ items.__class__ }}", "access to attribute '__class__' is not allowed"),
    "str-format": ("{{ shop_name.format }}", "access to attribute 'format' is not allowed"),
    "getitem-format": ("{{ shop_name['format'] }}", "access to attribute 'format' is not allowed"),
    "str-method-by-allowed-name": (
        "{{ shop_name.title }}",
        "access to attribute 'title' is not allowed",
    ),
    "unknown-variable": ("{{ password }}", "template uses unknown variable 'password'"),
    "range": ("{% for i in range(10) %}x{% endfor %}", "template may not use 'range'"),
    "lipsum": ("{{ lipsum(1000) }}", "template may not use 'lipsum'"),
    "namespace": ("{{ namespace() }}", "template may not use 'namespace'"),
    "macro-recursion": (
        "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
        "template may not define macros",
    ),
    "include": ("{% include 'email/_layout.html.j2' %}", "template may not use '{% include %}'"),
    "extends": ("{% extends 'email/_layout.html.j2' %}", "template may not use '{% extends %}'"),
    "import": ("{% import 'email/_layout.html.j2' as x %}", "template may not use '{% import %}'"),
    "set": ("{% set x = items %}", "template may not use '{% set %}'"),
    "recursive-loop": (
        "{% for a in items recursive %}{{ loop(items) }}{% endfor %}",
        "template may not use recursive loops",
    ),
    "repeat": ("{{ 'a' * 1000000000 }}", "template may not use the '*' operator"),
    "power": ("{{ 9 ** 9 ** 9 }}", "template may not use the '**' operator"),
    "printf": ("{{ '%0999999999d' % 1 }}", "template may not use the '%' operator"),
    "padding-filter": (
        "{{ shop_name|center(1000000000) }}",
        "template may not use the filter 'center'",
    ),
    "safe-filter": ("{{ customer_first_name|safe }}", "template may not use the filter 'safe'"),
    "autoescape-off": (
        "{% autoescape false %}{{ shop_name }}{% endautoescape %}",
        "template may not use '{% autoescape %}'",
    ),
    "loop-over-string": (
        "{% for c in shop_name %}{{ c }}{% endfor %}",
        "template may only loop over 'items'",
    ),
    "syntax-error": ("{% if shop_name %}", "template has a syntax error on line 1"),
    "too-large": (
        "x" * (MAX_SOURCE_BYTES + 1),
        f"template is {MAX_SOURCE_BYTES + 1 + len(UNSUB):,} bytes; the maximum is 20,480",
    ),
    "deep-nesting": ("{{ " + "(" * 300 + "1" + ")" * 300 + " }}", "template is too deeply nested"),
}
REFUSALS = [
    *(pytest.param(source + UNSUB, message, id=key) for key, (source, message) in _REFUSED.items()),
    pytest.param(
        "<p>No way out</p>", "template must include the unsubscribe link", id="no-unsubscribe"
    ),
]


@pytest.mark.parametrize(("source", "message"), REFUSALS)
def test_refused_html_override_falls_back_to_the_default(source: str, message: str) -> None:
    # Given an HTML override that breaks a rule
    ctx = make_ctx("firm")
    # When the email is rendered with it
    email = render_email(ctx, EmailOverride(html=source))
    # Then the default HTML is sent and the error names the problem
    assert email.html == default_html(ctx)
    assert email.template == "email/firm"
    assert email.override_error is not None
    assert email.override_error.startswith("html override refused: ")
    assert message in email.override_error


@pytest.mark.parametrize(("source", "message"), REFUSALS)
def test_validate_override_refuses_the_same_templates(source: str, message: str) -> None:
    # Given the same override saved through the admin API / Then it is refused with the reason
    with pytest.raises(TemplateRejected) as refused:
        validate_override("html", source)
    assert message in refused.value.message


def test_each_refused_part_is_reported_and_the_rest_used() -> None:
    # Given a bad subject, a good HTML and a bad text override
    override = EmailOverride(
        subject="{{ secret }}",
        html="<p>{{ shop_name }}</p>{{ unsubscribe_url }}",
        text="{% include 'x' %}",
    )
    # When rendered
    email = render_email(make_ctx(), override)
    # Then the good part is used and both refusals are named
    assert email.html == f"<p>Demo Electronics</p>{UNSUBSCRIBE_URL.replace('&', '&amp;')}"
    assert email.template == "email/friendly+override:html"
    assert email.override_error == (
        "subject override refused: template uses unknown variable 'secret'; "
        "text override refused: template may not use '{% include %}'"
    )


def test_validation_renders_against_a_context_without_optional_values() -> None:
    # Given an override that only works when a pay link exists
    source = "{{ pay_url[0] }}{{ unsubscribe_url }}"
    # When it is saved / Then it is refused: a reminder without a pay link would fail
    with pytest.raises(TemplateRejected, match="template failed"):
        validate_override("html", source)


def test_validate_override_accepts_every_kind_and_refuses_unknown_kinds() -> None:
    validate_override("subject", "{{ shop_name }}: {{ order_name }}")
    validate_override("text", "{{ amount_owed }} {{ unsubscribe_url }}")
    validate_override("sms", "{{ shop_name }}: {{ amount_owed_plain }} Reply STOP to opt out")
    with pytest.raises(TemplateRejected, match="unknown template kind"):
        validate_override("letter", "x")  # type: ignore[arg-type]


# --- bounded rendering -----------------------------------------------------------------------


def _hundred_items_ctx() -> MessageContext:
    items = tuple(ItemLine(f"Item {i:03}", 1, Money("USD", 100)) for i in range(100))
    return make_ctx(items=items)


@pytest.mark.usefixtures("no_time_budget")
def test_nested_loop_over_a_hundred_items_finishes_with_bounded_output() -> None:
    # Given 100 items and an override that loops over them twice, nested
    ctx = _hundred_items_ctx()
    source = (
        "{% for a in items %}{% for b in items %}.{% endfor %}{% endfor %}{{ unsubscribe_url }}"
    )
    # When rendered
    email = render_email(ctx, EmailOverride(html=source))
    # Then it finishes with exactly 100 x 100 dots, well inside the output limit
    assert email.override_error is None
    assert email.html == "." * 10_000 + UNSUBSCRIBE_URL.replace("&", "&amp;")
    assert len(email.html) <= MAX_OUTPUT_CHARS


@pytest.mark.usefixtures("no_time_budget")
def test_nested_loop_with_large_output_is_cut_off() -> None:
    # Given a nested loop printing two titles per pair (about 160 KB)
    ctx = _hundred_items_ctx()
    source = (
        "{% for a in items %}{% for b in items %}{{ a.title }}{{ b.title }}{% endfor %}"
        "{% endfor %}{{ unsubscribe_url }}"
    )
    # When rendered / Then it stops at the output limit and the default is used
    email = render_email(ctx, EmailOverride(html=source))
    assert email.html == default_html(ctx)
    assert email.override_error is not None
    assert f"longer than {MAX_OUTPUT_CHARS:,} characters" in email.override_error


def test_loops_are_nested_at_most_two_deep() -> None:
    source = (
        "{% for a in items %}{% for b in items %}{% for c in items %}{% endfor %}{% endfor %}"
        "{% endfor %}{{ unsubscribe_url }}"
    )
    with pytest.raises(TemplateRejected, match="nested at most 2 deep"):
        validate_override("html", source)


@pytest.mark.usefixtures("no_time_budget")
def test_many_silent_loops_run_out_of_iteration_budget() -> None:
    # Given an override of six nested loops that print nothing: 60,600 item iterations
    ctx = _hundred_items_ctx()
    loops = "{% for a in items %}{% for b in items %}{% endfor %}{% endfor %}"
    source = loops * 6 + "{{ unsubscribe_url }}"
    # When rendered / Then the iteration budget stops it
    email = render_email(ctx, EmailOverride(html=source))
    assert email.override_error is not None
    assert f"more than {MAX_ITEM_ITERATIONS:,} item iterations" in email.override_error
    # And four of them (40,400 iterations) are within the budget
    ok = render_email(ctx, EmailOverride(html=loops * 4 + "{{ unsubscribe_url }}"))
    assert ok.override_error is None


@pytest.mark.usefixtures("no_time_budget")
def test_slices_and_filters_over_items_draw_on_the_same_budget() -> None:
    # Given loops over slices of items, which could otherwise escape the budget
    ctx = _hundred_items_ctx()
    loops = "{% for a in items[:] %}{% for b in items[0:] %}{% endfor %}{% endfor %}"
    email = render_email(ctx, EmailOverride(html=loops * 6 + "{{ unsubscribe_url }}"))
    # Then the budget stops them just the same
    assert email.override_error is not None
    assert "item iterations" in email.override_error


# --- the time budget -------------------------------------------------------------------------

# Nested loops over 200 long titles, each body a chain of string filters: about 40,000 bodies
# of milliseconds each, minutes in all, and within every static limit and the iteration budget.
SLOW_BODY = (
    "{% if (a.title ~ b.title ~ a.title ~ b.title)|striptags|title|wordcount > 100000 %}"
    "x{% endif %}"
)
SLOW = (
    "{% for a in items[:200] %}{% for b in items[:200] %}"
    + SLOW_BODY
    + "{% endfor %}{% endfor %}{{ unsubscribe_url }}"
)


def _large_ctx(count: int = 250) -> MessageContext:
    items = tuple(ItemLine(f"{i:03} " + "Long product title " * 13, 1, None) for i in range(count))
    return make_ctx(items=items)


def test_a_slow_template_is_refused_at_save_naming_the_time_budget_within_it() -> None:
    # Given a template that is fast for a small order and takes minutes for a large one
    validate_override("html", SLOW.replace("items[:200]", "items[:1]"))
    # When the shop saves it
    started = time.monotonic()
    with pytest.raises(TemplateRejected) as refused:
        validate_override("html", SLOW)
    elapsed = time.monotonic() - started
    # Then it is refused with a reason that names the budget
    assert refused.value.message == (
        f"template takes longer than {MAX_RENDER_MS} ms to render (the time budget of one message)"
    )
    # and the check itself stopped early: three samples, one of which hits the deadline
    assert elapsed < 5.0  # unbounded, minutes; the bound leaves room for a loaded machine


def test_at_send_time_a_template_over_the_time_budget_falls_back_to_the_default() -> None:
    # Given a stored override that is too slow for this order (saved before the check, say)
    ctx = _large_ctx(200)
    # When the reminder is rendered
    started = time.monotonic()
    email = render_email(ctx, EmailOverride(subject="{{ order_name }}", html=SLOW))
    elapsed = time.monotonic() - started
    # Then the customer gets the default HTML, the subject override is kept, and the trail's
    # reason names the budget; the render was cut short, not run to the end
    assert email.html == default_html(ctx)
    assert email.subject == "#1042"
    assert email.override_error == (
        f"html override refused: template takes longer than {MAX_RENDER_MS} ms to render "
        "(the time budget of one message)"
    )
    assert elapsed < 5.0  # unbounded, minutes; the bound leaves room for a loaded machine


def test_the_clock_is_read_during_rendering_and_stops_it_early() -> None:
    # Given a budget whose clock advances 1 ms at every reading
    ticks = itertools.count()
    budget = RenderBudget(milliseconds=50, clock=lambda: next(ticks) / 1000)
    ctx = _large_ctx(200)
    template = compile_override(
        "html", "{% for a in items %}{% for b in items %}{% endfor %}{% endfor %}"
    )
    # When a render of 40,000 silent iterations runs on it
    with pytest.raises(TemplateRejected, match="longer than 50 ms"):
        render_override(template, template_variables(ctx, budget), budget)
    # Then it stopped after about 50 iterations, mid-loop, not after the render
    spent = MAX_ITEM_ITERATIONS - budget.iterations_left
    assert 45 <= spent <= 55


def test_compiling_and_building_variables_are_not_the_templates_time() -> None:
    # Given a budget already started by one part, on a clock the test moves by hand
    now = [0.0]
    budget = RenderBudget(milliseconds=50, clock=lambda: now[0])
    budget.start()
    # When compiling the next part takes 200 ms (cold, on a loaded machine)
    with budget.paused():
        now[0] += 0.2
    # Then the 50 ms are still there for rendering: 49 ms more pass, 51 ms do not
    now[0] += 0.049
    budget.check_time()
    now[0] += 0.002
    with pytest.raises(SecurityError, match="longer than 50 ms"):  # the sandbox's refusal
        budget.check_time()


class _PausedBudget(RenderBudget):
    """A budget whose second is gone as soon as its clock starts: the machine paused."""

    __slots__ = ()

    def start(self) -> None:
        if self.deadline is None:
            super().start()
            self.deadline = (self.deadline or 0.0) - 1.0


class _StallingBudgets:
    """RenderBudget as render.py makes it; the first `stalls` of them paused."""

    def __init__(self, stalls: int) -> None:
        self.stalls = stalls
        self.made = 0

    def __call__(self) -> RenderBudget:
        self.made += 1
        return _PausedBudget() if self.made <= self.stalls else RenderBudget()


def test_a_template_slowed_once_by_a_pause_of_the_machine_is_saved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a template that fits, and a machine that pauses for a second during its first
    # sample's render
    budgets = _StallingBudgets(stalls=1)
    monkeypatch.setattr("recoup.channels.render.RenderBudget", budgets)
    # When the shop saves it
    validate_overrides({"subject": "{{ order_name }}", "sms": "{{ pay_url }} STOP"})
    # Then it is saved: that sample was rendered once more, on a budget of its own
    assert budgets.made == len(render._samples()) + 1


def test_a_template_over_the_time_budget_twice_is_refused_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a render that overruns its time every time
    budgets = _StallingBudgets(stalls=99)
    monkeypatch.setattr("recoup.channels.render.RenderBudget", budgets)
    # When the shop saves a template
    with pytest.raises(TemplateRejected, match=f"longer than {MAX_RENDER_MS} ms") as refused:
        validate_overrides({"subject": "{{ order_name }}"})
    # Then it is refused for time after its second try of the first sample
    assert isinstance(refused.value, TemplateTooSlow)
    assert budgets.made == 2


def test_the_draft_check_tries_a_part_slowed_once_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a draft that fits, on a machine that pauses during its first sample
    monkeypatch.setattr("recoup.channels.render.RenderBudget", _StallingBudgets(stalls=1))
    # When the editor checks it, part by part
    # Then nothing is refused
    assert check_draft({"subject": "{{ order_name }}", "sms": "{{ pay_url }} STOP"}) == ()
    # and a draft that overruns every time has its first part refused for time
    monkeypatch.setattr("recoup.channels.render.RenderBudget", _StallingBudgets(stalls=99))
    (refused,) = check_draft({"subject": "{{ order_name }}"})
    assert refused.part == "subject" and f"longer than {MAX_RENDER_MS} ms" in refused.message


@pytest.mark.usefixtures("no_time_budget")
def test_the_save_check_renders_the_largest_order() -> None:
    # Given a template whose nested loop is fine for a few items (2 x 2 bodies) but takes
    # 62,500 bodies for an order of 250 items
    source = (
        "{% for a in items %}{% for b in items %}.{% endfor %}{% endfor %}{{ unsubscribe_url }}"
    )
    ok = render_email(make_ctx(), EmailOverride(html=source))
    assert ok.override_error is None
    # When the shop saves it / Then it is refused for the largest order, naming the budget
    with pytest.raises(TemplateRejected, match=f"more than {MAX_ITEM_ITERATIONS:,} item"):
        validate_override("html", source)


@pytest.mark.usefixtures("no_time_budget")
def test_the_parts_of_one_message_share_its_output_budget() -> None:
    # Given an HTML and a text override, each printing 60,000 characters (each within the
    # budget alone, not both)
    ctx = _large_ctx(6)
    html = "{% for a in items[:6] %}" + "x" * 10_000 + "{% endfor %}{{ unsubscribe_url }}"
    text = "{% for a in items[:6] %}" + "y" * 10_000 + "{% endfor %}{{ unsubscribe_url }}"
    assert len(html.encode()) <= MAX_SOURCE_BYTES
    # When one reminder is rendered with both
    email = render_email(ctx, EmailOverride(html=html, text=text))
    # Then the first is used and the second falls back, naming the budget of one message
    assert email.template == "email/friendly+override:html"
    assert email.override_error == (
        f"text override refused: template output is longer than {MAX_OUTPUT_CHARS:,} "
        "characters (the budget of one message)"
    )
    # and saving the two together is refused, while each alone passes
    validate_override("html", html)
    validate_override("text", text)
    with pytest.raises(TemplateRejected, match="the budget of one message"):
        validate_overrides({"html": html, "text": text})
    with pytest.raises(TemplateRejected, match="the budget of one message"):
        set_template("demo-electronics.myshopify.com", "friendly", {"html": html, "text": text})


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                *"{}%#()[]|.'\"~+-/*,=<> \n",
                *("{{", "}}", "{%", "%}", "for", "in", "items", "if", "endif", "endfor"),
                *("loop", "shop_name", "pay_url", "__class__", "range", "x", "0", "1"),
                *("unsubscribe_url", "|upper", "|first", ".title", "set", "macro"),
            ]
        ),
        max_size=40,
    ).map("".join)
)
def test_any_override_either_renders_or_falls_back(source: str) -> None:
    # Given any template source a shop could save / When an email is rendered with it
    email = render_email(make_ctx(), EmailOverride(html=source))
    # Then rendering never fails: the override is used, or refused with a reason
    if email.override_error is None:
        assert email.template == "email/friendly+override:html"
    else:
        assert email.override_error.startswith("html override refused: ")
        assert email.html == default_html(make_ctx())


# --- copy by payment situation, the customer's page, amounts that reconcile ------------------


def test_the_situation_is_one_of_the_known_ones() -> None:
    with pytest.raises(ValueError, match="situation must be one of"):
        make_ctx(situation="card_melted")
    assert template_variables(make_ctx(situation="expired_card"))["situation"] == "expired_card"


def test_a_bank_transfer_is_never_told_its_card_may_have_expired() -> None:
    # Given a friendly reminder for an order paid by bank transfer
    email = render_email(make_ctx(situation="manual_payment_pending", pay_url=None))
    # Then it gives the transfer instructions and says nothing of cards
    assert "Please transfer $1,899.00" in email.text
    assert "quoting order #1042 as the reference" in email.text
    assert "card" not in email.text.lower()
    assert "card" not in email.html.lower()
    assert "We're still waiting for your payment" in email.subject + email.text


@pytest.mark.parametrize(
    ("situation", "says"),
    [
        ("insufficient_funds", "pay with another card, or pay later"),
        ("expired_card", "has expired"),
        ("incorrect_card", "security code"),
        ("authentication_required", "confirm the payment"),
        ("card_declined", "Your bank declined the card payment"),
        ("card_not_usable", "Please pay with another card or another payment method"),
        ("awaiting_payment", "We have not yet received your payment for this order."),
        ("partially_paid", "The remaining $1,899.00 is still open"),
        ("instalment_missed", "An instalment of your payment plan"),
        ("promise_broken", "You told us you would pay"),
        ("promise_due", "due tomorrow"),
        # With no due date in the context (terms due on fulfilment): said without it
        ("payment_due_soon", "Your payment of $1,899.00 for order #1042 is due soon."),
        ("terms_overdue", "The payment for order #1042 is now due"),
        ("payment_failed", "We could not complete the payment"),
    ],
)
def test_each_situation_says_what_fits(situation: str, says: str) -> None:
    email = render_email(make_ctx("firm", situation=situation))
    assert says in email.text
    assert says in email.html
    # Only the card situations talk about cards
    mentions_card = "card" in email.text.lower()
    card_situations = {
        "card_not_usable",
        "insufficient_funds",
        "expired_card",
        "incorrect_card",
        "card_declined",
    }
    assert mentions_card == (situation in card_situations)


def test_a_promise_due_is_a_friendly_nudge_not_a_problem() -> None:
    email = render_email(make_ctx("friendly", situation="promise_due"))
    assert email.subject == "Demo Electronics: your payment for order #1042 is due tomorrow"
    assert "Did something go wrong" not in email.html


PAGE_URL = "https://pay.example.com/c/" + "Q" * 22  # the page link: about 50 characters


@pytest.mark.parametrize("tone", TONES)
def test_every_message_links_the_customers_page_and_an_sms_only_it(tone: Tone) -> None:
    # Given a reminder with both a pay link and the customer's page
    ctx = make_ctx(tone, page_url=PAGE_URL)
    email, sms = render_email(ctx), render_sms(ctx).body
    # Then the email offers both
    assert f"See your order, pay, or choose another way: {PAGE_URL}" in email.text
    assert f'<a href="{PAGE_URL}"' in email.html
    assert f"Pay securely: {PAY_URL}" in email.text
    # And the SMS carries the page link alone (one link per SMS)
    assert PAGE_URL in sms
    assert PAY_URL not in sms
    # And without the page the SMS carries the pay link
    assert PAY_URL in render_sms(make_ctx(tone)).body


SMS_LANGUAGES = {"en-US": "USD", "de-DE": "EUR", "fr-FR": "EUR", "es-ES": "EUR", "ja-JP": "JPY"}


def _sms_ctx(locale: str, situation: str, tone: Tone, step: int) -> MessageContext:
    currency = SMS_LANGUAGES[locale]
    return make_ctx(
        tone,
        shop_name="Demo Shop",
        locale=locale,
        currency=currency,
        owed_minor=189_900 if currency != "JPY" else 18_990,
        situation=situation,
        page_url=PAGE_URL,
        step_number=step,
    )


@pytest.mark.parametrize("locale", SMS_LANGUAGES)
@pytest.mark.parametrize("situation", SITUATIONS)
def test_each_sms_fits_one_segment_where_it_can(locale: str, situation: str) -> None:
    # Given a short shop name and the page link, every step of the sequence
    for tone, step in (("friendly", 1), ("firm", 2), ("firm", 3), ("final_notice", 4)):
        body = render_sms(_sms_ctx(locale, situation, cast(Tone, tone), step)).body
        size = measure(body)
        if locale == "ja-JP" or tone == "final_notice":
            # Japanese goes as UCS-2 (70 a segment, the link alone is 48), and a final
            # notice must state its date and what follows: these may take two segments, a
            # Japanese final notice that also says a promise was broken three
            final = tone == "final_notice" and locale == "ja-JP"
            limit = MAX_FINAL_NOTICE_SMS_SEGMENTS if final else MAX_SMS_SEGMENTS
            assert size.segments <= limit, body
        else:
            # Everything else is one GSM-7 segment: no accent outside the GSM alphabet
            assert size.encoding == "GSM-7", body
            assert size.segments == 1, (size.length, body)


@pytest.mark.parametrize("locale", SMS_LANGUAGES)
@pytest.mark.parametrize("situation", sorted(set(SITUATIONS) - set(NOT_DERIVED)))
def test_consecutive_sms_steps_never_repeat_word_for_word(locale: str, situation: str) -> None:
    tones: list[Tone] = ["friendly", "firm", "firm", "final_notice"]
    bodies = [
        render_sms(_sms_ctx(locale, situation, tone, step)).body
        for step, tone in enumerate(tones, start=1)
    ]
    assert all(a != b for a, b in itertools.pairwise(bodies)), bodies
    # Nor do two middle steps of the same tone, the case the numbering is for
    firm = [render_sms(_sms_ctx(locale, situation, "firm", step)).body for step in (2, 3, 4)]
    assert len(set(firm)) == 3


@pytest.mark.parametrize("locale", SMS_LANGUAGES)
@pytest.mark.parametrize("shop", ["Demo Shop", "Electrónica Pérez"])
def test_a_missed_instalments_sms_fits_two_segments_and_states_its_figures(
    locale: str, shop: str
) -> None:
    # Given the notice of a missed instalment with the page link, in each language
    currency = SMS_LANGUAGES[locale]
    ctx = make_plan_ctx(locale=locale, currency=currency, shop_name=shop, page_url=PAGE_URL)
    # When its SMS is rendered
    body = render_sms(ctx).body
    size = measure(body)
    # Then it takes at most two segments, in GSM-7 where the language allows
    assert size.segments <= MAX_SMS_SEGMENTS, (size, body)
    assert size.encoding == ("UCS-2" if locale == "ja-JP" else "GSM-7"), body
    # And it names the instalment of the plan, its amount, the day and the time to pay it
    # by (the customer's clock), the link and the opt-out
    words = template_variables(ctx)["plan"]
    number = {"ja-JP": "第2回（全3回）"}.get(locale, "2 ")
    for said in (number, words.amount_plain, words.pay_by_short, words.pay_by_time, PAGE_URL):
        assert said in body, (said, body)
    assert body.endswith(i18n.translations("messages", i18n.language_for(locale)).gettext(STOP))
    assert (words.pay_by_short, words.pay_by_time) == {
        "en-US": ("Dec 8", "10:00 AM"),
        "de-DE": ("8. Dez.", "10:00"),
        "fr-FR": ("8 déc.", "10:00"),
        "es-ES": ("8 dic", "10:00"),
        "ja-JP": ("12月8日", "10:00"),
    }[locale]


def test_amount_summary_adds_up_and_names_what_it_cannot_explain() -> None:
    # Given priced lines (1,899.00 + 2 x 50.00), shipping and added taxes known, and a
    # total that holds 5.00 more than those parts (a fee the snapshot does not itemise)
    ctx = make_ctx(
        items=(
            ItemLine("Laptop", 1, Money("USD", 189_900)),
            ItemLine("Cable", 2, Money("USD", 5_000)),
        ),
        order_total=Money("USD", 211_900),
        amount_owed=Money("USD", 111_900),
        shipping=Money("USD", 2_000),
        taxes=Money("USD", 9_500),
    )
    summary = amount_summary(ctx)
    assert summary.subtotal == Money("USD", 199_900)
    assert summary.other == Money("USD", 500)
    assert summary.paid == Money("USD", 100_000)
    text = render_email(ctx).text
    assert "Other charges: $5.00" in text
    assert "Paid so far: $1,000.00" in text
    assert "Amount due: $1,119.00" in text


def test_amount_summary_shows_no_breakdown_when_the_base_is_unknown() -> None:
    # Given a line without a price and no subtotal: shipping alone would not add up
    ctx = make_ctx(shipping=Money("USD", 2_000), order_total=Money("USD", 189_900))
    summary = amount_summary(ctx)
    assert (summary.subtotal, summary.shipping, summary.other) == (None, None, None)
    text = render_email(ctx).text
    assert "Shipping" not in text
    assert "Total: $1,899.00" in text


def test_included_taxes_are_shown_but_not_added() -> None:
    ctx = make_ctx(
        items=(ItemLine("Laptop", 1, Money("EUR", 119_000)),),
        currency="EUR",
        owed_minor=119_000,
        taxes=Money("EUR", 19_000),
        taxes_included=True,
    )
    summary = amount_summary(ctx)
    assert summary.taxes is None
    assert summary.included_taxes == Money("EUR", 19_000)
    assert summary.other is None
    assert "Including taxes: €190.00" in render_email(ctx).text


_FIGURE = re.compile(
    r"^(Subtotal|Discounts|Shipping|Taxes|Other charges|Other credits|Total|Paid so far"
    r"|Amount due): (-?)\D*([\d,]+\.\d\d)$",
    re.MULTILINE,
)


def _figures(text: str) -> dict[str, int]:
    """The amounts listed under the lines, in minor units (the English rendering)."""
    found = {}
    for label, sign, number in _FIGURE.findall(text):
        minor = int(number.replace(",", "").replace(".", ""))
        found[label] = -minor if sign else minor
    return found


def _case_from_fixture(order: dict[str, Any]) -> Case:
    body = json.dumps(order).encode()
    delivery = shopify.read_delivery(shopify_headers(body, "secret", "orders/updated"))
    event = shopify.normalise(delivery, body)
    assert event is not None
    return apply(new_case("demo.myshopify.com", event.case_id), event).case


def _fixture_orders() -> list[Any]:
    partial = event_json("shopify/order_partially_paid.json")
    # Shopify's own sample order (a real delivery, with shipping and a discount that its
    # current totals no longer count: the figures must still add up); our one change: it
    # is pending and not cancelled rather than voided and cancelled, so that it opens a case
    sample = event_json("shopify/sample_orders_create_2024_10.json")
    sample["financial_status"] = "pending"
    sample["cancelled_at"] = None
    return [pytest.param(partial, id="tax-shipping-part-paid"), pytest.param(sample, id="discount")]


@pytest.mark.parametrize("order", _fixture_orders())
def test_the_emails_figures_from_a_real_order_add_up(order: dict[str, Any]) -> None:
    # Given a case built from a Shopify order with taxes, shipping, discounts or a payment
    case = _case_from_fixture(order)
    step = cadence.default_policy().steps[0]
    # When its first reminder is composed (in English, to read the figures back)
    ctx = compose.message_context(
        case,
        step,
        0,
        None,
        reply_to=None,
        links=compose.Links(unsubscribe=UNSUBSCRIBE_URL),
        notice=None,
        language="en",
    )
    figures = _figures(render_email(ctx).text)
    # Then the listed parts add up to the total, and the total less what was paid to the
    # amount due, which is what the case says is owed
    assert case.snapshot is not None and case.snapshot.order_total is not None
    parts = sum(
        figures.get(label, 0)
        for label in ("Subtotal", "Discounts", "Shipping", "Taxes", "Other charges")
    ) + figures.get("Other credits", 0)
    assert figures["Subtotal"] > 0
    assert parts == figures["Total"] == case.snapshot.order_total.minor
    owed = case.amount_owed
    assert owed is not None
    assert figures["Total"] - figures.get("Paid so far", 0) == owed.minor
    # And the lines listed are the order's, summing to the subtotal
    lines = sum(i.unit_price.minor * i.quantity for i in ctx.items if i.unit_price)
    assert lines == figures["Subtotal"]


def test_compose_derives_the_situation_and_puts_a_stated_language_first() -> None:
    # Given a partly paid order of a German customer (customer_locale "de")
    case = _case_from_fixture(event_json("shopify/order_partially_paid.json"))
    step = cadence.default_policy().steps[0]
    links = compose.Links(unsubscribe=UNSUBSCRIBE_URL, pay=PAY_URL, page=PAGE_URL)

    def context(**kwargs: Any) -> MessageContext:
        return compose.message_context(
            case, step, 0, None, reply_to=None, links=links, notice=None, **kwargs
        )

    # When composed with nothing said / Then the case's situation and the order's locale
    derived = context()
    assert derived.situation == "partially_paid" == str(payment_situation.of(case))
    assert derived.locale == "de"
    assert derived.page_url == PAGE_URL
    assert "Vielen Dank für die bereits gezahlten" in render_email(derived).text
    # And she is greeted by her full name, as a German letter does, with no comma
    assert (derived.customer_first_name, derived.customer_last_name) == ("Katrin", "Vogel")
    assert "\nGuten Tag Katrin Vogel\n" in render_email(derived).text
    # And a caller's situation and the customer's stated language win
    stated = context(situation=Situation.PROMISE_DUE, language="fr")
    assert stated.situation == "promise_due"
    assert stated.locale == "fr"
    assert "votre paiement est attendu demain" in render_email(stated).text


# --- the words, as the customer reads them ----------------------------------------------------

# The page link as production makes it: an API Gateway address and a 24-character token.
PRODUCTION_PAGE_URL = "https://abcdefghij.execute-api.eu-central-1.amazonaws.com/Prod/c/" + "t" * 24
LANGUAGES = ("en-US", "de-DE", "fr-FR", "es-ES", "ja-JP")


@pytest.mark.parametrize("locale", LANGUAGES)
@pytest.mark.parametrize("situation", SITUATIONS)
def test_a_production_length_link_and_an_accented_shop_name_fit_two_segments(
    locale: str, situation: str
) -> None:
    # Given a shop named with letters outside GSM-7 and the production page link
    for tone, step in (("friendly", 1), ("firm", 2), ("final_notice", 3)):
        ctx = make_ctx(
            cast(Tone, tone),
            shop_name="Electrónica Pérez",
            locale=locale,
            currency=SMS_LANGUAGES[locale],
            owed_minor=129_800 if locale == "ja-JP" else 189_900,
            situation=situation,
            page_url=PRODUCTION_PAGE_URL,
            step_number=step,
        )
        # When the SMS is rendered
        body = render_sms(ctx).body
        size = measure(body)
        # Then the link and the opt-out are whole, and the shop is still named
        stop = i18n.translations("messages", i18n.language_for(locale)).gettext(STOP)
        assert body.endswith(f" {PRODUCTION_PAGE_URL} {stop}"), body
        assert body.startswith("Elect"), body
        if locale == "ja-JP":
            # Japanese is UCS-2 whatever the shop's name: 134 characters in two segments;
            # a final notice stating its date and what follows may take a third
            limit = MAX_FINAL_NOTICE_SMS_SEGMENTS if tone == "final_notice" else MAX_SMS_SEGMENTS
            assert size.segments <= limit, (size, body)
        else:
            # Elsewhere the "ó" is folded so that the SMS stays GSM-7 (é is in GSM-7)
            assert size.encoding == "GSM-7", body
            assert size.segments <= MAX_SMS_SEGMENTS, (size, body)
            assert body.startswith("Electronica Pérez: "), body


def test_an_sms_too_long_for_its_wording_falls_back_to_the_short_form() -> None:
    # Given a Japanese reminder with the production link: the full sentence cannot fit
    ctx = make_ctx(
        "friendly",
        locale="ja-JP",
        currency="JPY",
        owed_minor=129_800,
        situation="expired_card",
        page_url=PRODUCTION_PAGE_URL,
        step_number=1,
    )
    body = render_sms(ctx).body
    # Then it says the amount and the order in the short form, in two segments
    assert "ご注文#1042の129,800円が未払いです。" in body
    assert measure(body).segments == 2
    # And with a short link it says the whole sentence
    assert "有効期限切れ" in render_sms(dataclasses.replace(ctx, page_url=PAGE_URL)).body


@pytest.mark.parametrize("locale", LANGUAGES)
def test_a_missed_instalments_sms_with_a_production_link_fits_without_its_figures_if_it_must(
    locale: str,
) -> None:
    # Given the notice with the production page link and an accented shop name
    ctx = make_plan_ctx(
        locale=locale,
        currency=SMS_LANGUAGES[locale],
        shop_name="Electrónica Pérez",
        page_url=PRODUCTION_PAGE_URL,
    )
    # When its SMS is rendered
    body = render_sms(ctx).body
    # Then it fits two segments with the link and the opt-out whole, the shop still named
    stop = i18n.translations("messages", i18n.language_for(locale)).gettext(STOP)
    assert measure(body).segments <= MAX_SMS_SEGMENTS, body
    assert body.endswith(f" {PRODUCTION_PAGE_URL} {stop}"), body
    assert body.startswith("Elect"), body
    if locale == "ja-JP":
        # Japanese cannot hold the figures beside a 90-character link: it says that an
        # instalment of the order is unpaid, and the link leads to them
        assert "ご注文#1042の分割払いが未払いです。" in body
    else:
        assert template_variables(ctx)["plan"].amount_plain in body


def test_a_broken_plans_sms_says_the_plan_ended_and_the_balance_is_due() -> None:
    for tone in ("friendly", "firm"):
        ctx = make_ctx(
            cast(Tone, tone), situation="plan_broken", owed_minor=126_600, page_url=PAGE_URL
        )
        body = render_sms(ctx).body
        assert body.startswith(
            "Demo Electronics: your payment plan for order #1042 has ended. "
            "1,266.00 USD is now due."
        ), body
        assert measure(body).segments == 1


@pytest.mark.parametrize("locale", LANGUAGES)
def test_an_sms_never_names_insufficient_funds(locale: str) -> None:
    # A lock screen shows it to whoever holds the phone: the generic decline is said instead
    ctx = make_ctx("friendly", locale=locale, situation="insufficient_funds", step_number=1)
    generic = render_sms(dataclasses.replace(ctx, situation="card_declined")).body
    assert render_sms(ctx).body == generic
    for words in ("insufficient", "Deckung", "insuffisants", "fondos", "残高", "不足"):
        assert words not in render_sms(ctx).body


@pytest.mark.parametrize(
    ("locale", "says"),
    [
        ("en-US", "thank you for the $1,000.00 you have paid. $899.00 is still due"),
        ("de-DE", "Danke für Ihre Zahlung von 1.000,00 €. Für Bestellung #1042 sind noch 899,00 €"),
        ("fr-FR", "merci pour les 1 000,00 € payés. Reste 899,00 €"),
        ("es-ES", "gracias por los 1.000,00 € pagados. Quedan 899,00 €"),
        (
            "ja-JP",
            "$1,000.00のお支払いありがとうございます。ご注文#1042の残り$899.00が未払いです。",
        ),
    ],
)
def test_the_part_payment_sms_states_what_was_paid_and_what_remains(locale: str, says: str) -> None:
    currency = "USD" if locale in ("en-US", "ja-JP") else "EUR"
    ctx = make_ctx(
        "friendly",
        locale=locale,
        currency=currency,
        situation="partially_paid",
        step_number=1,
        owed_minor=89_900,
        order_total=Money(currency, 189_900),
    )
    body = render_sms(ctx).body
    assert says in body
    assert measure(body).encoding == ("UCS-2" if locale == "ja-JP" else "GSM-7")


@pytest.mark.parametrize("locale", LANGUAGES)
def test_a_card_that_cannot_be_used_is_never_told_to_try_the_same_card(locale: str) -> None:
    ctx = make_ctx("friendly", locale=locale, situation="card_not_usable", step_number=1)
    email, sms = render_email(ctx), render_sms(ctx).body
    declined = render_email(dataclasses.replace(ctx, situation="card_declined"))
    # The decline's "the same card usually works" sentence is not there, in any language
    same_card = i18n.translations("messages", i18n.language_for(locale)).gettext(
        "Your bank declined the card payment. Banks sometimes do this as a precaution: paying "
        "again, with the same card or another one, usually works."
    )
    assert same_card in declined.text
    assert same_card not in email.text and same_card not in email.html
    # And another card or payment method is what it asks for, in the email and the SMS
    words = {
        "en-US": ("another card or another payment method", "another card or payment method"),
        "de-DE": ("anderen Karte oder einer anderen Zahlungsart", "anderer Karte oder Zahlungsart"),
        "fr-FR": ("autre carte ou un autre moyen de paiement", "autre carte ou un autre moyen"),
        "es-ES": ("otra tarjeta u otro método de pago", "otra tarjeta u otro medio de pago"),
        "ja-JP": ("別のカードまたは別のお支払い方法", "別のカードかお支払い方法"),
    }[locale]
    assert words[0] in email.text
    assert words[1] in sms


@pytest.mark.parametrize(
    ("first", "last", "locale", "greeting"),
    [
        ("Hanako", "佐藤", "ja-JP", "佐藤様"),
        ("Hanako", None, "ja-JP", "お客様"),  # a given name alone is not how Japanese greets
        (None, None, "ja-JP", "お客様"),
        ("Katrin", "Vogel", "de-DE", "Guten Tag Katrin Vogel"),  # no comma: German style
        ("Katrin", None, "de-DE", "Guten Tag Katrin"),
        (None, "Vogel", "de-DE", "Guten Tag"),
        ("Alex", "Smith", "en-US", "Hi Alex,"),
        ("Alex", "Martin", "fr-FR", "Bonjour Alex,"),
    ],
)
def test_the_greeting_uses_the_name_the_language_greets_by(
    first: str | None, last: str | None, locale: str, greeting: str
) -> None:
    ctx = make_ctx(locale=locale, customer_first_name=first, customer_last_name=last)
    email = render_email(ctx)
    assert f"\n{greeting}\n" in email.text
    assert f">{greeting}</p>" in email.html


@pytest.mark.parametrize(
    ("locale", "label", "subtotal"),
    [
        ("en-US", "Amount due for order #1042: $1,899.00", "Subtotal: "),
        ("fr-FR", "Montant dû pour la commande #1042 : 1 899,00", "Sous-total : "),
        ("ja-JP", "ご注文#1042の未払い金額： $1,899.00", "小計： "),
    ],
)
def test_the_colon_after_a_label_is_the_languages_own(
    locale: str, label: str, subtotal: str
) -> None:
    ctx = make_ctx(locale=locale, subtotal=Money("USD", 189_900))
    text = " ".join(render_email(ctx).text.split(" "))
    assert label in text.replace("\u202f", " ").replace("\xa0", " ")
    assert subtotal in text
    if locale != "en-US":
        # No English-style "label: value" is left after a translated label (an item's
        # line, "- 1 x Laptop Pro 14: $1,899.00", is the layout's, not a label's)
        labels = [line for line in text.splitlines() if not line.startswith("- ")]
        assert [line for line in labels if re.search(r"\S: ", line)] == []


@pytest.mark.parametrize(
    ("locale", "email_words", "sms_words"),
    [
        ("fr-FR", "contacter au plus tard le 14 décembre 2026", "au plus tard le 14 déc. 2026"),
        ("es-ES", "con nosotros a más tardar el 14 de diciembre de 2026", "como muy tarde el"),
        ("de-DE", "kontaktieren Sie uns bitte bis zum 14. Dezember 2026", "bis zum 14.12.2026"),
        ("en-US", "please contact us by December 14, 2026", "by Dec 14, 2026"),
    ],
)
def test_a_final_notice_gives_the_same_last_day_in_every_language(
    locale: str, email_words: str, sms_words: str
) -> None:
    ctx = make_ctx("final_notice", locale=locale, referral_to=None)
    email = render_email(ctx)
    assert email_words in email.text
    assert render_sms(ctx).body.count(sms_words) == 1
    for earlier in ("avant le", "antes del", "vor dem", "before"):
        assert earlier not in email.text + email.html + render_sms(ctx).body


@pytest.mark.parametrize("locale", LANGUAGES)
@pytest.mark.parametrize("referral_to", ["agency", "legal", None])
def test_a_broken_promise_is_said_in_the_final_notice_too(
    locale: str, referral_to: str | None
) -> None:
    ctx = make_ctx(
        "final_notice", locale=locale, situation="promise_broken", referral_to=referral_to
    )
    language = i18n.language_for(locale)
    told = i18n.translations("messages", language).gettext(
        "You told us you would pay by the date you chose, but we have not received your "
        "payment yet."
    )
    assert told in render_email(ctx).text
    sms = render_sms(ctx).body
    plain = render_sms(dataclasses.replace(ctx, situation="payment_failed")).body
    assert sms != plain
    assert {
        "en": "you promised",
        "de": "zugesagten",
        "fr": "promis",
        "es": "prometidos",
        "ja": "お約束",
    }[language] in sms


@pytest.mark.parametrize("locale", ["de-DE", "fr-FR", "es-ES", "ja-JP"])
def test_the_firm_email_claims_nothing_about_the_order_being_held(locale: str) -> None:
    email = render_email(make_ctx("firm", locale=locale))
    for held in ("zurückgestellt", "en attente", "retenido", "保留", "on hold"):
        assert held not in email.text and held not in email.html


@pytest.mark.parametrize(
    ("situation", "transfer"),
    [("manual_payment_pending", True), ("awaiting_payment", False)],
)
@pytest.mark.parametrize("locale", LANGUAGES)
def test_only_a_bank_transfer_is_given_transfer_instructions(
    situation: str, transfer: bool, locale: str
) -> None:
    email = render_email(make_ctx("friendly", locale=locale, situation=situation))
    word = {"en": "transfer", "de": "berweis", "fr": "vire", "es": "transfer", "ja": "振"}
    assert (word[i18n.language_for(locale)] in email.text) is transfer
    assert "card" not in email.text.lower()
