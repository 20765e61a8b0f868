"""AWS calls for one case's whole life, as a ratio to the minimum the design needs.

The local stack runs in this process (moto's `mock_aws`) with the demo shop installed (its
time zone America/New_York, its Stripe account connected, the default reminder policy with no
strategy of its own, so its bank-transfer order follows the default steps). One
Shopify order goes through everything Recoup does with it:

1. opened: an `orders/create` delivery with `financial_status: pending`; the worker opens
   the case, screens it for fraud (it must pass, or nothing is sent) and schedules step 1
   (a day after the order);
2. three reminders: for each step the clock is moved to the first five-minute scheduler slot
   at or after the step's due time that is outside the customer's quiet hours (the customer
   is in Portland, Oregon), the scheduler fires (`run_schedules`) and the sender consumes the
   job (`drain`); step 1 and 2 go by email, step 3 by SMS (the default policy);
3. paid: an `orders/paid` delivery, before step 4 falls due; the worker stops the sequence;
4. idle: more scheduler runs, at and after the time step 4 would have been due; they must
   queue and send nothing.

Every botocore call is counted (`api_log`) and attributed to the function whose handler
made it: the webhook functions, the worker, the scheduler, the sender. The harness's own
calls (installing the shop, the queue poller's ReceiveMessage and DeleteMessage, reading
the case back to pick the times) are left out, as in `aws_calls`. The local stack runs
every function in this one process, where the shop cache (`store.shops`, a minute) of one
function would serve the next; deployed, each function has its own containers and the
steps are days apart, so the cache is emptied whenever another function, or the same one
in a later step, is invoked (`_Containers`).

The minimum is derived from what happened, with the rules in `_rules` (written out in
docs/performance.md), and each function's calls are matched against it: what is left over
is listed by operation and by the item or index it touched, so the excess has names. The
idle runs are counted on their own and kept out of the ratio.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from unittest import mock

from benchmarks.api_log import CASE_WITH_POLICIES, ApiCall, ApiLog
from benchmarks.aws_calls import _quiet_stdout
from benchmarks.fresh import BenchError
from benchmarks.payloads import SHOP, STRIPE_ACCOUNT, Deliveries, Delivery

if TYPE_CHECKING:
    from recoup_local.stack import LocalStack

SHOP_TIMEZONE = "America/New_York"
ORDER_INDEX = 3_000_000  # the lifecycle's order, apart from the other benchmarks' orders
REMINDERS = 3
SLOT = timedelta(minutes=5)  # the scheduler's rate (template.yaml)
IDLE_AFTER = (timedelta(0), timedelta(days=1), timedelta(days=7), timedelta(days=30))
GOAL = 1.1

ROLES = {
    "ShopifyWebhookFunction": "webhook functions",
    "StripeWebhookFunction": "webhook functions",
    "EventWorkerFunction": "worker",
    "SchedulerFunction": "scheduler",
    "SenderFunction": "sender",
}
ROLE_ORDER = ("webhook functions", "worker", "scheduler", "sender")
PROVIDERS = frozenset({"sesv2.SendEmail", "ses.SendEmail", "ses.SendRawEmail", "sns.Publish"})
DUE_WITH = "due index, shard with a due step"
DUE_EMPTY = "due index, shard with nothing due"


# ---------------------------------------------------------------- the minimum
@dataclass(frozen=True)
class Need:
    """One call the design cannot do without."""

    role: str
    name: str  # as the doc shows it
    matches: Callable[[ApiCall], bool]


def _op(operation: str, target: str | None = None) -> Callable[[ApiCall], bool]:
    def matches(call: ApiCall) -> bool:
        return call.operation == operation and (target is None or call.target == target)

    return matches


def _before_send(call: ApiCall) -> bool:
    """The sender's one read of the customer's contact records and message log."""
    return (
        call.operation == "dynamodb.BatchGetItem"
        and "contact" in call.target
        and "message log" in call.target
    )


def _provider(call: ApiCall) -> bool:
    return call.operation in PROVIDERS


SEND_MESSAGE = Need("webhook functions", "sqs.SendMessage", _op("sqs.SendMessage"))


def _case_with_policies(call: ApiCall) -> bool:
    """The one read of a case with the shop's policies (store/case_reads.py)."""
    return call.operation == "dynamodb.BatchGetItem" and call.target.startswith(CASE_WITH_POLICIES)


