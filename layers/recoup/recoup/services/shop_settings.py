"""A shop's settings as the admin edits them: the reminder cadence, the fraud screening, the
referral policy, template overrides, the reply-to address, and the Stripe connection shown.

A policy is saved versioned: the save names the version it edited and stores the next one,
so two admins editing at once cannot overwrite each other silently (`VersionConflict`). Each
save is checked whole, the reminders and the referral policy against each other too, before
anything is written; an error names the field as a path into the document sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from recoup.domain import cadence
from recoup.domain.fields import FieldError
from recoup.domain.referral import (
    ReferralPolicy,
    check_with_reminders,
    default_referral_policy,
    parse_referral_policy,
    referral_policy_to_dict,
)
from recoup.errors import InvalidInput, NotInstalled, VersionConflict
from recoup.services.shops import TEMPLATE_PARTS, set_template
from recoup.settings import get_settings
from recoup.store import policies, shops

if TYPE_CHECKING:
    from recoup.domain.fraud import ShopFraudSettings

# Each setting's own machinery (the fraud rules, the template sandbox, the address checks)
# loads in the functions of its routes: a request for another page never needs it.

MAX_ADDRESS = 254  # RFC 5321's longest forward path
TEMPLATE_NAME = re.compile(r"[a-z0-9_-]{1,40}")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Versioned(Generic[T]):
    """A setting and the version it was stored at (0: never saved, the defaults)."""

    version: int
    value: T


@dataclass(frozen=True, slots=True)
class DocumentUpdate:
    """A policy as an admin sends it: the version they loaded and the edited document."""

    version: int
    document: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    parts: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Sender:
    """Who the messages come from: the shop's name and contact email as Shopify reports
    them (read only here), and where customers' replies go."""

    shop_name: str
    contact_email: str | None
    reply_to: str | None
    replies_go_to: str | None
    sender_address: str | None
    timezone: str | None
    currency: str | None


# ---------------------------------------------------------------- reminders


def reminder_policy(shop: str) -> Versioned[cadence.ReminderPolicy]:
    stored = policies.load_doc(shop, policies.REMINDERS)
    if stored is None:
        return Versioned(0, cadence.default_policy(_timezone(shop)))
    return Versioned(stored[0], cadence.parse_policy(stored[1]))


def save_reminder_policy(
    shop: str, update: DocumentUpdate, *, now: datetime
) -> Versioned[cadence.ReminderPolicy]:
    try:
        policy = cadence.parse_policy({**update.document, "version": update.version + 1})
    except cadence.PolicyError as exc:
        raise _invalid(exc) from None
    try:
        check_with_reminders(referral_policy(shop).value, policy)
    except FieldError as exc:
        raise InvalidInput(
            f"the referral policy waits too little for a final notice: {exc.message}",
            field=f"steps[{len(policy.steps) - 1}].tone",
        ) from None
    _versioned_save(lambda: policies.save(shop, policy, now=now))
    return reminder_policy(shop)


# ---------------------------------------------------------------- fraud screening


def fraud_settings(shop: str) -> Versioned[ShopFraudSettings]:
    from recoup.domain.fraud import DEFAULT_SETTINGS, parse_settings

    stored = policies.load_doc(shop, policies.FRAUD)
    if stored is None:
        return Versioned(0, DEFAULT_SETTINGS)
    return Versioned(stored[0], parse_settings(stored[1]))


def save_fraud_settings(
    shop: str, update: DocumentUpdate, *, now: datetime
) -> Versioned[ShopFraudSettings]:
    from recoup.domain.fraud import parse_settings, settings_to_dict

    try:
        settings = parse_settings(update.document)
    except FieldError as exc:
        raise _invalid(exc) from None
    doc = settings_to_dict(settings)
    version = update.version + 1
    _versioned_save(lambda: policies.save_doc(shop, policies.FRAUD, version, doc, now=now))
    return fraud_settings(shop)


# ---------------------------------------------------------------- referral


