"""What an order's email address says: syntactically valid, and at a disposable domain or not.

Validity is `email_validator`'s syntax check (no DNS: `check_deliverability=False`). The
disposable domains come from the `disposable-email-domains` package (its maintained blocklist,
shipped as data), imported on first use; without it the answer is "unknown", never an error.
Both are pure: no network, no files beyond the installed packages.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from types import ModuleType

DISPOSABLE_PACKAGE = "disposable-email-domains"
_DISPOSABLE_MODULE = "disposable_email_domains"
MAX_EMAIL_LENGTH = 320


@dataclass(frozen=True, slots=True)
class EmailFacts:
    """None means unknown: no address, or no list to look the domain up in."""

    valid: bool | None = None
    domain: str | None = None  # lower case, IDNA (ASCII) form when the address is valid
    disposable: bool | None = None
    note: str | None = None  # a data-quality note, when part of the check could not run


@cache
def _validator() -> ModuleType:
    return importlib.import_module("email_validator")


@cache
def disposable_domains() -> frozenset[str] | None:
    """The blocklist of disposable email domains, or None when the package is missing."""
    try:
        module = importlib.import_module(_DISPOSABLE_MODULE)
    except ImportError:
        return None
    blocklist = getattr(module, "blocklist", None)
    if not isinstance(blocklist, set | frozenset):
        return None
    return frozenset(str(domain).strip().lower() for domain in blocklist)


def is_disposable(domain: str, blocklist: frozenset[str]) -> bool:
    """Whether `domain` or any parent domain of it is on the list (mx.mailinator.com too)."""
    labels = domain.strip().strip(".").lower().split(".")
    return any(".".join(labels[i:]) in blocklist for i in range(len(labels) - 1))


def check_email(email: str | None) -> EmailFacts:
    """Validity and disposability of one address. Never raises."""
    if not isinstance(email, str) or not email.strip():
        return EmailFacts()
    address = email.strip()
    if len(address) > MAX_EMAIL_LENGTH:
        return EmailFacts(valid=False, note="email: longer than 320 characters")
    validator = _validator()
    domain: str | None
    try:
        result = validator.validate_email(address, check_deliverability=False)
        valid = True
        domain = str(result.ascii_domain).lower()
    except validator.EmailNotValidError:
        valid = False
        _, at, rest = address.rpartition("@")
        domain = rest.strip().lower() if at and rest.strip() else None
    if domain is None:
        return EmailFacts(valid=valid)
    blocklist = disposable_domains()
    if blocklist is None:
        return EmailFacts(
            valid=valid,
            domain=domain,
            note=(
                f"email_disposable: the {DISPOSABLE_PACKAGE} list is not installed; "
                "treated as unknown"
            ),
        )
    return EmailFacts(valid=valid, domain=domain, disposable=is_disposable(domain, blocklist))


__all__ = [
    "DISPOSABLE_PACKAGE",
    "EmailFacts",
    "check_email",
    "disposable_domains",
    "is_disposable",
]