# The worker reads the case an event is about together with the shop's reminder and fraud
# policies in one BatchGetItem (store/case_reads.py), then writes everything the event
# changes in one TransactWriteItems (the case, its audit entry, its rollup change, customer
# links, velocity counters).
READ_CASE = Need(
    "worker",
    f"dynamodb.BatchGetItem ({CASE_WITH_POLICIES}: reminder, fraud)",
    _case_with_policies,
)
WRITE_CASE = Need(
    "worker", "dynamodb.TransactWriteItems", lambda c: c.operation == "dynamodb.TransactWriteItems"
)
# Fraud screening: one Query per identity the case names (its policy came with the case).
QUERY_MARKS = Need(
    "worker", "dynamodb.Query (velocity counters)", _op("dynamodb.Query", "velocity counters")
)
QUERY_ADDRESS = Need(
    "worker", "dynamodb.Query (address buckets)", _op("dynamodb.Query", "address buckets")
)
IDENTITIES = ("email", "card", "ip", "address")  # store.velocity.Identities' fields


def _due_query(call: ApiCall) -> bool:
    return call.operation == "dynamodb.Query" and call.target in (DUE_WITH, DUE_EMPTY)


# A run reads every shard of the due index: the due index keeps DUE_SHARDS partitions by
# design (its write ceiling, docs/data-model.md), and a due step may sit in any of them.
QUERY_SHARD = Need("scheduler", "dynamodb.Query (due index, each shard)", _due_query)
QUEUE_JOBS = Need("scheduler", "sqs.SendMessageBatch", _op("sqs.SendMessageBatch"))
CURSORS = "scheduler cursors"
READ_CURSORS = Need("scheduler", f"dynamodb.GetItem ({CURSORS})", _op("dynamodb.GetItem", CURSORS))
SAVE_CURSOR = Need("scheduler", f"dynamodb.PutItem ({CURSORS})", _op("dynamodb.PutItem", CURSORS))


def _page_link(call: ApiCall) -> bool:
    """The message's page link: issued with the case's first message, kept open by each
    later one (store/case_pages.py)."""
    return (call.operation, call.target) in (
        ("dynamodb.TransactWriteItems", "page link + page link id"),
        ("dynamodb.UpdateItem", "page link"),
    )


SENDER = (
    Need(
        "sender",
        f"dynamodb.BatchGetItem ({CASE_WITH_POLICIES}: reminder, and the page link)",
        _case_with_policies,
    ),
    Need(
        "sender",
        "dynamodb.TransactWriteItems (page link, first message) or UpdateItem (page link, "
        "kept open by a later one)",
        _page_link,
    ),
    Need("sender", "dynamodb.UpdateItem (case): the claim", _op("dynamodb.UpdateItem", "case")),
    Need("sender", "dynamodb.BatchGetItem (contact flags, message log)", _before_send),
    Need("sender", "sesv2.SendEmail or sns.Publish", _provider),
    Need(
        "sender",
        "dynamodb.TransactWriteItems (the record)",
        lambda c: c.operation == "dynamodb.TransactWriteItems" and "page link" not in c.target,
    ),
)


@dataclass(frozen=True)
class Rule:
    """A row of the minimum's table: per what, which calls, how many times it happened."""

    what: str
    role: str
    calls: str
    times: int
    minimum: int