def referral_policy(shop: str) -> Versioned[ReferralPolicy]:
    stored = policies.load_doc(shop, policies.REFERRAL)
    if stored is None:
        return Versioned(0, default_referral_policy())
    return Versioned(stored[0], parse_referral_policy(stored[1], allow_loopback_http=_local()))


def save_referral_policy(
    shop: str, update: DocumentUpdate, *, now: datetime
) -> Versioned[ReferralPolicy]:
    version = update.version + 1
    try:
        referral = parse_referral_policy(
            {**update.document, "version": version}, allow_loopback_http=_local()
        )
        check_with_reminders(referral, policies.load(shop, shop_timezone=_timezone(shop)))
    except FieldError as exc:
        raise _invalid(exc) from None
    doc = referral_policy_to_dict(referral)
    _versioned_save(lambda: policies.save_doc(shop, policies.REFERRAL, version, doc, now=now))
    return referral_policy(shop)


# ---------------------------------------------------------------- templates


def template(shop: str, name: str) -> Template:
    _check_template_name(name)
    item = shops.get(shop)
    return Template(name, ((item.templates or {}) if item else {}).get(name) or {})


def save_template(shop: str, name: str, parts: Mapping[str, Any]) -> Template:
    """Each part is checked in the sandbox on its own (the error names it), then all of
    them together, as they will be rendered."""
    from recoup.channels.render import TemplateRejected, validate_override

    _check_template_name(name)
    for kind, source in parts.items():
        field = f"parts.{kind}"
        if kind not in TEMPLATE_PARTS:
            raise InvalidInput(f"one of {', '.join(TEMPLATE_PARTS)}", field=field)
        if not isinstance(source, str):
            raise InvalidInput("must be the template's text", field=field)
        try:
            validate_override(kind, source)  # type: ignore[arg-type]
        except TemplateRejected as exc:
            raise InvalidInput(exc.message, field=field, code="template_rejected") from None
    try:
        set_template(shop, name, {str(k): str(v) for k, v in parts.items()})
    except TemplateRejected as exc:
        raise InvalidInput(exc.message, field="parts", code="template_rejected") from None
    return Template(name, parts)


def _check_template_name(name: str) -> None:
    if not TEMPLATE_NAME.fullmatch(name):
        raise InvalidInput("must be 1 to 40 characters of a-z, 0-9, '_' or '-'", field="name")


# ---------------------------------------------------------------- sender, Stripe


def sender(shop: str) -> Sender:
    item = shops.get_fresh(shop)
    return Sender(
        shop_name=(item.shop_name if item else None) or shop,
        contact_email=item.contact_email if item else None,
        reply_to=item.reply_to if item else None,
        replies_go_to=shops.reply_address(item),
        sender_address=get_settings().sender_address,
        timezone=item.timezone if item else None,
        currency=item.currency if item else None,
    )


def save_reply_to(shop: str, reply_to: str | None) -> Sender:
    """Where customers' replies go; empty: back to the shop's contact email."""
    address = (reply_to or "").strip() or None
    if address is not None:
        from recoup.channels import mime

        problem = mime.address_problem(address)
        if problem is not None or len(address) > MAX_ADDRESS:
            why = problem or f"at most {MAX_ADDRESS} characters"
            raise InvalidInput(f"cannot receive replies: {why}", field="reply_to")
    if not shops.set_reply_to(shop, address):
        raise NotInstalled(f"{shop} has not installed Recoup")
    return sender(shop)


def stripe_account(shop: str) -> str | None:
    """The Stripe account connected to the shop, read fresh (it changes in another tab)."""
    item = shops.get_fresh(shop)
    return item.stripe_account if item else None


# ---------------------------------------------------------------- helpers


def _timezone(shop: str) -> str:
    item = shops.get(shop)
    return (item.timezone if item else None) or "UTC"


def _local() -> bool:
    """Hand-overs to http://127.0.0.1 only where the agencies' receivers are local too."""
    return get_settings().secrets_source == "env"


def _invalid(exc: FieldError) -> InvalidInput:
    return InvalidInput(exc.message, field=exc.field)


def _versioned_save(save: Callable[[], None]) -> None:
    try:
        save()
    except policies.PolicyConflict:
        raise VersionConflict() from None
