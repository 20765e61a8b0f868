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

Velocity reads under card testing: on the in-process local stack (moto's `mock_aws`), a
card-testing run of n failed payments is written through the store's own code
(`store.velocity.failures` and `counters`, each UpdateItem applied as the worker's
transaction would, twenty failures of one hour at a time): all from the screened case's IP
and email, each with a card of its own, spread evenly over the last 24 h; besides, a fixed
handful of other customers seen at the case's shipping address. Then
`services.screening.screen` screens the case once, as the worker does, with every AWS call
counted (`api_log`): the DynamoDB Queries and the items they read (ScannedCount). That is
done for each size of CARD_TESTING on the same table, the run growing between them.
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

if TYPE_CHECKING:
    from recoup.domain.case import Case
    from recoup.domain.events import PaymentAttempt

LABELLED = ROOT / "tests" / "data" / "fraud" / "orders.jsonl"
GOAL_NS = 1_000_000  # scoring per case, velocity queries excluded: under 1 ms
ROUNDS = 7
REPEATS = 40  # scorings of one case (or parses of the order) per timed span
CARD_TESTING = (10, 100, 1_000, 10_000)  # failed payments from one IP in the last 24 h
BASE = 100  # the size the others are compared with (every hour of the window holds some)
CHUNK = 20  # failures of one hour written per update round (each card is a bucket)
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
    history: int  # failed payments of the card-testing run, from the case's IP and email
    marks: int  # velocity counter and address bucket items in the table
    queries: int  # dynamodb.Query calls of one screening
    scanned: int  # items they read: sum of ScannedCount
    returned: int  # items they returned: sum of Count
    operations: Mapping[str, int]  # every call of the screening, by label
    counts: Mapping[str, int]  # the velocity signals it computed


@dataclass(frozen=True)
class VelocityResult:
    identities: Sequence[str]  # what the screened case names: email, card, ip, address
    runs: Sequence[VelocityRun]  # smaller run first
    result: str  # what the screening scored (at the largest run)

    def base(self) -> VelocityRun:
        return next((run for run in self.runs if run.history == BASE), self.runs[0])

    def ratio(self, run: VelocityRun) -> float:
        """Items read at this size over items read at BASE failed payments."""
        return run.scanned / self.base().scanned

    @property
    def growth(self) -> float:
        """Items read with the largest run over items read with BASE failed payments."""
        return self.ratio(self.runs[-1])

    @property
    def query_growth(self) -> float:
        return self.runs[-1].queries / self.base().queries


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
class _CardTesting:
    """A card-testing run against the shop: failed payments from the screened case's IP and
    email, each with a new card, spread evenly over the last 24 h (the newest a minute
    before the screening), written by the store's own code; and other customers seen at the
    case's shipping address."""

    def __init__(self, case: Case, now: datetime) -> None:
        self.case = replace(case, attempts=())
        self.now = now

    def _attempt(self, k: int, at: datetime) -> PaymentAttempt:
        from recoup.domain.events import PaymentAttempt, Source

        return PaymentAttempt(
            f"ch_test_{k}",
            Source.STRIPE,
            False,
            at,
            code="card_declined",
            card_fingerprint=f"fp_test_{k}",
        )

    def write(self, done: int, size: int) -> int:
        """Failures done..size-1 of a run of `size` (their times spread over 24 h for that
        size); returns the updates applied."""
        from recoup.store import velocity

        window = velocity.DAY - timedelta(minutes=2)
        times = [self.now - timedelta(minutes=1) - window * k / size for k in range(done, size)]
        by_hour: dict[str, list[PaymentAttempt]] = {}
        for k, at in zip(range(done, size), times, strict=True):
            by_hour.setdefault(velocity.hour_sk(at), []).append(self._attempt(k, at))
        applied = 0
        for attempts in by_hour.values():
            for start in range(0, len(attempts), CHUNK):
                event = replace(self.case, attempts=tuple(attempts[start : start + CHUNK]))
                found = velocity.failures(event, None, self.now)
                for item, actions in velocity.counters(SHOP, event, found, self.now, present=False):
                    item.update(actions=actions)
                    applied += 1
        return applied

    def neighbours(self) -> int:
        from recoup.store import velocity

        customer = self.case.snapshot.customer if self.case.snapshot else None
        if self.case.snapshot is None or customer is None:
            raise BenchError("the screened case has no customer")
        applied = 0
        for k in range(NEIGHBOURS):
            other = replace(customer, email=f"neighbour-{k}@example.net")
            neighbour = replace(self.case, snapshot=replace(self.case.snapshot, customer=other))
            at = self.now - timedelta(days=k + 1)
            for item, actions in velocity.counters(SHOP, neighbour, [], at):
                item.update(actions=actions)
                applied += 1
        return applied


def _screen(log: ApiLog, label: str, case: Case, now: datetime) -> tuple[Any, dict[str, int]]:
    from recoup.services import screening
    from recoup.store import velocity

    counted: dict[str, int] = {}
    tally = velocity.tally

    def counting(*args: Any, **kwargs: Any) -> Any:
        found = tally(*args, **kwargs)
        counted.update(found.signals)
        return found

    log.phase, log.function = label, WORKER
    try:
        with mock.patch.object(velocity, "tally", counting), log.recording():
            screened = screening.screen(None, case, now)
    finally:
        log.phase, log.function = "harness", None
    return screened, counted


def _items_in_table(table: str) -> int:
    import boto3

    client = boto3.client("dynamodb", region_name=os.environ.get("AWS_REGION", "us-east-1"))
    pages = client.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="begins_with(pk, :vel) OR begins_with(pk, :addr)",
        ExpressionAttributeValues={":vel": {"S": "VEL#"}, ":addr": {"S": "ADDR#"}},
        Select="COUNT",
    )
    return sum(page["Count"] for page in pages)


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
            if "ip" not in identities:
                raise BenchError("the screened case names no IP: no card testing to measure")
            run = _CardTesting(case, now)
            run.neighbours()
            table = get_settings().table_name
            done = 0
            result = ""
            for size in CARD_TESTING:
                # The run grows: what was written for the smaller size stays (its times
                # spread for that size), the rest is spread over the same 24 h.
                run.write(done, size)
                done = size
                label = f"card testing {size}"
                screened, counts = _screen(log, label, case, now)
                current = screened.screening.current if screened.screening else None
                if current is None or current.level is FraudLevel.UNSCORED:
                    why = "; ".join(current.notes) if current else "not scored"
                    raise BenchError(f"the screening did not score the case: {why}")
                if counts.get("failed_payments_ip_24h") != size + 1:  # + the case's own
                    raise BenchError(f"{size} failures from the IP counted as {counts}")
                result = f"{current.level} (score {current.score})"
                calls = log.made(phase=label)
                queries = [c for c in calls if c.operation == "dynamodb.Query"]
                runs.append(
                    VelocityRun(
                        history=size,
                        marks=_items_in_table(table),
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
    return VelocityResult(identities=identities, runs=runs, result=result)
