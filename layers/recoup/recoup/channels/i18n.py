"""The customer's language: which one to write in, and the translated strings for it.

Customer-facing text (reminder emails and SMS: domain `messages`; the customer's page, the
unsubscribe page and the fresh-link email: domain `pages`) is written once, in English, in
one template per message, with every sentence marked for translation (`{% trans %}`,
`_()`). The translations live in gettext catalogs,
`templates/locales/<lang>/LC_MESSAGES/<domain>.po`, read with Babel and rendered through
Jinja2's i18n extension. Catalogs rather than a copy of each template per language because:
a message has one template, so a fix to its layout or logic reaches every language at once;
translators work on strings, in the tool of their choice, not on Jinja2 markup; and
completeness is checkable: `missing_translations` extracts every string the templates use
and names those a catalog lacks (a unit test keeps it empty).

English needs no catalog: the msgids are the English text. Money and dates are not
translated here but formatted by babel for the customer's locale before a template sees them.

Merchant- and agency-facing documents stay English and are not translated: the referral
hand-over (`templates/handover/`), the demand letter (`templates/letters/`) and the case file
(`templates/casefile/`). A shop's own template overrides are rendered as written; the
editor offers the shipped text in the version's language as their starting point
(`shipped_source`).

To add a language: add its code to `SUPPORTED_LANGUAGES`, copy a catalog of each domain to
`templates/locales/<code>/LC_MESSAGES/`, translate every msgstr, and run the i18n unit test.
"""

from __future__ import annotations

import gettext
import io
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recoup.channels.templates import templates_dir
from recoup.errors import RecoupError

if TYPE_CHECKING:
    # Imported where used: choosing a language (every sender and page) must not pay for
    # Jinja2 and Babel's catalog tools on a cold start.
    from babel.messages.catalog import Catalog
    from jinja2 import Environment

__all__ = [
    "CATALOG_SOURCES",
    "DOMAINS",
    "ENGLISH",
    "SUPPORTED_LANGUAGES",
    "CatalogMissing",
    "NoSourceForLanguage",
    "catalog_path",
    "english_source",
    "environment",
    "language_for",
    "locale_for",
    "locales_dir",
    "missing_translations",
    "shipped_source",
    "source_root",
    "translations",
    "used_msgids",
]

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "ja")
ENGLISH = "en"

# For each domain, the files whose marked strings its catalogs hold: globs relative to
# `source_root()`, the folder holding both `templates/` and the `recoup` package (so
# "templates/email/*.j2", or "recoup/services/some_module.py" for strings marked in Python
# with `_()`). `.j2` files are extracted with Jinja2's extractor, `.py` files with babel's.
CATALOG_SOURCES: dict[str, tuple[str, ...]] = {
    "messages": ("templates/email/*.j2", "templates/sms/*.j2"),
    "pages": ("templates/customer/*.j2",),
}
DOMAINS: tuple[str, ...] = tuple(CATALOG_SOURCES)

# `{% trans %}` blocks are trimmed (whitespace collapsed) at extraction and at rendering
# alike, so a msgid does not depend on how the template is indented.
_TRIMMED_POLICY = "ext.i18n.trimmed"
_JINJA_EXTRACT_OPTIONS = {"trimmed": "true", "trim_blocks": "true", "lstrip_blocks": "true"}


class CatalogMissing(RecoupError, LookupError):
    """A supported language has no catalog for a domain: a packaging bug, not bad input."""


def _primary(tag: str | None) -> str | None:
    """The language subtag of a BCP 47 or POSIX tag ("de-CH", "ja_JP"), lower case."""
    if not isinstance(tag, str):
        return None
    return tag.strip().replace("_", "-").split("-", 1)[0].lower() or None


def language_for(*tags: str | None) -> str:
    """The first tag (BCP 47 or POSIX: "de-CH", "ja_JP", "pt-BR") whose language is
    supported, else English. Callers pass the customer's stated preference, the order's
    customer locale and the shop's primary locale, in that order; None or "" is skipped."""
    for tag in tags:
        language = _primary(tag)
        if language in SUPPORTED_LANGUAGES:
            return language
    return ENGLISH


def locale_for(*tags: str | None) -> str:
    """Like `language_for`, but the whole tag chosen ("de-CH"), so that money and dates are
    formatted for the customer the words are written for; "en" when no tag is supported
    (a "pt-BR" customer then reads English with English formatting, not a mix)."""
    for tag in tags:
        if _primary(tag) in SUPPORTED_LANGUAGES:
            assert tag is not None
            return tag.strip().replace("_", "-")
    return ENGLISH


def source_root() -> Path:
    """The folder holding `templates/` and the `recoup` package (the layer's root)."""
    return templates_dir().parent