# ---------------------------------------------------------------- what happened
@dataclass
class Observed:
    """What the functions did, besides calling AWS: filled in by wrappers."""

    accepted: int = 0  # webhook deliveries answered 200 queued
    applied: int = 0  # events the worker applied (not duplicates)
    opened: int = 0  # of which opened a case (and so read the shop's policy)
    # One entry per fraud scoring: the identities (IDENTITIES) the case named then.
    scorings: list[tuple[str, ...]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    queued: dict[str, int] = field(default_factory=dict)  # phase -> jobs queued
    outcomes: dict[str, list[str]] = field(default_factory=dict)  # phase -> send outcomes
    phase: str = "setup"


@contextmanager
def _watching(observed: Observed) -> Iterator[None]:
    """Wrap the services the functions call (they look them up on the module each time)."""
    from recoup.services import cases, scheduling, screening, sending
    from recoup.services.reminder_plan import on_case_change  # what services.cases calls
    from recoup.store.velocity import Identities

    apply_message = cases.apply_message
    screen = screening.screen
    queue_due = scheduling.queue_due
    send_job = sending.send_job

    def applying(body: str, **kwargs: Any) -> Any:
        try:
            applied = apply_message(body, **kwargs)
        except Exception as exc:
            observed.failures.append(f"{type(exc).__name__}: {exc}")
            raise
        if applied is not None and not applied.duplicate:
            observed.applied += 1
        return applied

    def changing(prior: Any, case: Any, screened: Any = None, now: Any = None) -> Any:
        from recoup.domain.case import CaseStatus

        result = on_case_change(prior, case, screened, now)
        # The branch that starts a sequence is the one that reads the shop's policy.
        starts = (prior is None or prior.dunning is None) and case.opened_at is not None
        if result is not None and starts and case.status is CaseStatus.OPEN:
            observed.opened += 1
        return result

    def screening_case(prior: Any, case: Any, now: datetime, *args: Any) -> Any:
        screened = screen(prior, case, now, *args)
        # A new screening is a scoring: it read the fraud settings and the velocity counters
        # of every identity the case names (`store.velocity.counts`).
        if screened.screening is not None:
            who = Identities.of(case)
            observed.scorings.append(tuple(dim for dim in IDENTITIES if getattr(who, dim)))
        return screened

    def queueing(now: datetime, **kwargs: Any) -> Any:
        report = queue_due(now, **kwargs)
        count = report.queued + report.requeued
        observed.queued[observed.phase] = observed.queued.get(observed.phase, 0) + count
        return report

    def observed_send(body: str) -> Any:
        try:
            result = send_job(body)
        except Exception as exc:
            observed.failures.append(f"{type(exc).__name__}: {exc}")
            raise
        observed.outcomes.setdefault(observed.phase, []).append(
            f"{result.outcome}: {result.detail}"
        )
        return result

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(cases, "apply_message", applying))
        stack.enter_context(mock.patch.object(cases, "on_case_change", changing))
        stack.enter_context(mock.patch.object(screening, "screen", screening_case))
        stack.enter_context(mock.patch.object(scheduling, "queue_due", queueing))
        stack.enter_context(mock.patch.object(sending, "send_job", observed_send))
        yield


class _Containers:
    """Wraps the handlers so that no shop item cached by one invocation serves another
    function, or the same function in a later step of the lifecycle: deployed, each
    function has containers of its own, and the steps are days apart, far beyond the
    cache's minute (`store.shops.SHOP_CACHE_SECONDS`)."""

    def __init__(self, log: ApiLog) -> None:
        self.log = log
        self.last: tuple[str, str] | None = None

    def wrap(
        self, logical_id: str, handler: Callable[[dict[str, Any], Any], Any]
    ) -> Callable[[dict[str, Any], Any], Any]:
        from recoup.store import shops

        def run(event: dict[str, Any], context: Any) -> Any:
            container = (logical_id, self.log.phase)
            if container != self.last:
                shops.forget()
                self.last = container
            return handler(event, context)

        return run


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class RoleResult:
    role: str
    calls: int
    minimum: int
    operations: Mapping[str, int]  # label -> count, every call
    excess: Mapping[str, int]  # label -> count, the calls left over after the minimum
    missing: Sequence[str]  # minimum calls that were not made (there should be none)


@dataclass(frozen=True)
class Step:
    phase: str
    at: datetime  # the clock (and scheduler event time)
    detail: str


@dataclass(frozen=True)
class LifecycleResult:
    steps: Sequence[Step]
    rules: Sequence[Rule]
    roles: Sequence[RoleResult]
    idle_runs: int
    idle_operations: Mapping[str, int]  # every call of the idle runs, by label
    messages: Sequence[str]  # what the emulator sent, in order ("email to ...")

    @property
    def calls(self) -> int:
        return sum(r.calls for r in self.roles)

    @property
    def minimum(self) -> int:
        return sum(r.minimum for r in self.roles)

    @property
    def ratio(self) -> float:
        return self.calls / self.minimum

    @property
    def idle_queries(self) -> int:
        return sum(n for label, n in self.idle_operations.items() if "dynamodb.Query" in label)


