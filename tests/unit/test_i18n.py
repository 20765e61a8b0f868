"""The customer's language (recoup.channels.i18n): which one is chosen, the catalogs that
hold it, that every catalog is complete, and that a German, French, Spanish or Japanese
customer gets every word of a reminder in their language."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from recoup.channels import i18n
from recoup.channels.render import (
    TONES,
    EmailOverride,
    MessageContext,
    Tone,
    render_email,
    render_sms,
    validate_overrides,
)
from recoup.domain.cadence import BUILTIN_TEMPLATES
from recoup.domain.payment_situation import SITUATIONS
from recoup.services import message_templates
from tests.unit.test_render import make_ctx, make_plan_ctx

FOREIGN = ("de", "fr", "es", "ja")


@pytest.mark.parametrize(
    ("tags", "language"),
    [
        (("de-CH",), "de"),
        (("ja_JP",), "ja"),
        (("FR-ca",), "fr"),
        (("es-419",), "es"),
        (("pt-BR", "de-DE"), "de"),  # the first supported one, not the first one
        ((None, "", "ja-JP", "de-DE"), "ja"),
        (("pt-BR", None), "en"),
        ((), "en"),
        (("en-GB", "de-DE"), "en"),  # a customer's English beats the shop's German
    ],
)
def test_language_for_takes_the_first_supported_tag(
    tags: tuple[str | None, ...], language: str
) -> None:
    assert i18n.language_for(*tags) == language


def test_locale_for_keeps_the_chosen_tag_so_formatting_follows_the_words() -> None:
    assert i18n.locale_for(None, "de_CH", "fr-FR") == "de-CH"
    assert i18n.locale_for("pt-BR", "it-IT") == "en"  # English words, English money


def test_english_is_the_msgids_and_other_languages_their_catalog() -> None:
    assert i18n.translations("messages", "en").gettext("Total") == "Total"
    assert i18n.translations("messages", "de").gettext("Total") == "Gesamtsumme"
    assert i18n.translations("messages", "ja").gettext("Shipping") == "送料"
    # Japanese has one plural form; French two
    many = "and %(count)s more item", "and %(count)s more items"
    assert i18n.translations("messages", "ja").ngettext(*many, 1) == "ほか%(count)s点"
    assert i18n.translations("messages", "fr").ngettext(*many, 2) == "et %(count)s autres articles"


def test_a_missing_catalog_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a layer whose German catalog was not packaged
    monkeypatch.setattr(i18n, "locales_dir", lambda: tmp_path)
    i18n.translations.cache_clear()
    try:
        # When it is asked for / Then the error names the language, domain and path
        with pytest.raises(i18n.CatalogMissing, match=r"'de' catalog for domain 'messages'"):
            i18n.translations("messages", "de")
    finally:
        i18n.translations.cache_clear()


def test_unknown_domains_and_languages_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown message domain"):
        i18n.translations("letters", "de")
    with pytest.raises(ValueError, match="unsupported language 'pt'"):
        i18n.environment("messages", "pt")


def test_the_environment_escapes_newstyle_arguments_in_html_only() -> None:
    # Given the German environment and a string with an argument
    env = i18n.environment("messages", "de")
    source = "{{ _('Hi %(name)s,', name=who) }}"
    # When rendered with autoescape (as the .html.j2 templates are) and without
    escaped = env.overlay(autoescape=True).from_string(source).render(who="<b>")
    plain = env.from_string(source).render(who="<b>")
    # Then the argument is escaped, not the translation, and only in HTML
    assert escaped == "Guten Tag &lt;b&gt;"  # German drops the comma after the greeting
    assert plain == "Guten Tag <b>"
    assert env.autoescape("email/_layout.html.j2") is True  # type: ignore[operator]
    assert env.autoescape("email/_layout.txt.j2") is False  # type: ignore[operator]
    unescaped = i18n.environment("messages", "de", autoescape_html=False)
    assert unescaped.autoescape("email/_layout.html.j2") is False  # type: ignore[operator]
    # And the same environment is handed out again (parsed once per process)
    assert i18n.environment("messages", "de") is env


@pytest.mark.parametrize("domain", i18n.DOMAINS)
def test_every_catalog_is_complete(domain: str) -> None:
    # Every string the domain's sources use is translated in every supported language
    missing = i18n.missing_translations(domain)
    assert set(missing) == set(i18n.SUPPORTED_LANGUAGES)
    assert missing == {language: [] for language in i18n.SUPPORTED_LANGUAGES}


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


@pytest.mark.parametrize("domain", i18n.DOMAINS)
@pytest.mark.parametrize("language", FOREIGN)
def test_every_translation_uses_exactly_the_placeholders_of_its_msgid(
    domain: str, language: str
) -> None:
    # A translation that drops %(amount)s loses the amount; one that adds a name the
    # template does not pass fails when rendered: each must name exactly the msgid's
    with i18n.catalog_path(domain, language).open("rb") as po:
        catalog = read_po(po, locale=language)
    wrong = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = set().union(*(_placeholders(i) for i in ids))
        for string in strings:
            if _placeholders(string) != expected:
                wrong.append((ids[0], string))
    assert wrong == []


def test_the_placeholder_check_catches_a_dropped_or_renamed_placeholder() -> None:
    assert _placeholders("Pay %(amount)s for %(order)s") == {"amount", "order"}
    assert _placeholders("Bezahlen Sie %(betrag)s") != _placeholders("Pay %(amount)s")


def test_the_messages_sources_are_the_reminder_templates() -> None:
    used = i18n.used_msgids("messages")
    assert "Reply STOP to opt out" in used
    assert "Unsubscribe from payment reminders" in used
    assert len(used) > 80


def _write_po(path: Path, language: str, entries: dict[str, str], fuzzy: set[str]) -> None:
    catalog = Catalog(locale=language)
    for msgid, msgstr in entries.items():
        catalog.add(msgid, msgstr, flags=("fuzzy",) if msgid in fuzzy else ())
    path.parent.mkdir(parents=True)
    with path.open("wb") as po:
        write_po(po, catalog)


def test_an_incomplete_catalog_is_caught(tmp_path: Path) -> None:
    # Given sources that use three strings
    sources = tmp_path / "src"
    (sources / "templates" / "sms").mkdir(parents=True)
    (sources / "templates" / "sms" / "x.txt.j2").write_text(
        "{{ _('Total') }} {% trans %}Shipping{% endtrans %} {{ _('Taxes') }}", encoding="utf-8"
    )
    # And a German catalog that lacks one, leaves one empty and marks one fuzzy, and a
    # French one that is complete; no Spanish or Japanese catalog at all
    locales = tmp_path / "locales"
    _write_po(
        locales / "de" / "LC_MESSAGES" / "messages.po",
        "de",
        {"Total": "", "Shipping": "Versand (alt)"},
        fuzzy={"Shipping"},
    )
    _write_po(
        locales / "fr" / "LC_MESSAGES" / "messages.po",
        "fr",
        {"Total": "Total", "Shipping": "Livraison", "Taxes": "Taxes"},
        fuzzy=set(),
    )
    # When the check runs against them
    missing = i18n.missing_translations("messages", locales=locales, sources=sources)
    # Then each gap is named, and a missing catalog misses everything
    assert missing == {
        "en": [],
        "de": ["Shipping", "Taxes", "Total"],
        "fr": [],
        "es": ["Shipping", "Taxes", "Total"],
        "ja": ["Shipping", "Taxes", "Total"],
    }


# --- the reminders, in each language ---------------------------------------------------------

# What stays English whatever the language: names, links, the order's item titles.
_KEPT = re.compile(
    r"https?://\S+|[\w.+-]+@[\w.-]+|Demo Electronics|Laptop Pro 14|USB-C cable|STOP|#1042"
)


def _sentences(text: str) -> list[str]:
    """The English text's runs of three words or more (money, dates and numbers removed)."""
    text = re.sub(r"[$€￥¥]?\d[\d.,/ ]*\d?", " ", text)
    runs = re.split(r"[.:;,!?()\n]|--", text)
    return [r.strip() for r in runs if len(r.split()) >= 3]


