"""A shop's own versions of a message template, one per language: how they are kept on the
shop item and which one a message uses.

Kept as `ShopItem.templates`, template name -> its English parts where they always were (an
override saved before languages existed is the English version, unchanged: nothing to
migrate, and an older release still reads it), and the other languages' parts under
`"languages"`:

    {"friendly": {"subject": "...", "languages": {"de": {"subject": "...", "sms": "..."}}}}

A message uses the parts of its own language only: a German customer of a shop with only an
English version of a template gets the shipped German template, never the English words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PARTS: tuple[str, ...] = ("subject", "html", "text", "sms")
LANGUAGES = "languages"  # the key of the other languages' versions under a template
STORED_LANGUAGE = "en"  # the language of the parts kept at the template's top level


def parts_for(templates: Mapping[str, Any] | None, name: str, language: str) -> dict[str, str]:
    """The shop's own parts of template `name` in `language` (only the non-empty ones):
    empty when the shop has no version in that language."""
    entry = (templates or {}).get(name)
    if not isinstance(entry, Mapping):
        return {}
    version = entry if language == STORED_LANGUAGE else _others(entry).get(language)
    if not isinstance(version, Mapping):
        return {}
    return {part: text for part in PARTS if isinstance(text := version.get(part), str) and text}


def languages_of(templates: Mapping[str, Any] | None, name: str) -> tuple[str, ...]:
    """The languages the shop has its own version of template `name` in, English first."""
    entry = (templates or {}).get(name)
    if not isinstance(entry, Mapping):
        return ()
    found = [STORED_LANGUAGE] if parts_for(templates, name, STORED_LANGUAGE) else []
    found += sorted(code for code in _others(entry) if parts_for(templates, name, code))
    return tuple(found)


def all_parts(templates: Mapping[str, Any] | None, name: str) -> dict[str, str]:
    """Every part the shop wrote for template `name` in any language (English first): what
    tells which channels a template of the shop's own has."""
    found: dict[str, str] = {}
    for language in reversed(languages_of(templates, name)):
        found.update(parts_for(templates, name, language))
    return found


def with_version(
    templates: Mapping[str, Any] | None, name: str, language: str, parts: Mapping[str, str]
) -> dict[str, Any]:
    """The shop's templates with its version of `name` in `language` replaced by `parts`
    (no parts: that version removed; a template left with no version is removed). The other
    templates and languages are kept as they are."""
    found = dict(templates or {})
    entry = found.get(name)
    entry = dict(entry) if isinstance(entry, Mapping) else {}
    chosen = {part: text for part, text in parts.items() if part in PARTS and text}
    others = dict(_others(entry))
    if language == STORED_LANGUAGE:
        entry = {key: value for key, value in entry.items() if key not in PARTS}
        entry.update(chosen)
    elif chosen:
        others[language] = chosen
    else:
        others.pop(language, None)
    if others:
        entry[LANGUAGES] = others
    else:
        entry.pop(LANGUAGES, None)
    if entry:
        found[name] = entry
    else:
        found.pop(name, None)
    return found


def _others(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    others = entry.get(LANGUAGES)
    return others if isinstance(others, Mapping) else {}
