"""The admin's list of a shop's cases: a page of them, searched, sorted and filtered, and the
same selection as rows for a CSV export.

Every request reads a bounded number of keys and cases, whatever the shop's size: the order
comes from the listing keys (store/case_listing.py: by when the case opened, or by what it
owes in one currency, a keys-only Query per shard of the shop index, merged), a search from
its terms' keys (at most MAX_MATCHES), and a filter reads at most MAX_EXAMINED cases per
page (EXPORT_EXAMINED per export) before it hands back where it stopped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from itertools import islice

from recoup.domain import listing
from recoup.domain.aggregate import StoredCase
from recoup.domain.case import Case
from recoup.domain.money import currency_exponent
from recoup.store import case_listing
from recoup.store import cases as case_store
from recoup.store.models import FOUND, OPENED

MAX_PAGE = 100
DEFAULT_PAGE = 25
# A filtered list reads at most this many cases per request, then hands back where it
# stopped: a selective filter over a large shop costs several requests, never one long one.
MAX_EXAMINED = 1000
# A search reads at most this many of its terms' keys: a two-letter name prefix in a large
# shop finds the first of its matches in name order.
MAX_MATCHES = 1000
EXPORT_ROWS = 5000
EXPORT_EXAMINED = 20000
MIN_SEARCH = 2
SORTS = ("opened_desc", "opened_asc", "owed_desc", "owed_asc")
OWED_SORTS = frozenset({"owed_desc", "owed_asc"})
# A case's display state, its status, or its reminders' status.
STATES = frozenset(listing.DISPLAY_STATES) | frozenset(
    {"scheduled", "held", "flagged", "awaiting_escalation", "not_chased", "stopped"}
)
RISKS = frozenset({"low", "review", "high", "unscored", "none"})
# Where a page stopped, in its sort's key space: `<opened or owed>|<case id>`.
POSITION = re.compile(r"[0-9A-Z:.\-]{1,40}\|[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class CaseQuery:
    """One page of the list: at most `limit` cases after position `after` in `sort`'s
    order, those that match the search `q` and the filters."""

    limit: int = DEFAULT_PAGE
    after: str | None = None  # a POSITION
    q: str | None = None
    sort: str = "opened_desc"  # one of SORTS; the owed ones need `currency`
    state: str | None = None  # one of STATES
    risk: str | None = None  # one of RISKS
    currency: str | None = None
    min_amount: Decimal | None = None  # owed, in `currency`
    max_amount: Decimal | None = None
    older_than_days: int | None = None


@dataclass(frozen=True, slots=True)
class CasePage:
    cases: list[StoredCase]
    resume_after: str | None  # the position of the last case read; None: nothing after it
    sort: str = "opened_desc"  # the order `resume_after` is a position in


def list_cases(shop: str, query: CaseQuery, *, now: datetime) -> CasePage:
    return _collect(shop, query, now, limit=query.limit, most=MAX_EXAMINED)


def export_cases(shop: str, query: CaseQuery, *, now: datetime) -> CasePage:
    """Up to EXPORT_ROWS cases of the selection from its start; `resume_after` set: more
    matched, or the export stopped after reading EXPORT_EXAMINED cases."""
    whole = replace(query, after=None, limit=EXPORT_ROWS)
    return _collect(shop, whole, now, limit=EXPORT_ROWS, most=EXPORT_EXAMINED)


def case_of(position: str) -> str:
    return position.rsplit(listing.SEPARATOR, 1)[1]


def _collect(shop: str, query: CaseQuery, now: datetime, *, limit: int, most: int) -> CasePage:
    keep = _filter(query, now)
    batch = min(100, limit + 1)  # a page and one more: a filter that skips reads on
    if query.q:
        positions = _searched(shop, query)
    else:
        positions = _ordered(shop, query, now, page_size=batch // 8 + 2)
    rows: list[StoredCase] = []
    last: str | None = None
    examined = 0
    pending = iter(positions)
    while len(rows) < limit and examined < most:
        chunk = list(islice(pending, min(batch, most - examined)))
        if not chunk:
            return CasePage(rows, None, query.sort)
        found = case_store.load_many(shop, [case_of(p) for p in chunk])
        for taken, position in enumerate(chunk, start=1):
            examined, last = examined + 1, position
            held = found.get(case_of(position))
            if held is not None and keep(held):
                rows.append(held)
            if len(rows) == limit:
                if taken < len(chunk):
                    return CasePage(rows, last, query.sort)
                break
    more = next(pending, None) is not None
    return CasePage(rows, last if more else None, query.sort)


# ---------------------------------------------------------------- the order


def _ordered(shop: str, query: CaseQuery, now: datetime, *, page_size: int) -> Iterator[str]:
    descending = query.sort.endswith("_desc")
    if query.sort in OWED_SORTS:
        if query.currency is None:
            raise ValueError("an owed sort needs a currency")
        low, high = _owed_range(query)
        prefix = case_listing.owed_prefix(query.currency)
    else:
        low, high = "", case_listing.LAST
        if query.older_than_days is not None:
            before = now - timedelta(days=query.older_than_days)
            high = case_listing.opened_key(before) + case_listing.LAST
        prefix = OPENED
    return case_listing.ordered(
        shop,
        prefix,
        descending=descending,
        low=low,
        high=high,
        after=query.after,
        page_size=page_size,
    )


def _owed_range(query: CaseQuery) -> tuple[str, str]:
    assert query.currency is not None
    scale = Decimal(10) ** currency_exponent(query.currency)
    low, high = "", case_listing.LAST
    if query.min_amount is not None:
        low = case_listing.owed_key(int((query.min_amount * scale).to_integral(ROUND_CEILING)))
    if query.max_amount is not None:
        top = int((query.max_amount * scale).to_integral(ROUND_FLOOR))
        high = case_listing.owed_key(top) + case_listing.LAST
    return low, high


# ---------------------------------------------------------------- search


def search_prefixes(q: str) -> list[str]:
    """The term keys a search looks under: an email whole; else an order name whole, and
    a first or last name by its start."""
    text = q.strip()
    sep = listing.SEPARATOR
    if "@" in text:
        email = listing.normal_email(text)
        return [f"{FOUND}e:{case_listing.email_term(email)}{sep}"] if email else []
    prefixes = []
    order = listing.normal_order(text)
    if order:
        prefixes.append(f"{FOUND}o:{order}{sep}")
    name = listing.normal_name(text)
    if name and not text.startswith("#") and len(name) >= MIN_SEARCH:
        prefixes.append(f"{FOUND}n:{name}")
    return prefixes


def _searched(shop: str, query: CaseQuery) -> Iterator[str]:
    """The matches' positions in the query's order, after its cursor. A term carries when
    its case opened, so the opened orders need no case read; the owed orders read the
    matches (at most MAX_MATCHES) for what they owe."""
    assert query.q is not None
    opened: dict[str, str] = {}
    for hit in case_listing.matching(shop, search_prefixes(query.q), limit=MAX_MATCHES):
        _, at, case_id = hit.rsplit(listing.SEPARATOR, 2)
        opened[case_id] = at
    descending = query.sort.endswith("_desc")
    if query.sort in OWED_SORTS:
        positions = _owed_positions(shop, opened, query.currency)
    else:
        positions = [f"{at}{listing.SEPARATOR}{case_id}" for case_id, at in opened.items()]
    ordered = sorted(positions, reverse=descending)
    after = query.after
    if after is not None:
        ordered = [p for p in ordered if (p < after if descending else p > after)]
    return iter(ordered)


def _owed_positions(shop: str, opened: dict[str, str], currency: str | None) -> list[str]:
    positions = []
    ids = sorted(opened)
    for start in range(0, len(ids), 100):
        for case_id, held in case_store.load_many(shop, ids[start : start + 100]).items():
            owed = held.case.amount_owed
            if owed is not None and owed.currency == currency:
                positions.append(f"{case_listing.owed_key(owed.minor)}{listing.SEPARATOR}{case_id}")
    return positions


# ---------------------------------------------------------------- the filter


def _filter(query: CaseQuery, now: datetime) -> Callable[[StoredCase], bool]:
    days = query.older_than_days
    opened_before = now - timedelta(days=days) if days is not None else None

    def keep(stored: StoredCase) -> bool:
        case = stored.case
        return (
            case.opened
            and case.merged_into is None
            and _in_state(stored, query.state)
            and _at_risk(stored, query.risk)
            and (query.currency is None or listing.case_currency(case) == query.currency)
            and _owes_between(case, query.min_amount, query.max_amount)
            and _opened_by(case, opened_before)
        )

    return keep


def _in_state(stored: StoredCase, state: str | None) -> bool:
    """A display state as the page shows it ("open" leaves out written-off, fraud, referred
    and review cases), else the reminders' status."""
    if not state:
        return True
    if state in listing.DISPLAY_STATES:
        return state == listing.display_state(stored)
    dunning = stored.dunning
    return dunning is not None and state == str(dunning.status)


def _at_risk(stored: StoredCase, risk: str | None) -> bool:
    if not risk:
        return True
    current = stored.screening.current if stored.screening else None
    return (str(current.level) if current else "none") == risk


def _owes_between(case: Case, low: Decimal | None, high: Decimal | None) -> bool:
    if low is None and high is None:
        return True
    owed = case.amount_owed
    if owed is None:
        return False
    return (low is None or owed.decimal >= low) and (high is None or owed.decimal <= high)


def _opened_by(case: Case, opened_before: datetime | None) -> bool:
    if opened_before is None:
        return True
    return case.opened_at is not None and case.opened_at <= opened_before
