"""Fraud screening's costs: the pure scoring time per case, and the velocity reads per case
as the shop's history grows.

Scoring time, in this process (`time.perf_counter_ns`, warm, best of several rounds):
- `score(signals)` for each case of the labelled set tests/data/fraud/orders.jsonl, its
  line read into `Signals` as tests/unit/test_fraud_quality.py reads it (`Signals.from_dict`
  of the line's "signals"), outside the timed span;
- the worker's whole pure path on a real case: the project's Shopify order and its Stripe
  payment failure, normalised and folded into one case, then `case_inputs`,
  `inputs_digest`, `signals_for_case` and `score`, with the velocity counts the second part
  read for that case;
- as the yardstick, in the same rounds: `json.loads` of the Shopify order's body, the same
  bytes the webhook receives. Both are pure CPU in one process, so their ratio says more
  across machines than microseconds do, and every reader has parsed JSON. (An in-process
  moto `GetItem` would time moto's Python emulation, not DynamoDB.)

Velocity reads: on the in-process local stack (moto's `mock_aws`), the shop's history of
failed payments is written straight into the table with BatchWriteItem, built by the store's
own `store.velocity.marks` so that the keys are the real ones: mostly older than 24 h and
for other customers, cards and IPs, plus a fixed handful in the last 24 h for the identities
of the case being screened (and, when the case has a shipping address, other customers
seen there). Then `services.screening.screen` screens that case once, as the worker does,
with every AWS call counted (`api_log`): the DynamoDB Queries and the items they read
(ScannedCount). That is done with HISTORY[0] failed payments, then on the same table after
writing the rest of HISTORY[-1].
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from unittest import mock

from benchmarks.api_log import ApiLog
from benchmarks.aws_calls import _quiet_stdout
from benchmarks.fresh import ROOT, BenchError
from benchmarks.payloads import SHOP, STRIPE_ACCOUNT, Deliveries
from benchmarks.scheduler_reads import _write

if TYPE_CHECKING:
    from recoup.domain.case import Case
    from recoup.domain.events import PaymentAttempt
    from recoup.store.models import VelocityItem

LABELLED = ROOT / "tests" / "data" / "fraud" / "orders.jsonl"
GOAL_NS = 1_000_000  # scoring per case, velocity queries excluded: under 1 ms
ROUNDS = 7
REPEATS = 40  # scorings of one case (or parses of the order) per timed span
HISTORY = (100, 1_000)  # failed payments in the shop's history: small, then 10x
RECENT = 3  # failed payments by the screened case's customer in the last 24 h
NEIGHBOURS = 2  # other customers seen at the screened case's shipping address
ORDER_INDEX = 4_000_000  # the screened order, apart from the other benchmarks' orders
WORKER = "EventWorkerFunction"
SIGNING = "bench-unverified"  # deliveries are only normalised here, never verified


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class ScoringTime:
    cases: int  # labelled cases scored
    per_case_ns: float  # the mean over the set of each case's best time
    slowest_ns: float  # the slowest case's best time
    slowest: str  # its id
    path_ns: float  # the worker's pure path on the project's order, best
    path_score_ns: float  # of which `score()` of that case's signals, best
    path_result: str  # what that path scored ("low (score 0)")
    parse_ns: float  # json.loads of the Shopify order's body, best
    parse_bytes: int
    rounds: int
    repeats: int

    @property
    def to_goal(self) -> float:
        return self.per_case_ns / GOAL_NS

    @property
    def to_parse(self) -> float:
        return self.per_case_ns / self.parse_ns

    @property
    def path_to_goal(self) -> float:
        return self.path_ns / GOAL_NS

    @property
    def path_to_parse(self) -> float:
        return self.path_ns / self.parse_ns


@dataclass(frozen=True)
class VelocityRun:
    history: int  # failed payments in the shop's history (besides the recent handful)
    marks: int  # velocity and address marks in the table
    queries: int  # dynamodb.Query calls of one screening
    scanned: int  # items they read: sum of ScannedCount
    returned: int  # items they returned: sum of Count
    operations: Mapping[str, int]  # every call of the screening, by label
    counts: Mapping[str, int]  # the velocity signals it computed


@dataclass(frozen=True)
class VelocityResult:
    identities: Sequence[str]  # what the screened case names: email, card, ip, address
    runs: Sequence[VelocityRun]  # smaller history first
    result: str  # what the screening scored

    @property
    def growth(self) -> float:
        """Items read with the larger history over items read with the smaller one."""
        return self.runs[-1].scanned / self.runs[0].scanned

    @property
    def query_growth(self) -> float:
        return self.runs[-1].queries / self.runs[0].queries


# ---------------------------------------------------------------- the case
def screened_case(deliveries: Deliveries) -> tuple[Case, datetime]:
    """The project's Shopify order and its Stripe payment failure, normalised and folded
    into one case, and the time the worker screens it (a minute after the failure)."""
    from recoup.domain.case import apply, new_case
    from recoup.integrations import shopify, stripe

    order = deliveries.shopify(ORDER_INDEX, SIGNING)
    opened = shopify.normalise(shopify.read_delivery(order.headers), order.body)
    failed = stripe.normalise(stripe.read_event(deliveries.stripe_body(ORDER_INDEX)))
    if opened is None or failed is None or failed.case_id != opened.case_id:
        raise BenchError("the order and its payment failure do not make one case")
    case = new_case(SHOP, opened.case_id)
    for event in (opened, failed):
        case = apply(case, event).case
    if not [a for a in case.attempts if not a.succeeded]:
        raise BenchError("the Stripe payment failure left no failed attempt on the case")
    return case, max(opened.occurred_at, failed.occurred_at) + timedelta(minutes=1)


# ---------------------------------------------------------------- scoring time
def _labelled() -> list[tuple[str, Any]]:
    from recoup.domain.fraud import Signals

    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line]
    return [(str(row["id"]), Signals.from_dict(row["signals"])) for row in rows]


def _span(work: Callable[[], object], repeats: int) -> float:
    """Nanoseconds per call of `work`, over `repeats` calls."""
    start = time.perf_counter_ns()
    for _ in range(repeats):
        work()
    return (time.perf_counter_ns() - start) / repeats


def scoring_time(
    deliveries: Deliveries, counts: Mapping[str, int], rounds: int = ROUNDS
) -> ScoringTime:
    """Time the pure scorer over the labelled set, the worker's pure path on the project's
    order (with `counts`, the velocity signals read for it) and `json.loads` of the order."""
    from recoup.domain.fraud import DEFAULT_SETTINGS, FraudLevel, score
    from recoup.domain.fraud.screening import case_inputs, inputs_digest, signals_for_case

    labelled = _labelled()
    unscored = [i for i, signals in labelled if score(signals).level is FraudLevel.UNSCORED]
    if unscored:
        raise BenchError(f"the scorer did not score {unscored[:3]}: its time would mean nothing")
    case, _ = screened_case(deliveries)
    body = deliveries.shopify_body(ORDER_INDEX)

    def path() -> Any:
        raw = case_inputs(case)
        inputs_digest(raw, case)
        signals = signals_for_case(case, counts, DEFAULT_SETTINGS.high_value, raw)
        return score(signals, DEFAULT_SETTINGS)

    case_signals = signals_for_case(case, counts, DEFAULT_SETTINGS.high_value)
    scorers = [(i, lambda s=signals: score(s)) for i, signals in labelled]
    best: dict[str, float] = {}
    # The first round warms up (the email checks' domain list, the country codes) and
    # is not counted.
    for round_number in range(rounds + 1):
        spans = {i: _span(work, REPEATS) for i, work in scorers}
        spans["path"] = _span(path, REPEATS)
        spans["path score"] = _span(lambda: score(case_signals, DEFAULT_SETTINGS), REPEATS)
        spans["parse"] = _span(lambda: json.loads(body), REPEATS)
        if round_number:
            best = {k: min(v, best.get(k, v)) for k, v in spans.items()}
    per_case = {i: best[i] for i, _ in labelled}
    slowest = max(per_case, key=per_case.__getitem__)
    scored = path()
    return ScoringTime(
        cases=len(labelled),
        per_case_ns=sum(per_case.values()) / len(per_case),
        slowest_ns=per_case[slowest],
        slowest=slowest,
        path_ns=best["path"],
        path_score_ns=best["path score"],
        path_result=f"{scored.level} (score {scored.score})",
        parse_ns=best["parse"],
        parse_bytes=len(body),
        rounds=rounds,
        repeats=REPEATS,
    )


# ---------------------------------------------------------------- velocity reads
class _History:
    """The shop's history of velocity and address marks, built by `store.velocity.marks`.

    Entry i of the history is a failed payment. Of each ten: one (i % 10 == 5) by the
    screened case's own customer, card and IP, more than 24 h ago; two (i % 10 in 0, 3) by
    someone else in the last 24 h; seven by someone else 25 to 47 h ago (marks live for two
    days). Someone else has an email, card, IP and shipping address of their own."""

    def __init__(self, case: Case, now: datetime) -> None:
        self.case = case
        self.now = now
        fingerprints = [a.card_fingerprint for a in case.attempts if a.card_fingerprint]
        self.card = fingerprints[-1] if fingerprints else None

    def _attempt(self, name: str, at: datetime, card: str | None) -> PaymentAttempt:
        from recoup.domain.events import PaymentAttempt, Source

        return PaymentAttempt(
            name, Source.STRIPE, False, at, code="card_declined", card_fingerprint=card
        )

    def _someone_else(self, tag: str, number: int, *, same_address: bool = False) -> Case:
        customer = self.case.snapshot.customer if self.case.snapshot else None
        if self.case.snapshot is None or customer is None:
            raise BenchError("the screened case has no customer")
        other = replace(
            customer,
            email=f"{tag}@example.net",
            address1=customer.address1 if same_address else f"{tag} History Road",
        )
        ip = f"198.19.{number // 256 % 256}.{number % 256}"  # the benchmarking range
        signals = tuple(
            (name, ip if name == "browser_ip" else value, key)
            for name, value, key in self.case.signals
        )
        return replace(
            self.case,
            snapshot=replace(self.case.snapshot, customer=other),
            signals=signals,
            attempts=(),
        )

    def entry(self, i: int) -> list[VelocityItem]:
        from recoup.store import velocity

        hours = 24 + 1 + (i * 37) % (22 * 60) / 60  # 25 h to 47 h ago
        if i % 10 == 5:
            at = self.now - timedelta(hours=hours)
            own = replace(self.case, attempts=())
            return velocity.marks(SHOP, own, [self._attempt(f"ch_hist_{i}", at, self.card)], at)
        if i % 10 in (0, 3):
            at = self.now - timedelta(minutes=1 + (i * 37) % (23 * 60))
        else:
            at = self.now - timedelta(hours=hours)
        other = self._someone_else(f"history-{i}", i)
        return velocity.marks(SHOP, other, [self._attempt(f"ch_hist_{i}", at, f"fp_hist_{i}")], at)

    def recent(self) -> list[VelocityItem]:
        """The handful in the last 24 h: the screened customer's own failed payments, and
        other customers seen at the same shipping address."""
        from recoup.store import velocity

        items: list[VelocityItem] = []
        own = replace(self.case, attempts=())
        for k in range(RECENT):
            at = self.now - timedelta(minutes=30 + k * 7 * 60)
            attempt = self._attempt(f"ch_recent_{k}", at, self.card)
            items += velocity.marks(SHOP, own, [attempt], at)
        for k in range(NEIGHBOURS):
            neighbour = self._someone_else(f"neighbour-{k}", 65_000 + k, same_address=True)
            items += velocity.marks(SHOP, neighbour, [], self.now - timedelta(days=k + 1))
        return items


def _items(marks: list[VelocityItem]) -> dict[str, dict[str, Any]]:
    return {mark.sk: mark.serialize() for mark in marks}


def _screen(log: ApiLog, label: str, case: Case, now: datetime) -> tuple[Any, dict[str, int]]:
    from recoup.services import screening
    from recoup.store import velocity

    counted: dict[str, int] = {}
    count = velocity.counts

    def counts(*args: Any, **kwargs: Any) -> dict[str, int]:
        found = count(*args, **kwargs)
        counted.update(found)
        return found

    log.phase, log.function = label, WORKER
    try:
        with mock.patch.object(velocity, "counts", counts), log.recording():
            screened = screening.screen(None, case, now)
    finally:
        log.phase, log.function = "harness", None
    return screened, counted


def velocity_reads(deliveries: Deliveries) -> VelocityResult:
    from recoup.domain.fraud import FraudLevel
    from recoup.services import shops
    from recoup.settings import get_settings
    from recoup.store.bind import bind
    from recoup.store.velocity import Identities
    from recoup_local.lambdas import reset_caches
    from recoup_local.stack import in_process

    case, now = screened_case(deliveries)
    log = ApiLog()
    runs: list[VelocityRun] = []
    saved = dict(os.environ)
    try:
        with _quiet_stdout(), in_process():
            shops.install(SHOP, stripe_account=STRIPE_ACCOUNT)
            bind()
            # The identities' keys are keyed hashes: the stack's identity-hash key is needed.
            who = Identities.of(case)
            identities = [dim for dim in ("email", "card", "ip", "address") if getattr(who, dim)]
            history = _History(case, now)
            table = get_settings().table_name
            written = _items(history.recent())
            _write(table, list(written.values()))
            done = 0
            result = ""
            for size in HISTORY:
                more = _items([m for i in range(done, size) for m in history.entry(i)])
                _write(table, [item for sk, item in more.items() if sk not in written])
                written.update(more)
                done = size
                label = f"history {size}"
                screened, counts = _screen(log, label, case, now)
                current = screened.screening.current if screened.screening else None
                if current is None or current.level is FraudLevel.UNSCORED:
                    why = "; ".join(current.notes) if current else "not scored"
                    raise BenchError(f"the screening did not score the case: {why}")
                result = f"{current.level} (score {current.score})"
                calls = log.made(phase=label)
                queries = [c for c in calls if c.operation == "dynamodb.Query"]
                runs.append(
                    VelocityRun(
                        history=size,
                        marks=len(written),
                        queries=len(queries),
                        scanned=sum(c.scanned or 0 for c in queries),
                        returned=sum(c.count or 0 for c in queries),
                        operations=dict(sorted(Counter(c.label for c in calls).items())),
                        counts=dict(sorted(counts.items())),
                    )
                )
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_caches()
    if runs[0].counts != runs[-1].counts:
        raise BenchError(
            f"the velocity counts changed with the history: {runs[0].counts} -> {runs[-1].counts}"
        )
    return VelocityResult(identities=identities, runs=runs, result=result)