def locales_dir() -> Path:
    return templates_dir() / "locales"


def catalog_path(domain: str, language: str, *, root: Path | None = None) -> Path:
    return (root or locales_dir()) / language / "LC_MESSAGES" / f"{domain}.po"


def _check(domain: str, language: str) -> None:
    if domain not in CATALOG_SOURCES:
        raise ValueError(f"unknown message domain {domain!r}; known: {', '.join(DOMAINS)}")
    if language not in SUPPORTED_LANGUAGES:
        raise ValueError(
            f"unsupported language {language!r}; use language_for() to pick one of "
            f"{', '.join(SUPPORTED_LANGUAGES)}"
        )


def _read_catalog(path: Path, language: str) -> Catalog:
    from babel.messages.pofile import read_po

    with path.open("rb") as po:
        return read_po(po, locale=language)


@cache
def translations(domain: str, language: str) -> gettext.NullTranslations:
    """The domain's strings in `language`, parsed once per process. English returns the
    msgids; a supported language without a catalog raises CatalogMissing. Untranslated and
    fuzzy entries fall back to the English msgid (`missing_translations` reports them)."""
    _check(domain, language)
    if language == ENGLISH:
        return gettext.NullTranslations()
    path = catalog_path(domain, language)
    if not path.is_file():
        raise CatalogMissing(f"no {language!r} catalog for domain {domain!r} (expected {path})")
    from babel.messages.mofile import write_mo

    compiled = io.BytesIO()
    write_mo(compiled, _read_catalog(path, language), use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def _finalize(value: Any) -> Any:
    return "" if value is None else value


@cache
def environment(domain: str, language: str, *, autoescape_html: bool = True) -> Environment:
    """A Jinja2 environment over `templates/` speaking `language` in `domain`: `_()`,
    `gettext`, `ngettext` and `{% trans %}` (newstyle, so `_("Hi %(name)s", name=x)`
    escapes `x` in HTML), StrictUndefined, None printed as "", blocks trimmed. HTML
    templates (`.html`, `.html.j2`) are autoescaped unless `autoescape_html` is False."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(templates_dir()),
        extensions=["jinja2.ext.i18n"],
        autoescape=select_autoescape(
            enabled_extensions=("html", "html.j2") if autoescape_html else (),
            default_for_string=False,
            default=False,
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
        auto_reload=False,
    )
    env.policies[_TRIMMED_POLICY] = True
    env.install_gettext_translations(translations(domain, language), newstyle=True)  # type: ignore[attr-defined]
    env.globals["language"] = language
    return env


# --- the shipped source in a language, for the template editor -----------------------------

_TRANS_BLOCK = re.compile(
    # The newline after the end tag goes with it, as trim_blocks drops it after a block tag.
    r"\{%-?\s*trans\b(?P<args>.*?)-?%\}(?P<body>.*?)\{%-?\s*endtrans\s*-?%\}\n?",
    re.DOTALL,
)
_PLURALIZE = re.compile(r"\{%-?\s*pluralize\b.*?-?%\}", re.DOTALL)
_GETTEXT_CALL = re.compile(r"""\{\{\s*_\(\s*(?P<q>["'])(?P<text>.*?)(?P=q)\s*\)\s*\}\}""")
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_FORMAT = re.compile(r"%(?:\((?P<name>\w+)\)s|%)")
_SIMPLE_EXPRESSION = re.compile(r"[\w.]+")
# The counts a plural's forms are told apart at, in a language whose rule is "one" vs
# "other" (n == 1, as in English, German or Spanish; n <= 1, as in French) or has one form.
_PLURAL_PROBES = range(200)


class NoSourceForLanguage(RecoupError, ValueError):
    """A shipped template cannot be written out as plain source in a language (its plural
    rule, or a translation that holds template syntax): a catalog bug the i18n test catches."""


def _trans_args(args: str) -> dict[str, str]:
    found = {}
    for part in args.split(","):
        name, equals, expression = part.partition("=")
        if equals:
            expression = expression.strip()
            simple = _SIMPLE_EXPRESSION.fullmatch(expression)
            found[name.strip()] = expression if simple else f"({expression})"
    return found


def _msgid(body: str) -> str:
    """The msgid Jinja2's i18n extension (trimmed) makes of a block's body."""
    text = re.sub(r"\s*\n\s*", " ", body.strip()).replace("%", "%%")
    return _PLACEHOLDER.sub(lambda m: f"%({m[1]})s", text)


def _as_source(text: str, args: dict[str, str], language: str) -> str:
    """A translated string as template source: its placeholders back to the expressions
    they stand for, `%%` back to `%`."""
    if "{{" in text or "{%" in text or "{#" in text:
        raise NoSourceForLanguage(f"a {language!r} translation holds template syntax: {text!r}")
    return _FORMAT.sub(
        lambda m: "{{ " + args.get(m["name"], m["name"]) + " }}" if m["name"] else "%", text
    )


def _translated_trans(match: re.Match[str], language: str) -> str:
    strings = translations("messages", language)
    args = _trans_args(match["args"])
    singular, *plural = _PLURALIZE.split(match["body"], maxsplit=1)
    if not plural:
        return _as_source(strings.gettext(_msgid(singular)), args, language)
    count = args.get("count", "count")
    one, many = _msgid(singular), _msgid(plural[0])
    forms = [strings.ngettext(one, many, n) for n in _PLURAL_PROBES]
    first, other = _as_source(forms[1], args, language), _as_source(forms[2], args, language)
    if len(set(forms)) == 1:
        return first
    # The `endif` drops the newline after it (trim_blocks) as `endtrans` did: it stays.
    after = "\n" if match[0].endswith("\n") else ""
    if all((form == forms[1]) == (n == 1) for n, form in enumerate(forms)):
        return f"{{% if {count} == 1 %}}{first}{{% else %}}{other}{{% endif %}}{after}"
    if all((form == forms[1]) == (n <= 1) for n, form in enumerate(forms)):
        return f"{{% if {count} <= 1 %}}{first}{{% else %}}{other}{{% endif %}}{after}"
    raise NoSourceForLanguage(f"the plural rule of {language!r} has more than two forms")


def shipped_source(source: str, language: str) -> str:
    """A shipped template's source with its catalog markers resolved to `language`'s text
    (`{% trans x=expr %}...{{ x }}...{% endtrans %}` to `...{{ expr }}...` in that
    language, `{{ _("...") }}` to its translation, a plural to an `if` on its count), which
    the shop's template sandbox accepts and which renders what the shipped template renders
    in that language: what the editor offers as the starting point of the shop's version in
    it. Messages of the `messages` domain; an untranslated string stays English, as it does
    when sent."""
    if language not in SUPPORTED_LANGUAGES:
        raise ValueError(f"unsupported language {language!r}")
    strings = translations("messages", language)
    source = _TRANS_BLOCK.sub(lambda match: _translated_trans(match, language), source)
    return _GETTEXT_CALL.sub(
        # newstyle gettext formats every string: a `%` is written `%%` in the call too
        lambda m: _as_source(strings.gettext(m["text"]), {}, language),
        source,
    )


def english_source(source: str) -> str:
    """`shipped_source` in English: the msgids themselves."""
    return shipped_source(source, ENGLISH)


# --- completeness ----------------------------------------------------------------------------


def _source_files(domain: str, root: Path) -> Iterator[Path]:
    for pattern in CATALOG_SOURCES[domain]:
        yield from sorted(p for p in root.glob(pattern) if p.is_file())


def _extract(path: Path) -> Iterator[str]:
    """The msgids one source file uses (the singular of a plural)."""
    if path.suffix == ".py":
        method: Any = "python"
        options: dict[str, Any] = {}
    else:
        method = "jinja2.ext.babel_extract"
        options = dict(_JINJA_EXTRACT_OPTIONS)
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file

    for _line, message, _comments, _context in extract_from_file(
        method, str(path), keywords=DEFAULT_KEYWORDS, options=options
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            yield msgid


def used_msgids(domain: str, *, root: Path | None = None) -> list[str]:
    """Every msgid the domain's sources use, sorted, once each."""
    if domain not in CATALOG_SOURCES:
        raise ValueError(f"unknown message domain {domain!r}; known: {', '.join(DOMAINS)}")
    found = {
        msgid for path in _source_files(domain, root or source_root()) for msgid in _extract(path)
    }
    return sorted(found)


def _is_translated(catalog: Catalog, msgid: str) -> bool:
    message = catalog.get(msgid)
    if message is None or message.fuzzy:
        return False
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(strings)


def missing_translations(
    domain: str, *, locales: Path | None = None, sources: Path | None = None
) -> dict[str, list[str]]:
    """Per supported language, the msgids the domain's sources use that its catalog lacks,
    leaves empty or marks fuzzy (English: always none; a missing catalog: all of them).
    `locales` and `sources` replace the shipped folders (for testing the check itself)."""
    used = used_msgids(domain, root=sources)
    missing: dict[str, list[str]] = {ENGLISH: []}
    for language in SUPPORTED_LANGUAGES:
        if language == ENGLISH:
            continue
        path = catalog_path(domain, language, root=locales)
        if not path.is_file():
            missing[language] = list(used)
            continue
        catalog = _read_catalog(path, language)
        missing[language] = [msgid for msgid in used if not _is_translated(catalog, msgid)]
    return missing
