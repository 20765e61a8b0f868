"""Cases and their audit trails in DynamoDB: load, and save with one transaction.

A save is a single TransactWriteItems: the case item (conditioned on the version that was
read, so a concurrent writer forces a re-read), its next audit entry (conditioned on not
existing), and any cross references. Either all of it lands or none of it does.

`change` is the one way a service changes a case: read it, let a decision say what to
write, commit that on the version read, and on a concurrent write read and decide again.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Generic, TypeAlias, TypeVar

from pynamodb.exceptions import (
    DoesNotExist,
    PynamoDBException,
    TransactWriteError,
    UpdateError,
)
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from recoup import aws, clock
from recoup.domain import erasure, rollup
from recoup.domain.aggregate import StoredCase as StoredCase  # re-exported until callers move
from recoup.domain.audit import GENESIS, AuditEntry
from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import Dunning
from recoup.domain.fraud.screening import Screening
from recoup.domain.referral import Referrals
from recoup.domain.rollup import RollupKey
from recoup.observability import logger
from recoup.store import case_listing, customer_links, experiment_outcomes, rollups, waiting
from recoup.store.bind import bind, connection
from recoup.store.models import (
    AUDIT_PREFIX,
    CASE_SK,
    SHOP_SHARDS,
    TRACKED,
    UNTRACKED,
    XREF,
    XREF_SK,
    AuditItem,
    CaseItem,
    XrefItem,
    audit_sk,
    case_pk,
    shop_part,
    shop_parts,
    xref_pk,
)

# Orders that never owed anything are kept only long enough to absorb late deliveries.
UNTRACKED_RETENTION = timedelta(days=90)


class ConcurrentUpdate(Exception):
    """Another writer changed the case between our read and our write."""


# The due index's partition keys, shared by every shop: an unpaid order writes them about 8
# times over its life (opened, two per reminder, closed), so 8 partitions take 1,000 unpaid
# orders a second; every scheduler run costs one Query per shard, so keep them few. Entries
# written when there were 4 stay where they are: a run reads every shard.
DUE_SHARDS = 8
# The due index's `next_step` for a referral check rather than a reminder step.
ESCALATION_CHECK = -1
# The due index's `next_step` for a referral's hand-over still to deliver (its outbox entry).
HANDOVER_DELIVERY = -2
# The due index's `next_step` for a promise to pay in force: its nudge the day before, and
# its check once the promised date has passed (services.customer_requests).
PROMISE_NUDGE = -3
PROMISE_CHECK = -4
# The due index's `next_step` for an instalment plan in force: its job (charge an instalment,
# end the grace days of a missed one, or lapse a plan whose card was never saved), run by
# the plan charges function; and the message telling the customer an instalment failed,
# run by the sender (services.instalment_plans).
PLAN_DUE = -5
PLAN_NOTICE = -6
# The courtesy reminder before a payment-terms due date (services.sending, like a nudge).
COURTESY = -7
# A retry of the case's failed card payment (services.payment_retries, run by the plan
# charges function).
RETRY_CHARGE = -8
# A manual-payment strategy's end: the customer's last message (the sender's, like a nudge),
# then the order's cancellation in Shopify (services.auto_cancel, the Shopify tasks worker).
CANCEL_NOTICE = -9
CANCEL_ORDER = -10

# What a read or a write of the table raises when it failed for a reason that may pass (a
# throttle that outlasted the SDK's retries, a lost answer): the `transient` of a caller of
# `change` that tries again, so that it need not name the SDK.
TRANSIENT_FAILURES: tuple[type[Exception], ...] = (PynamoDBException,)


def load(shop: str, case_id: str) -> StoredCase | None:
    bind()
    try:
        item = CaseItem.get(case_pk(shop, case_id), CASE_SK, consistent_read=True)
    except DoesNotExist:
        return None
    return stored(item)


def load_many(shop: str, case_ids: Iterable[str]) -> dict[str, StoredCase]:
    """The cases that exist among these ids, in one consistent BatchGetItem."""
    bind()
    keys = [(case_pk(shop, i), CASE_SK) for i in dict.fromkeys(case_ids)]
    if not keys:
        return {}
    found = (stored(item) for item in CaseItem.batch_get(keys, consistent_read=True))
    return {held.case.case_id: held for held in found}


def stored(item: CaseItem) -> StoredCase:
    case_listing.remember(str(item.pk), int(item.version or 0), item.listed)
    return StoredCase(
        case=Case.from_dict(item.doc),
        version=int(item.version or 0),
        audit_seq=int(item.audit_seq),
        audit_head=item.audit_head,
        dunning=Dunning.from_dict(item.dunning) if item.dunning else None,
        screening=Screening.from_dict(item.screening) if item.screening else None,
        referrals=Referrals.from_dict(item.referral) if item.referral else None,
        rollup_version=int(item.rollup_version or 0),
    )


def recoup_entry(
    prior: StoredCase,
    *,
    source: str,
    kind: str,
    event_id: str,
    summary: str,
    effect: str,
    now: datetime,
) -> AuditEntry:
    """The case's next audit entry for something Recoup or the merchant did (no webhook)."""
    body: dict[str, object] = {
        "event_id": event_id,
        "source": source,
        "kind": kind,
        "fact": "",
        "occurred_at": now.isoformat(),
        "recorded_at": now.isoformat(),
        "summary": summary,
        "effect": effect,
    }
    return AuditEntry.following(prior.audit_seq, prior.audit_head or GENESIS, body)


