"""A shop's own version of a template per language: which parts a message uses
(`domain.template_overrides`), how a version is stored beside the others, and the shipped
template as source in a language, the editor's starting point (`i18n.shipped_source`)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from recoup.channels import i18n
from recoup.channels.render import EmailOverride, render_email, render_sms, validate_overrides
from recoup.domain.cadence import BUILTIN_TEMPLATES, Tone
from recoup.domain.payment_situation import SITUATIONS
from recoup.domain.template_overrides import all_parts, languages_of, parts_for, with_version
from recoup.services import message_templates
from tests.unit.test_render import make_ctx, make_plan_ctx

# An override stored before languages existed: the shop's English version.
LEGACY: dict[str, Any] = {"friendly": {"subject": "Hi {{ order_name }}", "sms": "x STOP"}}
GERMAN = {"subject": "Hallo {{ order_name }}"}


# ---------------------------------------------------------------- the part picker


def test_an_override_without_a_language_is_the_english_version_and_only_that() -> None:
    assert parts_for(LEGACY, "friendly", "en") == LEGACY["friendly"]
    # Never another language's version: a German or Japanese message gets none of it
    assert parts_for(LEGACY, "friendly", "de") == {}
    assert parts_for(LEGACY, "friendly", "ja") == {}
    assert languages_of(LEGACY, "friendly") == ("en",)


def test_each_language_gets_its_own_version_and_no_other() -> None:
    templates = with_version(LEGACY, "friendly", "de", GERMAN)
    assert parts_for(templates, "friendly", "de") == GERMAN
    assert parts_for(templates, "friendly", "en") == LEGACY["friendly"]
    assert parts_for(templates, "friendly", "fr") == {}
    assert parts_for(templates, "firm", "de") == {}
    assert languages_of(templates, "friendly") == ("en", "de")
    # Every part of any language tells the channels of a template of the shop's own
    assert set(all_parts(templates, "friendly")) == {"subject", "sms"}


def test_empty_parts_and_stored_shapes_it_does_not_know_give_nothing() -> None:
    odd: dict[str, Any] = {
        "a": {"subject": "", "sms": None, "html": 3},
        "b": "not a template",
        "c": {"languages": "not a mapping"},
        "d": {"languages": {"de": ["x"]}},
    }
    for name in odd:
        for language in ("en", "de"):
            assert parts_for(odd, name, language) == {}
        assert languages_of(odd, name) == ()
    assert parts_for(None, "friendly", "en") == {}


def test_a_version_is_replaced_or_dropped_alone() -> None:
    templates = with_version(LEGACY, "friendly", "de", GERMAN)
    templates = with_version(templates, "friendly", "ja", {"sms": "ja STOP", "html": ""})
    templates["firm"] = {"sms": "firm STOP"}
    # The English version replaced: the German and Japanese ones stay
    replaced = with_version(templates, "friendly", "en", {"text": "t {{ unsubscribe_url }}"})
    assert parts_for(replaced, "friendly", "en") == {"text": "t {{ unsubscribe_url }}"}
    assert parts_for(replaced, "friendly", "de") == GERMAN
    assert parts_for(replaced, "friendly", "ja") == {"sms": "ja STOP"}
    # The German one dropped: only it
    dropped = with_version(replaced, "friendly", "de", {})
    assert languages_of(dropped, "friendly") == ("en", "ja")
    assert dropped["firm"] == {"sms": "firm STOP"}
    # The English one dropped, the others stay; the last one dropped, the template is gone
    dropped = with_version(dropped, "friendly", "en", {})
    assert dropped["friendly"] == {"languages": {"ja": {"sms": "ja STOP"}}}
    assert "friendly" not in with_version(dropped, "friendly", "ja", {})
    # And what it was given is left as it was
    assert LEGACY == {"friendly": {"subject": "Hi {{ order_name }}", "sms": "x STOP"}}


# ---------------------------------------------------------------- the shipped source


@pytest.mark.parametrize("language", ["de", "ja", "fr", "es", "en"])
@pytest.mark.parametrize("name", sorted(BUILTIN_TEMPLATES))
def test_the_shipped_source_in_a_language_renders_as_the_shipped_template_in_it(
    name: str, language: str
) -> None:
    # Given the parts of a built-in template as the editor offers them in the language
    shipped = message_templates.builtin_parts(name, language)
    assert shipped is not None
    mine = {part: text for part, text in shipped.items() if text}
    # Then they are in that language, free of the catalog's markers, and the sandbox saves them
    english = {p: t for p, t in (message_templates.builtin_parts(name) or {}).items() if t}
    assert (mine == english) is (language == "en")
    for text in mine.values():
        assert "{% trans" not in text and "_(" not in text and "pluralize" not in text
    validate_overrides(mine)
    # And saved as the shop's version they render what the shipped template renders for a
    # customer of that language, in every situation, with optional parts present or absent
    tone = cast(Tone, "firm" if name == "firm_sms" else name)
    locale = {"de": "de-DE", "ja": "ja-JP", "fr": "fr-FR", "es": "es-ES", "en": "en-US"}[language]
    many = tuple(make_ctx(tone).items) * 12  # more than 20 items: the "and N more" plural
    for situation in SITUATIONS:
        for ctx in (
            make_ctx(tone, locale=locale, situation=situation, page_url="https://p.example/c"),
            make_ctx(tone, locale=locale, situation=situation, pay_url=None, items=many),
            make_ctx(tone, locale=locale, situation=situation, customer_first_name=None),
            # The notice of a missed instalment states its figures (`plan`)
            make_plan_ctx(tone, locale=locale, page_url="https://p.example/c")
            if situation == "instalment_missed"
            else make_ctx(tone, locale=locale, situation=situation),
        ):
            sms = render_sms(ctx, mine["sms"])
            if sms.override_error is None:
                assert sms.body == render_sms(ctx).body
            else:
                # Too long for its segments here: the shipped SMS shortens itself to fit (a
                # shorter form, the shop name cut); a shop's text is never cut
                assert "segments" in sms.override_error and language == "ja"
            if "subject" not in mine:
                continue
            override = EmailOverride(mine["subject"], mine["html"], mine["text"])
            theirs, ours = render_email(ctx), render_email(ctx, override, strict=True)
            assert ours.template == f"email/{tone}+override:subject,html,text"
            assert (ours.subject, ours.html, ours.text) == (
                theirs.subject,
                theirs.html,
                theirs.text,
            )


def test_the_shipped_source_keeps_each_languages_plural_rule() -> None:
    source = (
        "{% trans count=items|length - 20 %}and {{ count }} more item{% pluralize %}"
        "and {{ count }} more items{% endtrans %}"
    )
    german = i18n.shipped_source(source, "de")
    assert german.startswith("{% if (items|length - 20) == 1 %}und ")
    # French counts 0 and 1 as singular; Japanese has one form
    assert i18n.shipped_source(source, "fr").startswith("{% if (items|length - 20) <= 1 %}")
    assert "{% if" not in i18n.shipped_source(source, "ja")
    assert i18n.english_source(source) == i18n.shipped_source(source, "en")
    with pytest.raises(ValueError, match="unsupported language"):
        i18n.shipped_source(source, "pt")


def test_a_translation_holding_template_syntax_is_refused() -> None:
    # What goes into the source as plain text must stay plain text
    with pytest.raises(i18n.NoSourceForLanguage):
        i18n._as_source("Hallo {{ evil }}", {}, "de")
    assert i18n._as_source("100%% von %(x)s", {"x": "amount_owed"}, "de") == (
        "100% von {{ amount_owed }}"
    )
