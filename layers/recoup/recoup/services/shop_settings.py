"""A shop's settings as the admin edits them: the reminder cadence, the fraud screening, the
referral policy, the reply-to address, and the Stripe connection shown (a template's own
versions: `services/message_templates.py`).

A policy is saved versioned: the save names the version it edited and stores the next one,
so two admins editing at once cannot overwrite each other silently (`VersionConflict`). Each
save is checked whole, the reminders and the referral policy against each other too, before
anything is written; an error names the field as a path into the document sent. The settings
page saves its sections at once (`save_settings`): all are checked, then written in one
transaction, or none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from recoup.domain import cadence
from recoup.domain.fields import FieldError, join_path
from recoup.domain.referral import (
    ReferralPolicy,
    check_with_reminders,
    default_referral_policy,
    parse_referral_policy,
    referral_policy_to_dict,
)
from recoup.errors import InvalidInput, NotInstalled, VersionConflict
from recoup.services import message_templates
from recoup.settings import get_settings
from recoup.store import policies, shops

if TYPE_CHECKING:
    from recoup.domain.fraud import ShopFraudSettings

# Each setting's own machinery (the fraud rules, the template sandbox, the address checks)
# loads in the functions of its routes: a request for another page never needs it.

MAX_ADDRESS = 254  # RFC 5321's longest forward path

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
class SettingsUpdate:
    """The settings page's one save: the sections it edited, each from the version loaded."""

    reminders: DocumentUpdate | None = None
    fraud: DocumentUpdate | None = None
    referral: DocumentUpdate | None = None


@dataclass(frozen=True, slots=True)
class AllSettings:
    reminders: Versioned[cadence.ReminderPolicy]
    fraud: Versioned[ShopFraudSettings]
    referral: Versioned[ReferralPolicy]


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
    policy = _checked_reminders(shop, update)
    _check_final_notice(referral_policy(shop).value, policy)
    _versioned_save(lambda: policies.save(shop, policy, now=now))
    return reminder_policy(shop)


def _checked_reminders(shop: str, update: DocumentUpdate) -> cadence.ReminderPolicy:
    """The policy as sent, whole, every step's template one the shop has for its channel."""
    try:
        policy = cadence.parse_policy({**update.document, "version": update.version + 1})
        cadence.check_templates(policy, message_templates.available(shops.get(shop)))
    except cadence.PolicyError as exc:
        raise _invalid(exc) from None
    return policy


def _check_final_notice(referral: ReferralPolicy, policy: cadence.ReminderPolicy) -> None:
    try:
        check_with_reminders(referral, policy)
    except FieldError as exc:
        last = len(policy.steps) - 1
        raise InvalidInput(
            cadence.step_message(
                last, f"the referral policy waits too little for a final notice: {exc.message}"
            ),
            field=f"steps[{last}].tone",
        ) from None


def new_step(shop: str) -> tuple[int, cadence.Step]:
    """The step the cadence editor adds to the saved sequence, and where (from 0)."""
    return cadence.new_step(reminder_policy(shop).value)


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
    doc = _checked_fraud(update)
    version = update.version + 1
    _versioned_save(lambda: policies.save_doc(shop, policies.FRAUD, version, doc, now=now))
    return fraud_settings(shop)


def _checked_fraud(update: DocumentUpdate) -> dict[str, Any]:
    from recoup.domain.fraud import parse_settings, settings_to_dict

    try:
        return settings_to_dict(parse_settings(update.document))
    except FieldError as exc:
        raise _invalid(exc) from None


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
    referral = _checked_referral(update)
    try:
        check_with_reminders(referral, policies.load(shop, shop_timezone=_timezone(shop)))
    except FieldError as exc:
        raise _invalid(exc) from None
    doc = referral_policy_to_dict(referral)
    _versioned_save(lambda: policies.save_doc(shop, policies.REFERRAL, version, doc, now=now))
    return referral_policy(shop)


def _checked_referral(update: DocumentUpdate) -> ReferralPolicy:
    try:
        return parse_referral_policy(
            {**update.document, "version": update.version + 1}, allow_loopback_http=_local()
        )
    except FieldError as exc:
        raise _invalid(exc) from None


# ---------------------------------------------------------------- all three, in one save


def all_settings(shop: str) -> AllSettings:
    return AllSettings(reminder_policy(shop), fraud_settings(shop), referral_policy(shop))


def save_settings(shop: str, update: SettingsUpdate, *, now: datetime) -> AllSettings:
    """Save the sections sent, all or none: each is checked whole, the reminders and the
    referral policy against each other (as sent, else as stored), before one transaction
    writes them, each conditioned on the version it was edited from. An error's field is a
    path from the section ("reminders.steps[4].template"); VersionConflict when any section
    was saved meanwhile."""
    writes: list[tuple[str, int, dict[str, Any]]] = []
    reminders = referral = None
    if update.reminders is not None:
        sent = update.reminders
        reminders = _in_section("reminders", lambda: _checked_reminders(shop, sent))
        writes.append((policies.REMINDERS, reminders.version, cadence.policy_to_dict(reminders)))
    if update.fraud is not None:
        fraud = update.fraud
        doc = _in_section("fraud", lambda: _checked_fraud(fraud))
        writes.append((policies.FRAUD, fraud.version + 1, doc))
    if update.referral is not None:
        sent_referral = update.referral
        referral = _in_section("referral", lambda: _checked_referral(sent_referral))
        writes.append(
            (policies.REFERRAL, sent_referral.version + 1, referral_policy_to_dict(referral))
        )
    if not writes:
        raise InvalidInput("send at least one of reminders, fraud, referral")
    if reminders is not None or referral is not None:
        _check_together(shop, reminders, referral)
    try:
        policies.save_docs(shop, writes, now=now)
    except policies.PolicyConflict:
        raise VersionConflict() from None
    return all_settings(shop)


def _check_together(
    shop: str, reminders: cadence.ReminderPolicy | None, referral: ReferralPolicy | None
) -> None:
    """A final notice must give the customer the time the referral policy promises."""
    policy = reminders or reminder_policy(shop).value
    chosen = referral or referral_policy(shop).value
    if reminders is not None:
        _in_section("reminders", lambda: _check_final_notice(chosen, policy))
        return
    try:
        check_with_reminders(chosen, policy)
    except FieldError as exc:
        raise InvalidInput(exc.message, field=join_path("referral", exc.field)) from None


def _in_section(section: str, check: Callable[[], T]) -> T:
    try:
        return check()
    except InvalidInput as exc:
        exc.field = join_path(section, exc.field or "")  # the same refusal, seen from the page
        raise


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
