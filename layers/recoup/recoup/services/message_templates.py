"""The message templates a shop's steps may use: the built-in ones and the shop's own, which
steps use each, the variables a template may say, and a drafted template previewed around a
sample order as the sender would render it.

A template has a version for email (subject, HTML, text) and for SMS. A built-in template has
the shipped versions of its channels (`cadence.BUILTIN_TEMPLATES`); the shop may customise any
part of one, or make its own under a new name, which then has a channel when it has a part
of it. A step may use only a template the shop has for the step's channel: the cadence save
refuses another, and so does the step preview (no silent fallback to the shipped words).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from recoup.channels import i18n
from recoup.channels.templates import VARIABLE_DESCRIPTIONS, templates_dir
from recoup.domain import cadence
from recoup.errors import InvalidInput
from recoup.services.shops import TEMPLATE_PARTS
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
    of its own whose parts were all emptied is no template)."""
    own = _own(item)
    names = {*cadence.BUILTIN_TEMPLATES, *own}
    found = {name: channels_of(name, own.get(name) or {}) for name in names}
    return {name: channels for name, channels in found.items() if channels}


def catalogue(shop: str) -> Catalogue:
    item = shops.get(shop)
    own = _own(item)
    steps = _policy(shop, item).steps
    found = []
    for name, channels in sorted(available(item).items()):
        used = tuple(i + 1 for i, step in enumerate(steps) if step.template == name)
        found.append(
            TemplateInfo(
                name=name,
                builtin=name in cadence.BUILTIN_TEMPLATES,
                customised=any((own.get(name) or {}).values()),
                used_by_steps=used,
                channels=channels,
            )
        )
    return Catalogue(tuple(found), variables())


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


def preview_draft(shop: str, name: str, parts: Mapping[str, Any], *, now: datetime) -> DraftPreview:
    """The drafted template around the sample order, for each channel it has: rendered in
    the sandbox that sends reminders (one budget per message, its time limit included), each
    refused part reported with its line instead of falling back to the shipped one. The
    sample step is the first of the saved sequence using the template, else step 1 in the
    tone its name suggests."""
    from recoup.channels import render, sms_segments
    from recoup.services import step_samples

    check_name(name)
    drafted = draft_parts(parts)
    item = shops.get(shop)
    channels = channels_of(name, drafted)
    if not channels:
        raise InvalidInput("a template of your own needs an email or an SMS part", field="parts")
    index, step = _sample_step(shop, item, name)
    ctx = step_samples.sample_message_context(shop, item, step, index + 1, now)
    try:
        shown = render.render_draft(ctx, drafted, email="email" in channels, sms="sms" in channels)
    except render.MessageTooLong as exc:
        raise InvalidInput(str(exc), field="parts.sms", code="message_too_long") from None
    size = sms_segments.measure(shown.sms.body) if shown.sms else None
    return DraftPreview(shown.errors, shown.email, shown.sms, size)


def builtin_parts(name: str) -> dict[str, str | None] | None:
    """The shipped text of each part of a built-in template, as the editor shows it (None
    for a shop's own name; a part the template has no channel for is None). An email body
    that extends the shared layout comes with the layout around it: one source, without the
    `extends` and `block` tags the sandbox refuses, that renders the shipped email."""
    channels = cadence.BUILTIN_TEMPLATES.get(name)
    if channels is None:
        return None
    tone = _BUILTIN_TONES.get(name, name)
    shipped: dict[str, str | None] = dict.fromkeys(TEMPLATE_PARTS)
    if "email" in channels:
        shipped["subject"] = _shipped(f"email/{tone}.subject.txt.j2").strip()
        shipped["html"] = _shipped(f"email/{tone}.html.j2")
        shipped["text"] = _shipped(f"email/{tone}.txt.j2")
    if "sms" in channels:
        shipped["sms"] = _shipped(f"sms/{tone}.txt.j2").strip()
    return shipped


_EXTENDS = re.compile(r'\A\{%-? extends "([^"]+)" -?%\}\n?')
_BLOCK = re.compile(r"\{% block (\w+) %\}\n?(.*?)\{% endblock %\}", re.DOTALL)
_EMPTY_BLOCK = re.compile(r"\{% block (\w+) %\}\{% endblock %\}\n?")
_LEADING_COMMENT = re.compile(r"\A\{#-.*?-#\}\s*", re.DOTALL)


@cache
def _shipped(path: str) -> str:
    """A shipped template's source with the layout it extends filled in: each of the
    layout's empty blocks replaced by the child's. A block tag swallows the newline after it
    (trim_blocks), so the filled-in source drops those newlines too and renders alike."""
    source = i18n.english_source((templates_dir() / path).read_text(encoding="utf-8"))
    extends = _EXTENDS.match(source)
    if extends is None:
        return source
    blocks = {match[1]: match[2] for match in _BLOCK.finditer(source)}
    layout = _LEADING_COMMENT.sub(
        "", i18n.english_source((templates_dir() / extends[1]).read_text(encoding="utf-8"))
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