def _english_leftovers(text: str) -> list[str]:
    """Catalog strings (their literal parts of 12 characters or more) found in `text`."""
    found = []
    for msgid in i18n.used_msgids("messages"):
        for part in re.split(r"%\(\w+\)s", msgid):
            part = part.strip(" .,:;()")
            if len(part) >= 12 and part in text:
                found.append(part)
    return found


def assert_no_english_left(ctx: MessageContext) -> None:
    """No part of the message for `ctx` (email subject, text and HTML, SMS) holds a catalog
    string or a sentence of the same message in English, beyond names, links and figures."""
    email, sms = render_email(ctx), render_sms(ctx).body
    english = dataclasses.replace(ctx, locale="en-US")
    english_email, english_sms = render_email(english), render_sms(english).body
    for part in (email.subject, email.text, email.html, sms):
        assert _english_leftovers(_KEPT.sub("", part)) == [], part
    pairs = zip(
        (email.subject, email.text, sms),
        (english_email.subject, english_email.text, english_sms),
        strict=True,
    )
    for part, english_part in pairs:
        for sentence in _sentences(_KEPT.sub("", english_part)):
            assert sentence not in part, (sentence, part)


@pytest.mark.parametrize("language", FOREIGN)
@pytest.mark.parametrize("tone", TONES)
@pytest.mark.parametrize("situation", SITUATIONS)
def test_every_part_of_a_reminder_is_in_the_customers_language(
    language: str, tone: Tone, situation: str
) -> None:
    # Given a reminder for a customer of that language, with every optional part present
    ctx = make_ctx(
        tone,
        locale=language,
        situation=situation,
        page_url="https://pay.example.com/c/tok_1042",
    )
    # Then no English sentence is left in any part: neither a catalog string nor any
    # sentence of the English reminder (its words beyond names, links and figures)
    assert_no_english_left(ctx)
    email, sms = render_email(ctx), render_sms(ctx).body
    # And the HTML says which language it is in
    assert f'<html lang="{language}">' in email.html
    # And the opt-out is in the customer's language, with the keyword STOP itself
    stop = i18n.translations("messages", language).gettext("Reply STOP to opt out")
    assert stop != "Reply STOP to opt out"
    assert "STOP" in stop
    assert sms.endswith(stop)