def _labelled(call: ApiCall) -> ApiCall:
    """Tell the due-index Queries that found something from those that found nothing."""
    if call.operation == "dynamodb.Query" and call.target == "due index":
        target = DUE_WITH if (call.count or 0) > 0 else DUE_EMPTY
        return replace(call, target=target)
    return call


def _match(role: str, calls: list[ApiCall], needs: list[Need]) -> RoleResult:
    left = list(calls)
    missing = []
    for need in needs:
        for i, call in enumerate(left):
            if need.matches(call):
                del left[i]
                break
        else:
            missing.append(need.name)
    return RoleResult(
        role=role,
        calls=len(calls),
        minimum=len(needs),
        operations=dict(sorted(Counter(c.label for c in calls).items())),
        excess=dict(Counter(c.label for c in left).most_common()),
        missing=missing,
    )


# ---------------------------------------------------------------- the run
class _Run:
    def __init__(self, local: LocalStack, deliveries: Deliveries, log: ApiLog) -> None:
        from recoup.integrations import shopify

        self.local = local
        self.deliveries = deliveries
        self.log = log
        self.observed = Observed()
        self.steps: list[Step] = []
        created = deliveries.shopify(ORDER_INDEX, local.shopify_secret)
        event = shopify.normalise(shopify.read_delivery(created.headers), created.body)
        if event is None:
            raise BenchError("the Shopify order does not normalise to an event")
        self.case_id = event.case_id
        self.now = event.occurred_at
        self.created = created

    def clock(self) -> datetime:
        return self.now

    def _phase(self, name: str) -> None:
        self.log.phase = name
        self.observed.phase = name

    def deliver(self, phase: str, delivery: Delivery) -> None:
        self._phase(phase)
        response = self.local.lambdas.invoke_http(
            "POST", delivery.path, delivery.headers, delivery.body
        )
        if (response or {}).get("statusCode") != 200 or "queued" not in str(
            (response or {}).get("body")
        ):
            raise BenchError(f"{phase}: the delivery was answered {response}")
        self.observed.accepted += 1
        self.local.lambdas.drain()
        self._phase("harness")

    def schedule(self, phase: str, at: datetime) -> None:
        self.now = at
        self._phase(phase)
        self.local.lambdas.run_schedules(at)
        self.local.lambdas.drain()
        self._phase("harness")

    def stored(self) -> Any:
        from recoup.store import cases as store

        stored = store.load(SHOP, self.case_id)
        if stored is None or stored.dunning is None:
            raise BenchError(f"case {self.case_id} has no reminder sequence")
        return stored

    def next_slot(self) -> datetime:
        """The first scheduler slot at or after the next step's due time at which it is
        not quiet hours where the customer is."""
        from recoup.domain.guardrails import next_allowed
        from recoup.domain.timezones import zone_of_customer
        from recoup.store import policies

        stored = self.stored()
        due = stored.dunning.next_at
        if due is None:
            raise BenchError(f"no step is scheduled: {stored.dunning}")
        policy = policies.load(SHOP, shop_timezone=SHOP_TIMEZONE)
        snapshot = stored.case.snapshot
        zone = zone_of_customer(snapshot.customer if snapshot else None, policy)
        at = next_allowed(due, zone, policy.quiet_hours)
        epoch = datetime(2000, 1, 1, tzinfo=UTC)
        slot = epoch + math.ceil((at - epoch) / SLOT) * SLOT
        if next_allowed(slot, zone, policy.quiet_hours) != slot:
            raise BenchError(f"{slot} is in the customer's quiet hours")
        return slot

    def lifecycle(self) -> None:
        from recoup.domain.dunning import DunningStatus
        from recoup.domain.fraud.screening import Gate

        self.deliver("opened", self.created)
        screening = self.stored().screening
        if screening is None or screening.gate is not Gate.RUN:
            why = screening.why() if screening else "not screened"
            raise BenchError(f"the order's reminders may not run: {why}")
        self.steps.append(
            Step("opened", self.now, f"orders/create, financial_status pending; {screening.why()}")
        )
        for number in range(1, REMINDERS + 1):
            phase = f"reminder {number}"
            at = self.next_slot()
            self.schedule(phase, at)
            outcomes = self.observed.outcomes.get(phase, [])
            queued = self.observed.queued.get(phase, 0)
            if queued != 1 or len(outcomes) != 1 or not outcomes[0].startswith("sent"):
                raise BenchError(f"{phase}: queued {queued}, sender: {outcomes or 'nothing'}")
            self.steps.append(Step(phase, at, outcomes[0].split(": ", 1)[1].split(";")[0]))
        after = self.stored().dunning.next_at
        paid_at = self.now + timedelta(days=1)
        if after is None or paid_at >= after:
            raise BenchError(f"step {REMINDERS + 1} would be due before the payment: {after}")
        self.now = paid_at
        local = paid_at.isoformat(timespec="seconds")
        paid = self.deliveries.shopify_update(
            ORDER_INDEX,
            self.local.shopify_secret,
            topic="orders/paid",
            changes={
                "financial_status": "paid",
                "total_outstanding": "0.00",
                "updated_at": local,
                "processed_at": local,
            },
        )
        self.deliver("paid", paid)
        self.steps.append(Step("paid", paid_at, "orders/paid, financial_status paid"))
        state = self.stored().dunning.status
        if state is not DunningStatus.STOPPED:
            raise BenchError(f"after the payment the reminders are {state}, not stopped")
        for offset in IDLE_AFTER:
            at = after + offset
            self.schedule("idle", at)
        if self.observed.queued.get("idle", 0) or self.observed.outcomes.get("idle"):
            raise BenchError(f"idle scheduler runs queued {self.observed.queued.get('idle')}")
        self.steps.append(
            Step("idle", after, f"{len(IDLE_AFTER)} scheduler runs, from step 4's due time")
        )