def due_shard(shop: str, case_id: str) -> str:
    digest = hashlib.sha256(f"{shop}#{case_id}".encode()).digest()
    return due_partition(digest[0] % DUE_SHARDS)


def due_partition(shard: int) -> str:
    return f"DUE#{shard}"


def due_key(at: datetime, shop: str, case_id: str) -> str:
    return f"{_due_second(at)}#{shop}#{case_id}"


# An entry is never keyed at or before the second it is written in: the scheduler's cursors
# only move forward and never pass the second a run started in, so an entry due in the past
# (a late webhook, a resumed hold, a check or a retry due now) lands after every cursor and
# the next run queues it. (A write in the second before a run that the index shows only after
# the run's Query may still be passed; the sweep queues it within two hours.)
INDEX_SETTLE = timedelta(seconds=1)


def index_key(due: datetime, shop: str, case_id: str) -> str:
    """The due key a write puts on the case: `due`, or the next second if `due` has passed."""
    return due_key(max(due, clock.now() + INDEX_SETTLE), shop, case_id)


def due_upper(at: datetime) -> str:
    """The greatest due key of a step due by `at` (in its second): after any "#..." suffix."""
    return f"{_due_second(at)}~"


def _due_second(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _due(dunning: Dunning | None, referrals: Referrals | None) -> tuple[datetime, int] | None:
    """What the due index holds for the case: (when, step), the step being HANDOVER_DELIVERY
    while a referral's hand-over is open (it comes first: a referral has stopped the
    reminders), PROMISE_NUDGE or PROMISE_CHECK while a promise to pay is in force, PLAN_DUE
    or PLAN_NOTICE while an instalment plan runs, COURTESY before a payment-terms due date,
    ESCALATION_CHECK for a referral check; RETRY_CHARGE (a retry of the failed card payment),
    CANCEL_NOTICE or CANCEL_ORDER (a manual-payment order's cancellation) when due before any
    of those; None keeps it out of the index."""
    for _, referral in referrals.entries if referrals else ():
        notification = referral.notification
        if notification.open and notification.due_at is not None:
            return notification.due_at, HANDOVER_DELIVERY
    if dunning is None:
        return None
    # One entry a case: the earliest; when it has run, the next takes its place.
    candidates = [
        (at, step)
        for at, step in (
            (dunning.retry_due, RETRY_CHARGE),
            (dunning.cancel_order_due, CANCEL_ORDER),
            (dunning.cancel_due, CANCEL_NOTICE),
        )
        if at is not None
    ]
    own = _own_due(dunning)
    if own is not None:
        candidates.append(own)
    return min(candidates, key=lambda due: due[0]) if candidates else None


def _own_due(dunning: Dunning) -> tuple[datetime, int] | None:
    courtesy = dunning.courtesy_due
    if courtesy is not None:
        return courtesy, COURTESY
    if dunning.due and dunning.next_at is not None:
        return dunning.next_at, dunning.next_step
    promised = dunning.promise_due
    if promised is not None:
        return promised[0], PROMISE_NUDGE if promised[1] else PROMISE_CHECK
    planned = dunning.plan_due
    if planned is not None:
        return planned[0], PLAN_NOTICE if planned[1] == "notice" else PLAN_DUE
    check = dunning.escalation_due_at
    return (check, ESCALATION_CHECK) if check is not None else None


def next_due(stored: StoredCase) -> tuple[datetime, int] | None:
    """When the case's next work is due and which (a step, or one of the negative kinds
    above), as the due index holds it; None: nothing is scheduled."""
    return _due(stored.dunning, stored.referrals)


@dataclass(frozen=True, slots=True)
class CaseWrite:
    """One case to write: its new state, what was read (None: new), its next audit entry,
    its reminder progress, its fraud screening and its referrals (None keeps what was read)."""

    case: Case
    prior: StoredCase | None
    entry: AuditEntry
    dunning: Dunning | None = None
    screening: Screening | None = None
    referrals: Referrals | None = None

    @property
    def reminders(self) -> Dunning | None:
        if self.dunning is not None:
            return self.dunning
        return self.prior.dunning if self.prior else None

    @property
    def screened(self) -> Screening | None:
        if self.screening is not None:
            return self.screening
        return self.prior.screening if self.prior else None

    @property
    def referred(self) -> Referrals | None:
        if self.referrals is not None:
            return self.referrals
        return self.prior.referrals if self.prior else None


def save_all(
    writes: list[CaseWrite],
    *,
    now: datetime,
    xrefs: Iterable[str] = (),
    extra: Iterable[Model] = (),
    absent: Iterable[Model] = (),
    updates: Iterable[tuple[Model, list[Any]]] = (),
) -> None:
    """Write several cases of one shop (a merge) in one transaction; xrefs point at the
    first case; `extra` items are put as they are, `absent` ones only if no item has their
    key (else ConcurrentUpdate, like a changed case), `updates` applied to their items
    (counters: atomic ADDs)."""
    bind()
    waiting_items = _waiting_markers(writes, now)
    try:
        with TransactWrite(connection=connection()) as tx:
            for write in writes:
                _add_case(tx, write, now)
            for marker in waiting_items:
                tx.save(marker)
            for item, actions in _rollup_updates(writes):
                tx.update(item, actions=actions)
            _add_experiment_items(tx, writes)
            target = writes[0].case
            for stripe_id in dict.fromkeys(xrefs):
                tx.save(_xref(target.shop, stripe_id, target.case_id))
            for item in extra:
                tx.save(item)
            for item, actions in updates:
                tx.update(item, actions=actions)
            for item in absent:
                tx.save(item, condition=item.get_attributes()["pk"].does_not_exist())
    except TransactWriteError as exc:
        if _conflict(exc):
            names = ", ".join(w.case.case_id for w in writes)
            raise ConcurrentUpdate(f"case {names} changed concurrently") from exc
        raise


def _add_experiment_items(tx: TransactWrite, writes: list[CaseWrite]) -> None:
    """The experiment keys and arm counters the writes change (store.experiment_outcomes);
    a counter named by two cases of one merge is updated once (a transaction may name an
    item once)."""
    counted: set[tuple[str, str]] = set()
    for write in writes:
        prior = (write.prior.case, write.prior.dunning) if write.prior else None
        puts, updates = experiment_outcomes.writes_of(
            write.case, write.reminders, prior, write.entry
        )
        for put in puts:
            tx.save(put)
        for item, actions in updates:
            if (item.pk, item.sk) not in counted:
                counted.add((item.pk, item.sk))
                tx.update(item, actions=actions)


def _waiting_markers(writes: list[CaseWrite], now: datetime) -> list[Model]:
    """The merchant's waiting markers the writes change (store.waiting), the shop put in
    the notice registry first when one is new."""
    items: list[Model] = []
    for write in writes:
        found = waiting.marker_writes(
            write.prior, write.case, write.reminders, write.screened, write.referred, now
        )
        if found.registers:
            waiting.register(write.case.shop, now=now, immediate=found.immediate)
        items += found.items
    return items


def _rollup_updates(writes: list[CaseWrite]) -> list[tuple[Model, list[Any]]]:
    """What the writes change in the shop's figures, one update per rollup item (the cases
    of a merge may share one: a transaction may name an item once)."""
    changes: list[tuple[str, dict[RollupKey, dict[str, int]]]] = []
    for write in writes:
        # The case item is written whole with the current rollup version (CaseItem's
        # default), so its whole contribution is counted under it from now on.
        before = _counted(write.prior)
        after = rollup.contribution(write.case, write.reminders, write.screened, write.referred)
        changes.append((write.case.case_id, rollup.delta(before, after)))
    return list(rollups.updates_of(writes[0].case.shop, changes))


def _counted(prior: StoredCase | None) -> rollup.Contribution | None:
    """What the stored case adds to the current rollups; None if they do not count it yet
    (new, or written before this rollup version: then its next write counts it whole)."""
    if prior is None or prior.rollup_version != rollup.VERSION:
        return None
    return rollup.contribution(prior.case, prior.dunning, prior.screening, prior.referrals)


def _add_case(tx: TransactWrite, write: CaseWrite, now: datetime) -> None:
    case, prior, entry = write.case, write.prior, write.entry
    expires = None if case.opened else now + UNTRACKED_RETENTION
    tracked = case.opened and case.merged_into is None
    item = CaseItem(
        case_pk(case.shop, case.case_id),
        CASE_SK,
        shop_part=shop_part(case.shop, case.case_id),
        shop_sort=(TRACKED if tracked else UNTRACKED) + case.case_id,
        status=str(case.status),
        opened=tracked,
        opened_at=case.opened_at,
        amount_owed_minor=case.amount_owed.minor if case.amount_owed else None,
        currency=case.snapshot.order_total.currency
        if case.snapshot and case.snapshot.order_total
        else None,
        doc=_minimised(case).to_dict(),
        audit_seq=entry.seq,
        audit_head=entry.hash,
        expires_at=expires,
    )
    listed = case_listing.write_of(_minimised(case), prior)
    item.listed = sorted(listed.listed)
    reminders = write.reminders
    if reminders is not None:
        item.dunning = reminders.to_dict()
    screened = write.screened
    if screened is not None:
        item.screening = screened.to_dict()
    referrals = write.referred
    if referrals is not None:
        item.referral = referrals.to_dict()
    due = _due(reminders, referrals)
    if due is not None:
        item.due_pk = due_shard(case.shop, case.case_id)
        item.due_sk = index_key(due[0], case.shop, case.case_id)
        item.next_step = due[1]
    if prior is not None:
        item.version = prior.version
    # PynamoDB adds the version condition (attribute_not_exists for a new item).
    tx.save(item)
    tx.save(
        AuditItem(
            case_pk(case.shop, case.case_id),
            audit_sk(entry.seq),
            case_id=case.case_id,
            seq=entry.seq,
            prev_hash=entry.prev_hash,
            hash=entry.hash,
            body=entry.body,
            expires_at=expires,
        ),
        condition=AuditItem.pk.does_not_exist(),
    )
    # The admin list's keys of the case, changed with it (store/case_listing.py).
    for key in (*listed.retire, *listed.put):
        tx.save(key)
    known = erasure.case_identities(prior.case) if prior is not None else frozenset()
    for who in sorted(erasure.case_identities(_minimised(case)) - known):
        tx.save(customer_links.link(case.shop, who, case.case_id))
    if case.opened and prior is not None and not prior.case.opened:
        # Entries written while the order owed nothing had a TTL: keep them now.
        for seq in range(1, prior.audit_seq + 1):
            tx.update(
                AuditItem(case_pk(case.shop, case.case_id), audit_sk(seq)),
                actions=[AuditItem.expires_at.remove()],
                condition=AuditItem.pk.exists(),
            )


def save_dunning(prior: StoredCase, dunning: Dunning) -> StoredCase:
    """Change only the reminder progress (and the due index keys), conditioned on the
    version that was read: this is how the sender claims a step."""
    _update_schedule(prior, CaseItem.dunning.set(dunning.to_dict()), dunning, prior.referrals)
    case_listing.carry(prior.case.shop, prior.case.case_id, prior.version)
    counted = rollup.VERSION
    return replace(prior, version=prior.version + 1, dunning=dunning, rollup_version=counted)


def claim_landed(prior: StoredCase, ours: Callable[[Dunning], bool]) -> StoredCase | None:
    """The case as stored, if a claim written on `prior` landed although its write answered
    with an error: an answer lost after DynamoDB acted (a timeout), or the SDK's retry of the
    write refused by the version its first attempt had moved on. The next version, holding a
    claim `ours` recognises (made at the claimer's own time: another job's has its own), is
    that write. None: it did not land (or more has changed since)."""
    found = load(prior.case.shop, prior.case.case_id)
    held = found.dunning if found else None
    if found is None or held is None or found.version != prior.version + 1 or not ours(held):
        return None
    return found


def save_referrals(prior: StoredCase, referrals: Referrals) -> StoredCase:
    """Change only the referrals (and the due index keys), conditioned on the version that
    was read, with no audit entry: this is how the hand-over worker claims an attempt."""
    _update_schedule(prior, CaseItem.referral.set(referrals.to_dict()), prior.dunning, referrals)
    case_listing.carry(prior.case.shop, prior.case.case_id, prior.version)
    counted = rollup.VERSION
    return replace(prior, version=prior.version + 1, referrals=referrals, rollup_version=counted)


def _update_schedule(
    prior: StoredCase, change: Any, dunning: Dunning | None, referrals: Referrals | None
) -> None:
    """One attribute of the case and the due index keys that follow from it, conditioned on
    the version that was read (PynamoDB conditions the update on `version` and increments
    it)."""
    bind()
    item = CaseItem(case_pk(prior.case.shop, prior.case.case_id), CASE_SK)
    item.version = prior.version
    actions: list[Any] = [change]
    due = _due(dunning, referrals)
    if due == _due(prior.dunning, prior.referrals):
        # A claim or an outcome that leaves the step where it was keeps its index entry: a
        # moved key would cost the index a delete and a put, and the entry is what it was.
        pass
    elif due is not None:
        actions += [
            CaseItem.due_pk.set(due_shard(prior.case.shop, prior.case.case_id)),
            CaseItem.due_sk.set(index_key(due[0], prior.case.shop, prior.case.case_id)),
            CaseItem.next_step.set(due[1]),
        ]
    else:
        actions += [CaseItem.due_pk.remove(), CaseItem.due_sk.remove(), CaseItem.next_step.remove()]
    if prior.rollup_version != rollup.VERSION:
        actions.append(CaseItem.rollup_version.set(rollup.VERSION))
    after = rollup.contribution(prior.case, dunning, prior.screening, referrals)
    change = rollup.delta(_counted(prior), after)
    if change:
        # Reminders sent and a write-off are figures: the case and its rollups change
        # together.
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.update(item, actions=actions)
                for rollup_item, rollup_actions in rollups.updates(
                    prior.case.shop, prior.case.case_id, change
                ):
                    tx.update(rollup_item, actions=rollup_actions)
        except TransactWriteError as exc:
            if _conflict(exc):
                raise ConcurrentUpdate(f"case {prior.case.case_id} changed concurrently") from exc
            raise
        return
    try:
        item.update(actions=actions)
    except UpdateError as exc:
        if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            raise ConcurrentUpdate(f"case {prior.case.case_id} changed concurrently") from exc
        raise


# ---------------------------------------------------------------- the unit of work

# Decisions one change of a case makes, each on a fresh read, before it gives up on other
# writers that keep getting there first.
MAX_ATTEMPTS = 5

Result = TypeVar("Result")


@dataclass(frozen=True, slots=True)
class Change(Generic[Result]):
    """What a decision writes in one transaction with the case it was made on: the case's
    new state and its next audit entry, the parts that change (None keeps what was read),
    other cases of the shop written with it (a merge), and items beside them (as `save_all`
    takes them). Once it is written, `change` runs `after` (a log line, a metric, a job
    queued) and returns `result`; neither happens for a write that failed."""

    case: Case
    entry: AuditEntry
    result: Result
    dunning: Dunning | None = None
    screening: Screening | None = None
    referrals: Referrals | None = None
    others: Sequence[CaseWrite] = ()
    xrefs: Iterable[str] = ()
    extra: Iterable[Model] = ()
    absent: Iterable[Model] = ()
    updates: Iterable[tuple[Model, list[Any]]] = ()
    after: Callable[[], None] | None = None


@dataclass(frozen=True, slots=True)
class Progress(Generic[Result]):
    """The reminder progress or the referrals alone, with no audit entry: a claim (the
    sender's step, the hand-over worker's attempt) or its release, as one version-conditioned
    update. `then` gets the case as written and says what `change` returns: whoever holds a
    claim writes next on that version."""

    then: Callable[[StoredCase], Result]
    dunning: Dunning | None = None
    referrals: Referrals | None = None


@dataclass(frozen=True, slots=True)
class ReadAgain:
    """Read the case again and decide again: the decision learned something that changes it
    (a claim lost to another writer, an address found undeliverable); with `case_id`, the
    change belongs to that case instead (the one a merged case was folded into)."""

    case_id: str | None = None


class Unread(Enum):
    """No read of the case yet: `change` makes the first one."""

    UNREAD = "unread"


UNREAD = Unread.UNREAD

# What a decision returns: a write to commit, a fresh read to decide on, or a result as it
# is (None, an outcome): nothing to write.
Decision: TypeAlias = Change[Result] | Progress[Result] | ReadAgain | Result


def change(
    shop: str,
    case_id: str,
    decide: Callable[[StoredCase | None], Decision[Result]],
    *,
    now: datetime,
    first: StoredCase | Unread | None = UNREAD,
    attempts: int = MAX_ATTEMPTS,
    transient: tuple[type[Exception], ...] = (),
    pause: Callable[[int], None] | None = None,
) -> Result:
    """Change one case as `decide` says, committed on the version it decided on.

    `decide` gets the case as read (consistently; None: there is none) and returns a Change
    or a Progress to commit, ReadAgain, or a result to return with nothing written. A commit
    that meets another writer reads the case again and decides again, `attempts` decisions
    in all, then raises ConcurrentUpdate; a ConcurrentUpdate raised by `decide` itself is
    not retried here. `first` is a read the caller has made already (the first decision is
    made on it). A failure in `transient` while reading or committing (a throttle that
    outlasted the SDK's retries, a lost answer) is logged and tried again on a fresh read,
    since the write may have landed; the last attempt's failure is raised. `pause(n)` runs
    before the next attempt when attempt n (from 0) failed, for a backoff."""
    read = first
    for attempt in range(attempts):
        more = attempt + 1 < attempts
        try:
            current = load(shop, case_id) if read is UNREAD else read
        except transient as failure:
            _failed(case_id, failure, more=more)
            read = _paused(pause, attempt, more)
            continue
        decided = decide(current)
        if isinstance(decided, ReadAgain):
            case_id, read = decided.case_id or case_id, UNREAD
            continue
        if not isinstance(decided, (Change, Progress)):
            return decided
        try:
            written = _commit(current, decided, now)
        except ConcurrentUpdate:
            read = _paused(pause, attempt, more)
            continue
        except transient as failure:
            _failed(case_id, failure, more=more)
            read = _paused(pause, attempt, more)
            continue
        # A decision that may return anything may return a Change: narrowed, it reads Any.
        result: Result = _committed(decided, written)
        return result
    raise ConcurrentUpdate(f"case {case_id}: still changing after {attempts} attempts")


def _commit(
    current: StoredCase | None, decided: Change[Any] | Progress[Any], now: datetime
) -> StoredCase | None:
    """Write what was decided on the version read; the case as written, for a Progress."""
    if isinstance(decided, Progress):
        if current is None:
            raise ValueError("reminder progress or referrals change only a stored case")
        if decided.dunning is not None:
            return save_dunning(current, decided.dunning)
        if decided.referrals is None:
            raise ValueError("a Progress names the reminder progress or the referrals")
        return save_referrals(current, decided.referrals)
    write = CaseWrite(
        decided.case,
        current,
        decided.entry,
        decided.dunning,
        decided.screening,
        decided.referrals,
    )
    save_all(
        [write, *decided.others],
        now=now,
        xrefs=decided.xrefs,
        extra=decided.extra,
        absent=decided.absent,
        updates=decided.updates,
    )
    return None


def _committed(decided: Change[Result] | Progress[Result], written: StoredCase | None) -> Result:
    if isinstance(decided, Progress):
        assert written is not None
        return decided.then(written)
    if decided.after is not None:
        decided.after()
    return decided.result


def _failed(case_id: str, failure: Exception, *, more: bool) -> None:
    if not more:
        raise failure
    logger.warning(
        "Reading or writing a case failed; trying again",
        extra={"case_id": case_id, "error": aws.error_code(failure)},
    )


def _paused(pause: Callable[[int], None] | None, attempt: int, more: bool) -> Unread:
    """Wait before the next attempt (if the caller backs off and there is one): it reads
    afresh."""
    if pause is not None and more:
        pause(attempt)
    return UNREAD


def _minimised(case: Case) -> Case:
    """An order that was paid or cancelled before it ever owed anything keeps no
    personal data: it is stored only to make late, out-of-order deliveries harmless."""
    if case.opened or case.status is CaseStatus.UNTRACKED or case.snapshot is None:
        return case
    return replace(case, snapshot=replace(case.snapshot, customer=None), signals=())


# A changed case fails its condition; another transaction on a shared item (a rollup) at the
# same moment is a conflict: either way, read again and retry.
_RETRIED = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


def _conflict(exc: TransactWriteError) -> bool:
    reasons = getattr(exc, "cancellation_reasons", None) or []
    return any(r is not None and r.code in _RETRIED for r in reasons)


def _xref(shop: str, stripe_id: str, case_id: str) -> XrefItem:
    return XrefItem(
        xref_pk(shop, stripe_id),
        XREF_SK,
        case_id=case_id,
        shop_part=shop_part(shop, stripe_id),
        shop_sort=XREF + stripe_id,
    )


def resolve_xref(shop: str, stripe_ids: Iterable[str]) -> str | None:
    """The case a Stripe object was linked to, if any of the ids was seen linked before."""
    bind()
    keys = [(xref_pk(shop, i), XREF_SK) for i in dict.fromkeys(stripe_ids)]
    if not keys:
        return None
    found = {item.pk: item.case_id for item in XrefItem.batch_get(keys)}
    for pk, _ in keys:
        if pk in found:
            return found[pk]
    return None


def list_cases(shop: str, *, include_untracked: bool = False) -> Iterator[Case]:
    """The shop's cases (tracked only, unless asked), in case id order; a listing for the
    local tools and tests: the admin pages page through tracked_cases."""
    found = all_cases(shop) if include_untracked else tracked_cases(shop)
    for held in found:
        if held.case.merged_into is None:
            yield held.case


def all_cases(shop: str) -> Iterator[StoredCase]:
    """Every case of the shop, merged and never-owed ones too, in case id order."""
    ids = heapq.merge(_index_ids(shop, TRACKED), _index_ids(shop, UNTRACKED))
    return _loaded(shop, ids, 100)


# A `page_size` for reading every tracked case: 100 keys a Query from each shard.
WHOLE_LISTING = 99 * SHOP_SHARDS


def tracked_cases(
    shop: str, *, after: str | None = None, page_size: int = 100
) -> Iterator[StoredCase]:
    """The shop's tracked cases (opened, not merged) in case id order, starting after case
    `after`: a paginated list stops when it has enough and resumes from the last id it read,
    so every case is listed exactly once. Ids come from the shop index (keys only; each
    shard read a share of `page_size` at a time, one more page of a shard only when the
    merge reaches its end), the cases from BatchGetItem. `page_size` is how many the caller
    expects to take: a page of 25 reads about 25 + 2 per shard keys, whatever the shop's
    size. The shop is always the key: no cursor reaches another shop's items. The index is
    eventually consistent: a case tracked in the last second may be missing from a listing."""
    shard_page = -(-page_size // SHOP_SHARDS) + 1  # + 1: the first may be `after` itself
    ids = _index_ids(shop, TRACKED, after=after, page_size=shard_page)
    return _loaded(shop, ids, page_size)


def _index_ids(
    shop: str, prefix: str, *, after: str | None = None, page_size: int = 100
) -> Iterator[str]:
    """Case ids under `prefix` in the shop index, in order across its shards."""
    bind()
    lower = prefix + (after or "")

    def shard(part: str) -> Iterator[str]:
        # "~" sorts after every character of a Shopify or Stripe id.
        condition = CaseItem.shop_sort.between(lower, prefix + "~")
        for item in CaseItem.shop_index.query(part, condition, page_size=page_size):
            sort = str(item.shop_sort)
            if sort != lower or not after:
                yield sort[len(prefix) :]

    return heapq.merge(*(shard(part) for part in shop_parts(shop)))


def _loaded(shop: str, ids: Iterable[str], batch: int) -> Iterator[StoredCase]:
    """The cases with these ids, in the same order, read `batch` at a time (BatchGetItem);
    an id whose case is gone since the index was read is skipped."""
    size = max(1, min(batch, 100))  # BatchGetItem's limit
    chunk: list[str] = []
    for case_id in ids:
        chunk.append(case_id)
        if len(chunk) == size:
            yield from _in_order(shop, chunk)
            chunk = []
    if chunk:
        yield from _in_order(shop, chunk)


def _in_order(shop: str, ids: list[str]) -> Iterator[StoredCase]:
    found = load_many(shop, ids)
    return (found[i] for i in ids if i in found)


@dataclass(frozen=True, slots=True)
class DueCase:
    shop: str
    case_id: str
    step: int  # a reminder step, ESCALATION_CHECK, HANDOVER_DELIVERY, PROMISE_NUDGE or _CHECK
    due_at: str
    key: str  # its due_sk: where it sorts in its shard


@dataclass(frozen=True, slots=True)
class DuePage:
    cases: tuple[DueCase, ...]
    more: bool  # the range may hold more after the last of these


def due_page(shard: int, upper: str, *, after: str | None = None, limit: int) -> DuePage:
    """Up to `limit` entries of one shard of the due index, in due order, with keys after
    `after` (None: from the start) up to `upper` (a `due_upper` or `due_key`): one Query
    that reads only the items in that range (never a Scan)."""
    if limit < 2:
        raise ValueError("a due page holds at least 2 entries (the first may be `after`)")
    bind()
    if after is not None and after >= upper:
        return DuePage((), more=False)
    # BETWEEN includes `after` itself: that one entry, if still there, is read and skipped.
    condition = CaseItem.due_sk <= upper if after is None else CaseItem.due_sk.between(after, upper)
    results = CaseItem.due_index.query(
        due_partition(shard), condition, limit=limit, page_size=limit
    )
    cases = tuple(_due_case(item) for item in results if item.due_sk != after)
    return DuePage(cases, more=results.last_evaluated_key is not None)


def due_count(shard: int, upper: str, *, after: str | None = None) -> int:
    """How many entries of one shard lie after `after` up to `upper` (Select=COUNT)."""
    bind()
    if after is not None and after >= upper:
        return 0
    if after is None:
        return CaseItem.due_index.count(due_partition(shard), CaseItem.due_sk <= upper)
    counted = CaseItem.due_index.count(due_partition(shard), CaseItem.due_sk.between(after, upper))
    return counted - CaseItem.due_index.count(due_partition(shard), CaseItem.due_sk == after)


def _due_case(item: CaseItem) -> DueCase:
    key = str(item.due_sk)
    due_at, shop, case_id = key.split("#", 2)
    return DueCase(shop, case_id, int(item.next_step or 0), due_at, key)


def due_cases(now: datetime, *, page_size: int = 1000) -> Iterator[DueCase]:
    """Every entry of the due index that is due by `now`, shard by shard (reminder steps,
    referral checks, hand-over deliveries), page by page."""
    upper = due_upper(now)
    for shard in range(DUE_SHARDS):
        after: str | None = None
        while True:
            page = due_page(shard, upper, after=after, limit=page_size)
            yield from page.cases
            if not page.more or not page.cases:
                break
            after = page.cases[-1].key


def audit_entry(shop: str, case_id: str, seq: int) -> AuditEntry | None:
    """One entry of the case's trail by its sequence number (one GetItem)."""
    bind()
    try:
        item = AuditItem.get(case_pk(shop, case_id), audit_sk(seq))
    except DoesNotExist:
        return None
    return AuditEntry(int(item.seq), item.prev_hash, item.hash, dict(item.body))


def audit_trail(shop: str, case_id: str) -> list[AuditEntry]:
    bind()
    return [
        AuditEntry(int(i.seq), i.prev_hash, i.hash, dict(i.body))
        for i in AuditItem.query(
            case_pk(shop, case_id), AuditItem.sk.startswith(AUDIT_PREFIX), consistent_read=True
        )
    ]
