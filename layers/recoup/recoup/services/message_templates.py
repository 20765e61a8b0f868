"""The message templates a shop's steps may use: the built-in ones and the shop's own, which
steps use each, the variables a template may say, and a drafted template previewed around a
sample order as the sender would render it.

A template has a version for email (subject, HTML, text) and for SMS. A built-in template has
the shipped versions of its channels (`cadence.BUILTIN_TEMPLATES`); the shop may customise any
part of one, or make its own under a new name, which then has a channel when it has a part
of it. A step may use only a template the shop has for the step's channel: the cadence save
refuses another, and so does the step preview (no silent fallback to the shipped words).

The shop keeps its own version of a template per language (`domain.template_overrides`): a
message uses the version of its own language, else the shipped template in that language,
never another language's version. The editor starts a version from the shipped template in
its language (`i18n.shipped_source`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from recoup.channels import i18n
from recoup.channels.templates import VARIABLE_DESCRIPTIONS, templates_dir
from recoup.domain import cadence, template_overrides
from recoup.domain.payment_situation import SITUATIONS, Situation
from recoup.errors import Conflict, InvalidInput, InvalidParameter, NotFound
from recoup.services.shops import TEMPLATE_PARTS, set_template
from recoup.store import policies, shops
from recoup.store.models import ShopItem

if TYPE_CHECKING:
    from recoup.channels import render
    from recoup.channels.sms_segments import SmsSize

TEMPLATE_NAME = re.compile(r"[a-z0-9_-]{1,40}")
CHANNELS = ("email", "sms")
EMAIL_PARTS = ("subject", "html", "text")
# The shipped words a built-in template's preview shows when no step uses it yet.
_BUILTIN_TONES = {"friendly": "friendly", "firm": "firm", "firm_sms": "firm"}


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    name: str
    builtin: bool
    customised: bool  # the shop has its own version of at least one part
    used_by_steps: tuple[int, ...]  # the steps of the saved sequence using it, from 1
    channels: tuple[str, ...]
    languages: tuple[str, ...] = ()  # the languages the shop has its own version in


@dataclass(frozen=True, slots=True)
class Version:
    """One template in one language, as the editor shows it."""

    name: str
    language: str
    parts: Mapping[str, str]  # the shop's own text of each part it customised, this language
    builtin_parts: Mapping[str, str | None] | None  # the shipped text in it; None: its own
    languages: tuple[str, ...]  # every language the shop has its own version in


@dataclass(frozen=True, slots=True)
class Catalogue:
    templates: tuple[TemplateInfo, ...]
    variables: tuple[tuple[str, str], ...]  # (name, what it holds)


@dataclass(frozen=True, slots=True)
class DraftPreview:
    errors: tuple[render.PartRefused, ...]
    email: render.RenderedEmail | None
    sms: render.RenderedSms | None
    sms_size: SmsSize | None

    @property
    def ok(self) -> bool:
        return not self.errors


def check_name(name: str) -> None:
    if not TEMPLATE_NAME.fullmatch(name):
        raise InvalidInput("must be 1 to 40 characters of a-z, 0-9, '_' or '-'", field="name")


def check_language(raw: str | None) -> str:
    """The `lang` a template route was given: one of the supported languages (none: en)."""
    if raw is None:
        return i18n.ENGLISH
    if raw not in i18n.SUPPORTED_LANGUAGES:
        raise InvalidParameter(
            f"must be one of {', '.join(i18n.SUPPORTED_LANGUAGES)}", field="lang"
        )
    return raw


def check_situation(raw: str | None) -> Situation:
    """The `situation` a template preview was given: one of the payment situations a message
    is worded for (none: payment_failed, nothing more known)."""
    if raw is None:
        return Situation.PAYMENT_FAILED
    if raw not in SITUATIONS:
        raise InvalidParameter(f"must be one of {', '.join(SITUATIONS)}", field="situation")
    return Situation(raw)


def variables() -> tuple[tuple[str, str], ...]:
    return tuple(sorted(VARIABLE_DESCRIPTIONS.items()))


def channels_of(name: str, parts: Mapping[str, Any]) -> tuple[str, ...]:
    """The channels a template has a version for: a built-in one's, and those the shop's
    own parts give it."""
    has = set(cadence.BUILTIN_TEMPLATES.get(name, ()))
    if any(parts.get(part) for part in EMAIL_PARTS):
        has.add("email")
    if parts.get("sms"):
        has.add("sms")
    return tuple(channel for channel in CHANNELS if channel in has)


def available(item: ShopItem | None) -> dict[str, tuple[str, ...]]:
    """Every template the shop has, by name, with the channels it has a version for (a name
    of its own whose parts were all emptied is no template). A template of its own has a
    channel when a version in any language has a part of it."""
    own = _own(item)
    names = {*cadence.BUILTIN_TEMPLATES, *own}
    found = {name: channels_of(name, template_overrides.all_parts(own, name)) for name in names}
    return {name: channels for name, channels in found.items() if channels}


def catalogue(shop: str) -> Catalogue:
    item = shops.get(shop)
    own = _own(item)
    steps = _policy(shop, item).steps
    found = []
    for name, channels in sorted(available(item).items()):
        used = tuple(i + 1 for i, step in enumerate(steps) if step.template == name)
        languages = template_overrides.languages_of(own, name)
        found.append(
            TemplateInfo(
                name=name,
                builtin=name in cadence.BUILTIN_TEMPLATES,
                customised=bool(languages),
                used_by_steps=used,
                channels=channels,
                languages=languages,
            )
        )
    return Catalogue(tuple(found), variables())


def version(shop: str, name: str, language: str) -> Version:
    """The shop's version of template `name` in `language`, with the shipped text in that
    language to start from."""
    check_name(name)
    own = _own(shops.get(shop))
    return Version(
        name,
        language,
        template_overrides.parts_for(own, name, language),
        builtin_parts(name, language),
        template_overrides.languages_of(own, name),
    )


def save_version(shop: str, name: str, language: str, parts: Mapping[str, Any]) -> Version:
    """Replace the shop's version of `name` in `language` (its other languages stay as they
    are). The parts are checked in the sandbox as they will be rendered, each on its own and
    together (the error names the part and, when it is at one place, its line); a part left
    empty is the shipped one."""
    from recoup.channels.render import TemplateRejected

    check_name(name)
    drafted = draft_parts(parts)
    refuse_draft(drafted)
    try:
        set_template(shop, name, drafted, language=language)
    except TemplateRejected as exc:
        raise InvalidInput(exc.message, field="parts", code="template_rejected") from None
    return version(shop, name, language)


def reset_version(shop: str, name: str, language: str) -> Version:
    """Drop the shop's version of `name` in `language` only: a built-in template is the
    shipped text in that language again; a template of the shop's own loses that language,
    and is gone with its last one, which is refused while a step of the saved sequence uses
    it (the step would have nothing to send)."""
    check_name(name)
    own = _own(shops.get_fresh(shop))
    builtin = builtin_parts(name, language)
    languages = template_overrides.languages_of(own, name)
    if builtin is None and language not in languages:
        raise NotFound(f"no template named {name!r} in {language!r}")
    if builtin is None and languages == (language,):
        used = [
            str(i + 1)
            for i, step in enumerate(_policy(shop, shops.get(shop)).steps)
            if step.template == name
        ]
        if used:
            raise Conflict(
                f"{'Steps' if len(used) > 1 else 'Step'} {', '.join(used)} of the reminders "
                f"use{'' if len(used) > 1 else 's'} {name!r}: choose another template there first",
                code="template_in_use",
            )
    if language in languages:
        set_template(shop, name, {}, language=language)
    return version(shop, name, language)


def draft_parts(parts: Mapping[str, Any]) -> dict[str, str]:
    """The parts of a draft as sent: known parts of text; an empty one is left to the
    shipped version."""
    drafted: dict[str, str] = {}
    for part, source in parts.items():
        field = f"parts.{part}"
        if part not in TEMPLATE_PARTS:
            raise InvalidInput(f"one of {', '.join(TEMPLATE_PARTS)}", field=field)
        if not isinstance(source, str):
            raise InvalidInput("must be the template's text", field=field)
        if source.strip():
            drafted[part] = source
    return drafted


def refuse_draft(parts: Mapping[str, str]) -> None:
    """Raise the first part the sandbox refuses (as a save would), naming it and its line."""
    from recoup.channels import render

    errors = render.check_draft(parts)
    if errors:
        first = errors[0]
        raise InvalidInput(
            first.message,
            field=f"parts.{first.part}",
            code="template_rejected",
            extra={"line": first.line},
        )


def preview_draft(
    shop: str,
    name: str,
    parts: Mapping[str, Any],
    *,
    now: datetime,
    language: str = i18n.ENGLISH,
    situation: Situation = Situation.PAYMENT_FAILED,
) -> DraftPreview:
    """The drafted template around the sample order, for each channel it has: rendered in
    the sandbox that sends reminders (one budget per message, its time limit included), each
    refused part reported with its line instead of falling back to the shipped one. The
    sample step is the first of the saved sequence using the template, else step 1 in the
    tone its name suggests; the sample customer reads `language` (money and dates in the
    shop's locale when it speaks it, else in the language's own), and the message is worded
    for `situation` (a courtesy reminder, a cancellation notice...)."""
    from recoup.channels import render, sms_segments
    from recoup.services import step_samples

    check_name(name)
    drafted = draft_parts(parts)
    item = shops.get(shop)
    channels = channels_of(name, drafted)
    if not channels:
        raise InvalidInput("a template of your own needs an email or an SMS part", field="parts")
    index, step = _sample_step(shop, item, name)
    ctx = step_samples.sample_message_context(shop, item, step, index + 1, now, situation=situation)
    if i18n.language_for(ctx.locale) != language:
        ctx = replace(ctx, locale=language)
    try:
        shown = render.render_draft(ctx, drafted, email="email" in channels, sms="sms" in channels)
    except render.MessageTooLong as exc:
        raise InvalidInput(str(exc), field="parts.sms", code="message_too_long") from None
    size = sms_segments.measure(shown.sms.body) if shown.sms else None
    return DraftPreview(shown.errors, shown.email, shown.sms, size)


def builtin_parts(name: str, language: str = i18n.ENGLISH) -> dict[str, str | None] | None:
    """The shipped text of each part of a built-in template in `language`, as the editor
    shows it (None for a shop's own name; a part the template has no channel for is None).
    An email body that extends the shared layout comes with the layout around it: one
    source, without the `extends` and `block` tags the sandbox refuses, that renders the
    shipped email in that language."""
    channels = cadence.BUILTIN_TEMPLATES.get(name)
    if channels is None:
        return None
    tone = _BUILTIN_TONES.get(name, name)
    shipped: dict[str, str | None] = dict.fromkeys(TEMPLATE_PARTS)
    if "email" in channels:
        shipped["subject"] = _shipped(f"email/{tone}.subject.txt.j2", language).strip()
        shipped["html"] = _shipped(f"email/{tone}.html.j2", language)
        shipped["text"] = _shipped(f"email/{tone}.txt.j2", language)
    if "sms" in channels:
        shipped["sms"] = _shipped(f"sms/{tone}.txt.j2", language).strip()
    return shipped


_EXTENDS = re.compile(r'\A\{%-? extends "([^"]+)" -?%\}\n?')
_BLOCK = re.compile(r"\{% block (\w+) %\}\n?(.*?)\{% endblock %\}", re.DOTALL)
_EMPTY_BLOCK = re.compile(r"\{% block (\w+) %\}\{% endblock %\}\n?")
_LEADING_COMMENT = re.compile(r"\A\{#-.*?-#\}\s*", re.DOTALL)


@cache
def _shipped(path: str, language: str) -> str:
    """A shipped template's source in `language` with the layout it extends filled in: each
    of the layout's empty blocks replaced by the child's. A block tag swallows the newline
    after it (trim_blocks), so the filled-in source drops those newlines too and renders
    alike."""
    source = i18n.shipped_source((templates_dir() / path).read_text(encoding="utf-8"), language)
    extends = _EXTENDS.match(source)
    if extends is None:
        return source
    blocks = {match[1]: match[2] for match in _BLOCK.finditer(source)}
    layout = _LEADING_COMMENT.sub(
        "",
        i18n.shipped_source((templates_dir() / extends[1]).read_text(encoding="utf-8"), language),
    )
    return _EMPTY_BLOCK.sub(lambda empty: blocks.get(empty[1], ""), layout)


def _sample_step(shop: str, item: ShopItem | None, name: str) -> tuple[int, cadence.Step]:
    for index, step in enumerate(_policy(shop, item).steps):
        if step.template == name:
            return index, step
    tone = cadence.Tone(_BUILTIN_TONES.get(name, name if name in cadence.Tone else "friendly"))
    return 0, cadence.Step(
        cadence.NEW_STEP_DELAY, cadence.Anchor.OPENED, cadence.Channel.EMAIL, name, tone, True
    )


def _policy(shop: str, item: ShopItem | None) -> cadence.ReminderPolicy:
    return policies.load(shop, shop_timezone=(item.timezone if item else None) or "UTC")


def _own(item: ShopItem | None) -> dict[str, Any]:
    return dict((item.templates or {}) if item else {})
