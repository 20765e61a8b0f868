"""What the admin's case list shows of a case and finds it by: its display state, and the
search terms (order name, customer email, first and last name) in the one normal form both
the stored keys and a search use.

Pure: the store keeps the terms as keys (an email under a keyed hash), the services read
them, the admin views show the state.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from recoup.domain.aggregate import StoredCase
from recoup.domain.case import Case, CaseStatus
from recoup.domain.fraud.screening import Gate

# The state a merchant reads in the list, one per case, in this order of precedence.
DISPLAY_STATES = ("open", "paid", "cancelled", "written_off", "referred", "fraud", "review")
# Key material is bounded: a name or an order name longer than this is kept by its start.
MAX_TERM = 64
# Separates a term from what follows it in a key: taken out of every term.
SEPARATOR = "|"


def display_state(stored: StoredCase) -> str:
    """Paid or cancelled when closed; else written off, fraud (flagged or confirmed),
    referred (a referral still active), review (held for a fraud decision) or open."""
    case = stored.case
    if case.status is CaseStatus.PAID:
        return "paid"
    if case.status is CaseStatus.CANCELLED:
        return "cancelled"
    referrals, screening = stored.referrals, stored.screening
    if referrals is not None and referrals.written_off is not None:
        return "written_off"
    if screening is not None and screening.gate is Gate.FLAG:
        return "fraud"
    latest = referrals.latest if referrals is not None else None
    if latest is not None and latest.active:  # still with the agency or the lawyer
        return "referred"
    if screening is not None and screening.gate is Gate.HOLD:
        return "review"
    return "open"


def case_currency(case: Case) -> str | None:
    """The currency the case is in: of what it owes, else of its order."""
    if case.amount_owed is not None:
        return case.amount_owed.currency
    total = case.snapshot.order_total if case.snapshot else None
    return total.currency if total else None


@dataclass(frozen=True, slots=True)
class SearchTerms:
    """A case's terms in normal form: its order name, its customer's email (whole) and
    names (each a prefix may match)."""

    order: str | None = None
    email: str | None = None
    names: frozenset[str] = frozenset()


def search_terms(case: Case) -> SearchTerms:
    snapshot = case.snapshot
    if snapshot is None:
        return SearchTerms()
    customer = snapshot.customer
    names = (customer.first_name, customer.last_name) if customer else ()
    return SearchTerms(
        order=normal_order(snapshot.order_name) if snapshot.order_name else None,
        email=normal_email(customer.email) if customer and customer.email else None,
        names=frozenset(n for name in names if name and (n := normal_name(name))),
    )


def normal_order(text: str) -> str | None:
    """ "#1001" and "1001" alike: folded, without the leading "#"."""
    return _normal(text.strip().lstrip("#")) or None


def normal_email(text: str) -> str | None:
    folded = text.strip().casefold()
    return folded if "@" in folded else None


def normal_name(text: str) -> str | None:
    """Folded, accents taken off ("José" is found by "jose"), spaces collapsed."""
    return _normal(text) or None


def _normal(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c) and c.isprintable())
    return " ".join(bare.replace(SEPARATOR, " ").split())[:MAX_TERM]