@pytest.mark.parametrize("language", FOREIGN)
@pytest.mark.parametrize("tone", TONES)
def test_a_missed_instalments_notice_is_in_the_customers_language(
    language: str, tone: Tone
) -> None:
    # Given the notice of a missed instalment, its figures stated, in each language
    ctx = make_plan_ctx(tone, locale=language, page_url="https://pay.example.com/c/tok_1042")
    # Then no English sentence is left in any part of it
    assert_no_english_left(ctx)
    email = render_email(ctx)
    # And its paragraph is the catalog's, with the figures in the customer's formats
    paragraph = i18n.translations("messages", language).gettext(
        "Instalment %(number)s of %(count)s (%(amount)s, due on %(due)s) could not be charged "
        "to your card. Pay it by %(date)s, %(time)s (your time) to keep your plan; after that "
        "the plan ends and the rest (%(balance)s) is due."
    )
    assert paragraph.split("%(")[0] in email.text
    due_on = {
        "de": "3. Dezember 2026",
        "fr": "3 décembre 2026",
        "es": "3 de diciembre de 2026",
        "ja": "2026年12月3日",
    }
    assert due_on[language] in email.text


def test_english_html_says_so() -> None:
    assert '<html lang="en">' in render_email(make_ctx(locale="pt-BR")).html


# --- the English source the template editor offers -------------------------------------------


@pytest.fixture
def english_templates(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The editor's shipped text read through `i18n.english_source`, file by file, before
    it fills in the layout (as services.message_templates is to read them)."""
    for path in i18n.templates_dir().glob("*/*.j2"):
        copy = tmp_path / path.parent.name / path.name
        copy.parent.mkdir(exist_ok=True)
        copy.write_text(i18n.english_source(path.read_text(encoding="utf-8")), encoding="utf-8")
    monkeypatch.setattr(message_templates, "templates_dir", lambda: tmp_path)
    message_templates._shipped.cache_clear()
    yield
    message_templates._shipped.cache_clear()


@pytest.mark.usefixtures("english_templates")
@pytest.mark.parametrize("name", sorted(BUILTIN_TEMPLATES))
def test_the_english_source_of_each_shipped_template_renders_as_shipped(name: str) -> None:
    # Given the shipped parts of a built-in template as the editor gathers them (the layout
    # filled in), each file's catalog markers resolved to English
    shipped = message_templates.builtin_parts(name)
    assert shipped is not None
    english = {part: text for part, text in shipped.items() if text}
    # Then nothing of the catalog machinery is left, and the sandbox accepts every part
    for text in english.values():
        assert "trans" not in re.sub(r"\btransfer\b", "", text)
        assert "_(" not in text
    validate_overrides(english)
    # And saved as the shop's override they render what the shipped templates render in
    # English, with every optional part present or absent and in every situation
    tone = cast(Tone, "firm" if name == "firm_sms" else name)
    for situation in SITUATIONS:
        for ctx in (
            make_ctx(tone, situation=situation, page_url="https://pay.example.com/c/t"),
            make_ctx(tone, situation=situation, pay_url=None, customer_first_name=None),
            make_ctx(tone, situation=situation, shop_email=None, help_url=None, step_number=1),
            # The notice of a missed instalment states its figures (`plan`)
            make_plan_ctx(tone, page_url="https://pay.example.com/c/t")
            if situation == "instalment_missed"
            else make_ctx(tone, situation=situation),
        ):
            sms = render_sms(ctx, english["sms"], strict=True)
            assert sms.body == render_sms(ctx).body
            if "subject" not in english:
                continue
            override = EmailOverride(english["subject"], english["html"], english["text"])
            mine = render_email(ctx, override, strict=True)
            assert mine.template == f"email/{tone}+override:subject,html,text"
            shipped_email = render_email(ctx)
            assert (mine.subject, mine.html, mine.text) == (
                shipped_email.subject,
                shipped_email.html,
                shipped_email.text,
            )


def test_english_source_resolves_plurals_and_expressions() -> None:
    source = (
        "{% trans count=items|length - 20 %}and {{ count }} more item{% pluralize %}"
        'and {{ count }} more items{% endtrans %} {{ _("Total") }} '
        "{% trans order=order_name %}Order {{ order }}{% endtrans %}"
    )
    assert i18n.english_source(source) == (
        "{% if (items|length - 20) == 1 %}and {{ (items|length - 20) }} more item"
        "{% else %}and {{ (items|length - 20) }} more items{% endif %} Total "
        "Order {{ order_name }}"
    )