def _rules(run: _Run) -> tuple[list[Rule], dict[str, list[Need]]]:
    from recoup.store import cases as store

    observed = run.observed
    needs: dict[str, list[Need]] = {role: [] for role in ROLE_ORDER}
    needs["webhook functions"] += [SEND_MESSAGE] * observed.accepted
    needs["worker"] += [READ_CASE, WRITE_CASE] * observed.applied
    for identities in observed.scorings:
        needs["worker"] += [
            QUERY_ADDRESS if dim == "address" else QUERY_MARKS for dim in identities
        ]
    known = Counter(dim for identities in observed.scorings for dim in identities)
    queries = sum(known.values())
    runs = jobs = batches = 0
    for phase, queued in observed.queued.items():
        if phase == "idle" or not queued:
            continue
        runs += 1
        jobs += queued
        batches += math.ceil(queued / 10)
    shard_queries = runs * store.DUE_SHARDS
    needs["scheduler"] += [QUERY_SHARD] * shard_queries + [QUEUE_JOBS] * batches
    needs["scheduler"] += [READ_CURSORS, SAVE_CURSOR] * runs
    sent = sum(
        1
        for phase, outcomes in observed.outcomes.items()
        if phase != "idle"
        for outcome in outcomes
        if outcome.startswith("sent")
    )
    needs["sender"] += list(SENDER) * sent
    rules = [
        Rule(
            "a webhook delivery accepted",
            "webhook functions",
            "sqs.SendMessage",
            observed.accepted,
            observed.accepted,
        ),
        Rule(
            "an event applied",
            "worker",
            "dynamodb.BatchGetItem (the case with the shop's reminder and fraud policies, "
            "and the shop's item when the container has no copy of it, store/case_reads.py) "
            "+ dynamodb.TransactWriteItems (the case, its audit entry, "
            "its rollup change, customer links, velocity counters)",
            observed.applied,
            2 * observed.applied,
        ),
        Rule(
            "... that opens a case",
            "worker",
            "+ nothing: the reminder policy came in the same BatchGetItem",
            observed.opened,
            0,
        ),
        Rule(
            "a fraud scoring (a case opened, or its signals changed)",
            "worker",
            "+ nothing for the fraud policy: it came in the same BatchGetItem",
            len(observed.scorings),
            0,
        ),
        Rule(
            "... per identity the case names ("
            + (", ".join(f"{dim} ×{n}" for dim, n in known.items()) or "none")
            + ")",
            "worker",
            "+ dynamodb.Query of its velocity counters (email, card, IP) or address buckets",
            queries,
            queries,
        ),
        Rule(
            f"a scheduler run with steps due ({runs} runs, {jobs} jobs)",
            "scheduler",
            f"dynamodb.Query per due-index shard, every shard ({store.DUE_SHARDS}: the due "
            "index is sharded by design for its write ceiling at ≥ 1,000 orders/s, "
            "docs/data-model.md, and a due step may sit in any shard)",
            runs,
            shard_queries,
        ),
        Rule(
            "... its jobs, ten to a batch",
            "scheduler",
            "+ sqs.SendMessageBatch",
            batches,
            batches,
        ),
        Rule(
            "... where it stopped: its cursors read and written once a run",
            "scheduler",
            "+ dynamodb.GetItem, + dynamodb.PutItem (scheduler cursors)",
            runs,
            2 * runs,
        ),
        Rule(
            "a reminder sent",
            "sender",
            "; ".join(need.name for need in SENDER),
            sent,
            len(SENDER) * sent,
        ),
    ]
    if sum(r.minimum for r in rules) != sum(len(n) for n in needs.values()):
        raise BenchError("the minimum's table and its derivation disagree")
    return rules, needs


