"""What-if: preview a reminder policy on the shop's cases of the last days, before saving it.

Reads only: the cases opened in the window, found through the shop's opened-date index
(`store/case_listing.py`: keys `O#<opened>|<case>` in the shop's sixteen shards, a
keys-only Query per shard from the window's end back to its start, merged newest first), then
read by BatchGetItem a hundred at a time. What it reads grows with the cases opened in the
window, never with the shop's whole history, and stops at MAX_CASES. Each case is planned by
`domain/whatif.py` with the newest fraud level of its screening and its customer's zone, as
the worker and the sender would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from recoup.domain import cadence, listing, whatif
from recoup.domain.aggregate import StoredCase
from recoup.domain.timezones import zone_of_customer
from recoup.domain.whatif import CasePlan, Summary
from recoup.services.reminder_plan import reminder_policy
from recoup.store import case_listing, policies, shops
from recoup.store import cases as case_store
from recoup.store.models import OPENED

MIN_DAYS = 1
MAX_DAYS = 90
DEFAULT_DAYS = 90
# More cases than this in the window: the newest are planned and the summary says it was cut.
MAX_CASES = 5_000  # planned in about 1.3 s of one core: within the admin API's 10 s at 512 MB
_BATCH = 100  # BatchGetItem's limit
_SHARD_PAGE = 100  # keys a Query of one shard reads at a time
_OPENED_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # case_listing.opened_key's


@dataclass(frozen=True, slots=True)
class Window:
    """The cases opened from `start` (included) to `end` (excluded), each planned. `cut`:
    more opened in the window than MAX_CASES; `start` is then the oldest planned one's."""

    start: datetime
    end: datetime
    plans: tuple[CasePlan, ...]
    cut: bool


def plan_window(
    shop: str, policy: cadence.ReminderPolicy, *, now: datetime, days: int = DEFAULT_DAYS
) -> Window:
    """Each case the shop opened in the `days` before `now`, planned under `policy`."""
    end = _utc(now)
    start = end - timedelta(days=_checked_days(days))
    found = list(islice(_opened_between(shop, start, end), MAX_CASES + 1))
    cut = len(found) > MAX_CASES
    found = found[:MAX_CASES]
    if cut:
        start = _opened_at(found[-1][0])
    plans: list[CasePlan] = []
    for held in _loaded(shop, [case_id for _, case_id in found]):
        if held.case.opened_at is None or held.case.merged_into is not None:
            continue  # merged or never owed since the index was read
        plans.append(_plan(policy, held, end))
    plans.reverse()  # oldest first, as the cases opened
    return Window(start, end, tuple(plans), cut)


def preview(
    shop: str, policy: cadence.ReminderPolicy, *, now: datetime, days: int = DEFAULT_DAYS
) -> Summary:
    """What `policy` would have sent the cases the shop opened in the last `days` (1 to 90),
    and what it would still send: counts and timings (`domain/whatif.py`)."""
    window = plan_window(shop, policy, now=now, days=days)
    return whatif.summarise(
        window.plans,
        window_start=window.start,
        window_end=window.end,
        policy=policy,
        cut=window.cut,
    )


def preview_doc(
    shop: str, doc: dict[str, Any], *, now: datetime, days: int = DEFAULT_DAYS
) -> dict[str, Any]:
    """`preview` of a reminder-policy document as the admin edits it (the shop's current
    version + 1 when it names none), as JSON-safe data. Raises `cadence.PolicyError` naming
    the field of a bad document."""
    if "version" not in doc:
        stored = policies.load_doc(shop, policies.REMINDERS)
        doc = {**doc, "version": (stored[0] if stored else 0) + 1}
    policy = cadence.parse_policy(doc)
    return whatif.summary_to_dict(preview(shop, policy, now=now, days=days))


def current_policy(shop: str) -> cadence.ReminderPolicy:
    """The shop's reminder policy as saved, its times in the shop's zone."""
    return reminder_policy(shop, shops.get(shop))


def _plan(policy: cadence.ReminderPolicy, held: StoredCase, now: datetime) -> CasePlan:
    case = held.case
    result = held.screening.current if held.screening else None
    risk = str(result.level) if result else "unscored"
    zone = zone_of_customer(case.snapshot.customer if case.snapshot else None, policy)
    return whatif.plan_case(policy, case, risk=risk, zone=zone, now=now)


def _opened_between(shop: str, start: datetime, end: datetime) -> Iterator[tuple[str, str]]:
    """(opened key, case id) of the cases opened from `start` to before `end`, newest first:
    the index's keys between the two, a page of each shard at a time."""
    sorts = case_listing.ordered(
        shop,
        OPENED,
        descending=True,
        low=case_listing.opened_key(start),
        high=case_listing.opened_key(end),  # "<end>|<case>" sorts after it: end is excluded
        page_size=_SHARD_PAGE,
    )
    for sort in sorts:
        opened, case_id = sort.rsplit(listing.SEPARATOR, 1)
        yield opened, case_id


def _loaded(shop: str, case_ids: list[str]) -> Iterator[StoredCase]:
    """The cases with these ids, in the same order, `_BATCH` at a time; a case gone since
    the index was read is skipped."""
    for first in range(0, len(case_ids), _BATCH):
        chunk = case_ids[first : first + _BATCH]
        found = case_store.load_many(shop, chunk)
        yield from (found[case_id] for case_id in chunk if case_id in found)


def _opened_at(key: str) -> datetime:
    return datetime.strptime(key, _OPENED_FORMAT).replace(tzinfo=UTC)


def _checked_days(days: int) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not MIN_DAYS <= days <= MAX_DAYS:
        raise ValueError(f"days must be a whole number from {MIN_DAYS} to {MAX_DAYS}, got {days!r}")
    return days


def _utc(value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"now must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


__all__ = [
    "DEFAULT_DAYS",
    "MAX_CASES",
    "MAX_DAYS",
    "MIN_DAYS",
    "Window",
    "current_policy",
    "plan_window",
    "preview",
    "preview_doc",
]