def default_sequence_for_every_case() -> None:
    """The shop's policy with no strategy of its own: the order (paid by bank transfer)
    follows the default four steps, as the lifecycle describes, not the shipped strategy
    for transfers."""
    from dataclasses import replace

    from recoup import clock
    from recoup.domain.cadence import default_policy
    from recoup.store import policies

    policy = replace(default_policy(SHOP_TIMEZONE), strategies=())
    policies.save(SHOP, policy, now=clock.now())


def run(deliveries: Deliveries) -> LifecycleResult:
    from recoup import aws, clock
    from recoup.services import shops
    from recoup_local.lambdas import reset_caches
    from recoup_local.outbox import sent_messages
    from recoup_local.stack import in_process

    saved = dict(os.environ)
    log = ApiLog()
    for name in ("RECOUP_STRIPE_API_KEY", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)  # no real Stripe call for pay links; moto in-process
    try:
        with _quiet_stdout(), in_process() as local:
            aws.reset()
            shops.install(SHOP, stripe_account=STRIPE_ACCOUNT, timezone=SHOP_TIMEZONE)
            default_sequence_for_every_case()
            handlers = local.lambdas.handlers
            containers = _Containers(log)
            for logical_id, handler in list(handlers.items()):
                handlers[logical_id] = log.attributed(
                    logical_id, containers.wrap(logical_id, handler)
                )
            life = _Run(local, deliveries, log)
            clock.use(life.clock)
            try:
                with warnings.catch_warnings(), log.recording(), _watching(life.observed):
                    # Powertools warns when a run publishes no metric (the idle runs).
                    warnings.filterwarnings("ignore", message="No application metrics")
                    life.lifecycle()
            finally:
                clock.use(None)
            messages = [f"{m.kind} to {m.to}" for m in sent_messages(local.stack.region)]
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_caches()
    if life.observed.failures:
        raise BenchError(f"lifecycle: {life.observed.failures[-1]}")
    if len(messages) != REMINDERS:
        raise BenchError(f"the emulator sent {len(messages)} messages, not {REMINDERS}")
    made = [_labelled(c) for c in log.made()]
    lifecycle_calls = [c for c in made if c.phase != "idle"]
    rules, needs = _rules(life)
    roles = []
    for role in ROLE_ORDER:
        calls = [c for c in lifecycle_calls if ROLES.get(str(c.function), str(c.function)) == role]
        roles.append(_match(role, calls, needs[role]))
    others = {str(c.function) for c in lifecycle_calls} - {
        f for f, role in ROLES.items() if role in ROLE_ORDER
    }
    if others:
        raise BenchError(f"unexpected functions made calls: {sorted(others)}")
    idle = [c for c in made if c.phase == "idle"]
    return LifecycleResult(
        steps=life.steps,
        rules=rules,
        roles=roles,
        idle_runs=len(IDLE_AFTER),
        idle_operations=dict(sorted(Counter(c.label for c in idle).items())),
        messages=messages,
    )
