"""Strategy matching and the what-if planner: pure timings, in this process.

Every span is timed twice: by the wall clock (`time.perf_counter_ns`) and by the CPU time
this process spent (`time.process_time_ns`). The goals are judged on CPU time, since on a
shared machine the wall clock also counts the turns other work had the core; on a quiet one
the two agree.

Strategy matching per case (warm, best of ROUNDS after a round that warms up and is not
counted): a reminder policy with the most strategies a shop may set
(`strategies.MAX_STRATEGIES`, 20), as the admin saves it (`cadence.parse_policy` of its
JSON), their conditions realistic and missing most cases, the last one running an experiment
of three arms. The cases are built as the worker builds them: the project's Shopify order
(`payloads.Deliveries`), varied in its gateways, country, currency and amount, payment terms
and the customer's earlier orders, normalised; for card orders with a decline, the project's
Stripe payment failure with that decline code, normalised and folded in (as
`fraud.screened_case` does). Each case is timed through `case_facts.facts_of` and
`strategies.choose`, REPEATS times a span; as the yardstick, in the same rounds,
`json.loads` of the Shopify order's body. The worst case is a case every strategy misses, so
the default takes it with all 20 reasons.

The what-if over 100 / 1,000 / 10,000 cases (WHATIF_SIZES): `Case` objects built as
tests/unit/test_whatif_plan.py builds them, opened over 90 days, in a fixed mix of twenty
(MIX: card orders paid after the first or the second reminder or never, bank transfers, cash
on delivery, payment terms with and without a due date, one below the shop's minimum). Each
size's batch is planned under the same policy as `services.whatif` plans a case once its
reads are done (`timezones.zone_of_customer`, then `whatif.plan_case`), then summarised
(`whatif.summarise`); every span plans and summarises WHATIF_SIZES[-1] cases in all (the
smaller batches repeated), best of WHATIF_ROUNDS after a batch that warms up. The reads the
service makes first (the opened-date keys, BatchGetItem of the cases) are not part of it.
"""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.fresh import BenchError
from benchmarks.payloads import SHOP, Deliveries
from recoup.domain import case_facts, strategies, whatif
from recoup.domain.cadence import ReminderPolicy, default_policy, parse_policy, policy_to_dict
from recoup.domain.case import Case, CaseStatus, apply, new_case
from recoup.domain.events import Customer, OrderSnapshot, PaymentAttempt, Source
from recoup.domain.money import Money
from recoup.domain.timezones import zone_of_customer
from recoup.integrations import shopify, stripe
from recoup_local.template import load as load_template

ROUNDS = 7
REPEATS = 100  # matchings of one case (or parses of the order) per timed span
WHATIF_SIZES = (100, 1_000, 10_000)
WHATIF_ROUNDS = 3
WHATIF_DAYS = 90  # the preview's window (services.whatif.DEFAULT_DAYS)
GROWTH_GOAL = 1.2  # CPU time per case at the largest size over that at the smallest
ORDER_INDEX = 5_000_000  # the matched orders, apart from the other benchmarks' orders
SIGNING = "bench-unverified"  # deliveries are only normalised here, never verified
NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)  # the what-if's "now": its window's end
ADMIN_FUNCTION = "AdminApiFunction"  # serves the what-if preview
MINIMUM = 500  # the policy's minimum worth chasing, in each currency's minor units


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class CaseTiming:
    label: str  # what the case is ("card, US, USD 1,899.00, insufficient_funds, risk low")
    strategy: str  # the id of the strategy that took it
    tried: int  # strategies tried, the one that took it (the default too) included
    arm: str | None  # the experiment's arm, when the strategy runs one
    ns: float  # facts_of + choose, wall clock, best round
    cpu_ns: float  # the same, this process's CPU time, best round


@dataclass(frozen=True)
class MatchingResult:
    strategies: int  # the policy's own, the default not counted
    names: Sequence[str]  # their names, in the order they are tried
    cases: Sequence[CaseTiming]
    parse_ns: float  # json.loads of the Shopify order's body, wall clock, best round
    parse_cpu_ns: float  # the same, CPU time
    parse_bytes: int
    rounds: int
    repeats: int

    @property
    def per_case_ns(self) -> float:
        """The mean over the cases of each case's best, wall clock."""
        return sum(c.ns for c in self.cases) / len(self.cases)

    @property
    def per_case_cpu_ns(self) -> float:
        """The mean over the cases of each case's best, CPU time."""
        return sum(c.cpu_ns for c in self.cases) / len(self.cases)

    @property
    def worst(self) -> CaseTiming:
        """The slowest case (CPU time) the default took after every strategy missed."""
        missed = [c for c in self.cases if c.tried == self.strategies + 1]
        if not missed:
            raise BenchError("no case missed every strategy: the worst case was not timed")
        return max(missed, key=lambda c: c.cpu_ns)

    @property
    def slowest(self) -> CaseTiming:
        return max(self.cases, key=lambda c: c.cpu_ns)

    @property
    def to_parse(self) -> float:
        """The goal's figure: CPU time per case over the parse's."""
        return self.per_case_cpu_ns / self.parse_cpu_ns

    @property
    def wall_to_parse(self) -> float:
        return self.per_case_ns / self.parse_ns

    @property
    def worst_to_parse(self) -> float:
        return self.worst.cpu_ns / self.parse_cpu_ns

    @property
    def mean_tried(self) -> float:
        return sum(c.tried for c in self.cases) / len(self.cases)


@dataclass(frozen=True)
class WhatIfSize:
    cases: int
    plan_ns: float  # planning the whole batch (zone and plan_case per case), best round
    summary_ns: float  # summarising it, best round
    cpu_ns: float  # the CPU time this process spent on both, best round
    repeats: int  # batches per timed span
    gone: int  # messages the batch's summary counts as sent
    to_come: int

    @property
    def per_case_ns(self) -> float:
        return (self.plan_ns + self.summary_ns) / self.cases

    @property
    def per_case_cpu_ns(self) -> float:
        return self.cpu_ns / self.cases

    @property
    def cpu_share(self) -> float:
        """The CPU time over the wall-clock time: below 1 when other work had the core."""
        return self.cpu_ns / (self.plan_ns + self.summary_ns)


@dataclass(frozen=True)
class WhatIfResult:
    sizes: Sequence[WhatIfSize]  # smallest first
    mix: Mapping[str, int]  # the largest batch's cases by kind
    outcome: Mapping[str, int]  # what the largest batch's summary counted
    by_strategy: Mapping[str, int]  # the largest batch's cases per strategy that took them
    parse_ns: float  # json.loads of the Shopify order's body, wall clock, best round
    parse_cpu_ns: float  # the same, CPU time
    rounds: int
    service_cap: int  # the most cases the service plans in one preview (services.whatif)
    admin_timeout_s: int  # the admin API function's Timeout and MemorySize (template.yaml)
    admin_memory_mb: int

    @property
    def growth(self) -> float:
        """CPU time per case at the largest size over that at the smallest: the goal's
        figure, as the wall clock of a shared machine also counts other work's turns."""
        return self.sizes[-1].per_case_cpu_ns / self.sizes[0].per_case_cpu_ns

    @property
    def wall_growth(self) -> float:
        """The same with the wall-clock time per case."""
        return self.sizes[-1].per_case_ns / self.sizes[0].per_case_ns

    def to_parse(self, size: WhatIfSize) -> float:
        """CPU time per case over the parse's."""
        return size.per_case_cpu_ns / self.parse_cpu_ns


@dataclass(frozen=True)
class StrategiesResult:
    matching: MatchingResult
    whatif: WhatIfResult
    python: str  # the interpreter that ran them
    nproc: int
    load: tuple[float, float]  # the 1-minute load average before and after the run


# ---------------------------------------------------------------- the policy
def _step(delay: str, anchor: str, template: str, channel: str = "email") -> dict[str, Any]:
    tone = template if template in ("friendly", "firm", "final_notice") else "firm"
    return {
        "delay": delay,
        "anchor": anchor,
        "channel": channel,
        "template": template,
        "tone": tone,
        "pay_link": True,
    }


def _steps(first: str, then: str = "4d") -> list[dict[str, Any]]:
    return [
        _step(first, "opened", "friendly"),
        _step(then, "previous", "firm", "email_then_sms"),
        _step("7d", "previous", "final_notice"),
    ]


def _strategy(sid: str, name: str, when: dict[str, Any], first: str = "2d") -> dict[str, Any]:
    return {"id": sid, "name": name, "when": when, "steps": _steps(first)}


_EXPERIMENT = {
    "id": "soft-decline-pace",
    "arms": [
        {"id": "fast", "weight": 45},
        {"id": "slow", "weight": 45},
        {"id": "holdout", "weight": 10, "holdout": True},
    ],
    "started_at": "2026-10-01T00:00:00Z",
}
_SOFT_CARD = {"methods": ["card"], "declines": ["soft"]}
_MANY = 100_000  # minor units: a thousand in the currency


def policy_document() -> dict[str, Any]:
    """The benchmark's reminder policy as the admin saves it: MAX_STRATEGIES strategies, the
    narrow ones first, the last a card decline experiment, and a minimum worth chasing."""
    listed = [
        _strategy("high-risk", "High fraud risk", {"risks": ["high"]}, "5d"),
        _strategy("cod-jp", "Cash on delivery, Japan", _manual("cash_on_delivery", "JP"), "3d"),
        _strategy("cod-in", "Cash on delivery, India", _manual("cash_on_delivery", "IN"), "3d"),
        _strategy("bnpl", "Buy now, pay later", {"methods": ["bnpl"]}, "7d"),
        _strategy("terms", "Payment terms", {"payment_terms": True}, "1d"),
        _big("big-eur-hard", "EUR", {"declines": ["hard"]}, 2),
        _big("big-usd-hard", "USD", {"declines": ["hard"]}, 2),
        _big("vip-usd", "USD", {"customer": "returning"}, 1),
        _big("vip-eur", "EUR", {"customer": "returning"}, 1),
        _strategy("small-usd", "Under USD 15", {"amount": {"USD": {"max": 1_500}}}, "3d"),
        _strategy("small-eur", "Under EUR 15", {"amount": {"EUR": {"max": 1_500}}}, "3d"),
        _strategy("gb-first", "First order, UK", {"countries": ["GB"], "customer": "first"}),
        _strategy(
            "nordics-soft",
            "Soft declines, Nordics",
            {"countries": ["DK", "FI", "NO", "SE"], "declines": ["soft"]},
        ),
        _strategy("dach-bank", "Bank transfer, DACH", _manual("bank_transfer", "DE", "AT", "CH")),
        _strategy("benelux-bank", "Bank transfer, Benelux", _manual("bank_transfer", "NL", "BE")),
        _strategy("manual-other", "Other manual payments", {"methods": ["other"]}, "5d"),
        _strategy(
            "review-big",
            "Under review, USD 500 and up",
            {"risks": ["review"], "amount": {"USD": {"min": 50_000}}},
        ),
        _strategy(
            "card-data",
            "Card details to fix, North America",
            {"declines": ["expired_or_incorrect"], "countries": ["CA", "US"]},
            "1d",
        ),
        _strategy("us-bank", "Bank transfer, US", _manual("bank_transfer", "US"), "3d"),
        {
            **_strategy("card-soft", "Soft card declines", _SOFT_CARD, "1d"),
            "experiment": _EXPERIMENT,
            "variants": {"slow": _steps("3d", "5d")},
        },
    ]
    if len(listed) != strategies.MAX_STRATEGIES:
        raise BenchError(f"{len(listed)} strategies, not the bound of {strategies.MAX_STRATEGIES}")
    data = policy_to_dict(default_policy("America/New_York"))
    data["strategies"] = listed
    data["min_amount"] = {c: MINIMUM for c in ("AUD", "CAD", "EUR", "GBP", "JPY", "SEK", "USD")}
    return data


def _manual(method: str, *countries: str) -> dict[str, Any]:
    return {"methods": [method], "countries": list(countries)}


def _big(sid: str, currency: str, when: dict[str, Any], thousands: int) -> dict[str, Any]:
    what = "hard declines" if "declines" in when else "returning customers"
    name = f"{currency} {thousands},000 and up, {what}"
    amount = {"amount": {currency: {"min": thousands * _MANY}}}
    return _strategy(sid, name, {**when, **amount}, "1d")


def bench_policy() -> ReminderPolicy:
    return parse_policy(policy_document())


# ---------------------------------------------------------------- matched cases
@dataclass(frozen=True)
class Variant:
    """One matched case: the project's order with these changes, and its payment failure
    when `decline` names one (a card order; None: no failure reported)."""

    gateways: tuple[str, ...]
    country: str
    province: str | None
    currency: str
    amount: str  # as Shopify writes it
    decline: str | None = None
    risk: str = "low"
    earlier_orders: int | None = None  # Shopify's orders_count, this order not included
    terms: str | None = None  # payment terms' name, due 30 days after the order

    @property
    def label(self) -> str:
        method = case_facts.method_of(self.gateways, stripe_only=not self.gateways)
        owed = str(Money.parse(self.amount, self.currency))
        said = [str(method).replace("_", " "), self.country, owed, self.decline or "no decline"]
        if self.earlier_orders:
            said.append(f"{self.earlier_orders} earlier orders")
        if self.terms:
            said.append(self.terms)
        return ", ".join(said) + f", risk {self.risk}"


CARD = ("shopify_payments",)
VARIANTS = (
    Variant(CARD, "US", "NY", "USD", "1899.00", "insufficient_funds"),
    Variant(CARD, "US", "CA", "USD", "24.99", "expired_card"),
    Variant(CARD, "DE", None, "EUR", "89.00", "do_not_honor", risk="review"),
    Variant(("Bank Deposit",), "US", "OR", "USD", "1899.00", risk="unscored"),
    Variant(("Vorkasse",), "DE", None, "EUR", "249.00"),
    Variant(("代金引換",), "JP", None, "JPY", "12800"),
    Variant(("Klarna",), "SE", None, "SEK", "1495.00"),
    Variant(CARD, "GB", None, "GBP", "15.00", "stolen_card", risk="high"),
    Variant(CARD, "CA", "ON", "CAD", "540.00", "generic_decline"),
    Variant(CARD, "US", "TX", "USD", "2450.00", "insufficient_funds", earlier_orders=5),
    Variant((), "US", "IL", "USD", "4200.00", terms="Net 30"),
    Variant(CARD, "AU", "NSW", "AUD", "329.00", "incorrect_cvc"),
    Variant(("Money Order",), "US", "FL", "USD", "75.00"),
    Variant(CARD, "US", "NY", "USD", "640.00", risk="unscored"),
    Variant(CARD, "FR", None, "EUR", "3200.00", "lost_card", risk="review"),
    Variant(("gift_card", "shopify_payments"), "NL", None, "EUR", "12.50", "insufficient_funds"),
)


def _order_changes(base: Mapping[str, Any], variant: Variant) -> dict[str, Any]:
    changes: dict[str, Any] = {
        "payment_gateway_names": list(variant.gateways),
        "currency": variant.currency,
        "presentment_currency": variant.currency,
        "total_price": variant.amount,
        "current_total_price": variant.amount,
        "total_outstanding": variant.amount,
    }
    for key in ("shipping_address", "billing_address"):
        address = dict(base.get(key) or {})
        address.update(country_code=variant.country, province_code=variant.province)
        changes[key] = address
    if variant.earlier_orders is not None:
        customer = dict(base.get("customer") or {})
        customer["orders_count"] = variant.earlier_orders + 1  # it counts this order
        changes["customer"] = customer
    if variant.terms is not None:
        created = datetime.fromisoformat(str(base["created_at"]))
        due = (created + timedelta(days=30)).astimezone(UTC).isoformat()
        changes["payment_terms"] = {
            "payment_terms_name": variant.terms,
            "payment_terms_type": "net",
            "due_in_days": 30,
            "payment_schedules": [{"due_at": due, "completed_at": None}],
        }
    return changes


def _failure_event(deliveries: Deliveries, variant: Variant) -> dict[str, Any]:
    event = copy.deepcopy(deliveries.event)
    obj = event["data"]["object"]
    obj["currency"] = variant.currency.lower()
    obj["amount"] = Money.parse(variant.amount, variant.currency).to_stripe()
    error = obj.setdefault("last_payment_error", {})
    error["decline_code"] = variant.decline
    error["code"] = "card_declined"
    return event


def matched_case(deliveries: Deliveries, index: int, variant: Variant) -> Case:
    """The project's order changed as `variant` says, normalised, and its payment failure
    folded in when the variant has one: one case, as the worker holds it."""
    order = deliveries.shopify_update(
        ORDER_INDEX + index,
        SIGNING,
        topic="orders/create",
        changes=_order_changes(deliveries.order, variant),
    )
    events = [shopify.normalise(shopify.read_delivery(order.headers), order.body)]
    if variant.decline is not None:
        body = deliveries.stripe_body(ORDER_INDEX + index, _failure_event(deliveries, variant))
        events.append(stripe.normalise(stripe.read_event(body)))
    opened = events[0]
    if opened is None or any(e is None or e.case_id != opened.case_id for e in events):
        raise BenchError(f"{variant.label}: the deliveries do not make one case")
    case = new_case(SHOP, opened.case_id)
    for event in events:
        if event is not None:
            case = apply(case, event).case
    if case.amount_owed is None:
        raise BenchError(f"{variant.label}: the case owes nothing")
    return case


@dataclass(frozen=True)
class Span:
    """Nanoseconds per call: the wall clock's and this process's CPU time."""

    wall: float
    cpu: float

    def least(self, other: Span | None) -> Span:
        """Each figure's best of the two."""
        return self if other is None else Span(min(self.wall, other.wall), min(self.cpu, other.cpu))


def _span(work: Callable[[], object], repeats: int) -> Span:
    """Nanoseconds per call of `work`, over `repeats` calls."""
    cpu, start = time.process_time_ns(), time.perf_counter_ns()
    for _ in range(repeats):
        work()
    end, cpu_end = time.perf_counter_ns(), time.process_time_ns()
    return Span((end - start) / repeats, (cpu_end - cpu) / repeats)


def matching_time(deliveries: Deliveries, rounds: int = ROUNDS) -> MatchingResult:
    """Time `facts_of` + `choose` on each matched case, and `json.loads` of the order."""
    policy = bench_policy()
    if len({v.label for v in VARIANTS}) != len(VARIANTS):
        raise BenchError("two matched cases have the same label: their times would mix")
    cases = [(v, matched_case(deliveries, i, v)) for i, v in enumerate(VARIANTS)]
    body = deliveries.shopify_body(ORDER_INDEX)

    def match(case: Case, risk: str) -> strategies.Choice:
        facts = case_facts.facts_of(case, risk)
        return strategies.choose(policy, facts, case.shop, case.case_id)

    works = [(v.label, lambda c=c, r=v.risk: match(c, r)) for v, c in cases]
    best: dict[str, Span] = {}
    # The first round warms up (the decline codes' tables, the strategies' checks) and is
    # not counted.
    for round_number in range(rounds + 1):
        spans = {label: _span(work, REPEATS) for label, work in works}
        spans["parse"] = _span(lambda: json.loads(body), REPEATS)
        if round_number:
            best = {k: v.least(best.get(k)) for k, v in spans.items()}
    timings = []
    for variant, case in cases:
        facts = case_facts.facts_of(case, variant.risk)
        choice = match(case, variant.risk)
        tried = len(strategies.evaluate(policy, facts))
        arm = choice.arm.id if choice.arm else None
        spent = best[variant.label]
        timings.append(
            CaseTiming(variant.label, choice.strategy.id, tried, arm, spent.wall, spent.cpu)
        )
    listed = len(policy.strategies or ())
    if not any(t.tried == listed + 1 for t in timings):
        raise BenchError("no case missed every strategy: the worst case would not be timed")
    return MatchingResult(
        strategies=listed,
        names=[s.name for s in policy.strategies or ()],
        cases=timings,
        parse_ns=best["parse"].wall,
        parse_cpu_ns=best["parse"].cpu,
        parse_bytes=len(body),
        rounds=rounds,
        repeats=REPEATS,
    )


# ---------------------------------------------------------------- what-if cases
# The mix of twenty a batch cycles through: (kind, cases of twenty).
MIX: tuple[tuple[str, int], ...] = (
    ("card, paid after step 1", 4),
    ("card, paid after step 2", 3),
    ("card, never paid", 5),
    ("bank transfer, paid after step 1", 1),
    ("bank transfer, never paid", 2),
    ("cash on delivery, never paid", 1),
    ("payment terms with a due date", 2),
    ("payment terms, no due date yet", 1),
    ("below the minimum", 1),
)
_KINDS = tuple(kind for kind, count in MIX for _ in range(count))
# The customers' places, the decline codes and the fraud levels go round in turn; their
# lengths (7, 9, 11) are prime to each other and to the mix's twenty, so combinations vary.
PLACES = (
    ("US", "NY", "USD"),
    ("DE", None, "EUR"),
    ("GB", None, "GBP"),
    ("US", "CA", "USD"),
    ("JP", None, "JPY"),
    ("AU", "NSW", "AUD"),
    ("CA", "ON", "CAD"),
)
_DECLINES = (
    "insufficient_funds",
    "insufficient_funds",
    "expired_card",
    "do_not_honor",
    "stolen_card",
    "generic_decline",
    "incorrect_cvc",
    "card_declined",
    None,
)
# Most orders' screenings are low.
WHATIF_RISKS = (
    "low",
    "low",
    "low",
    "review",
    "unscored",
    "low",
    "high",
    "low",
    "low",
    "review",
    "low",
)
_GATEWAYS = {
    "card": CARD,
    "bank transfer": ("Bank Deposit",),
    "cash on delivery": ("Cash on Delivery (COD)",),
    "payment terms": (),
    "below the minimum": CARD,
}
_GOLDEN = (math.sqrt(5) - 1) / 2


def _gateways(kind: str) -> tuple[str, ...]:
    return next(names for prefix, names in _GATEWAYS.items() if kind.startswith(prefix))


@dataclass(frozen=True)
class PlannedCase:
    """A what-if case, its kind in the mix and its fraud screening's newest level."""

    kind: str
    case: Case
    risk: str


def _open_case(i: int, kind: str) -> Case:
    country, province, currency = PLACES[i % len(PLACES)]
    # Opened over the window, evenly at every size (the golden-ratio sequence)
    opened = NOW - timedelta(days=WHATIF_DAYS) * ((i * _GOLDEN) % 1.0)
    opened = opened.replace(microsecond=0)
    owed = 300 if kind == "below the minimum" else 1_500 + (i * 7_919) % 250_000
    terms, due = None, None
    if kind.startswith("payment terms"):
        terms = "Net 30"
        due = opened + timedelta(days=30) if kind == "payment terms with a due date" else None
    decline = _DECLINES[i % len(_DECLINES)] if kind.startswith("card") else None
    attempts: tuple[PaymentAttempt, ...] = ()
    if decline is not None:
        failed_at = opened + timedelta(minutes=2)
        amount = Money.of(owed, currency)
        attempts = (PaymentAttempt(f"ch_w{i}", Source.STRIPE, False, failed_at, amount, decline),)
    return Case(
        shop=SHOP,
        case_id=f"{9_100_000 + i}",
        status=CaseStatus.OPEN,
        status_since=((CaseStatus.OPEN, opened),),
        snapshot=OrderSnapshot(
            amount_owed=Money.of(owed, currency),
            order_total=Money.of(owed, currency),
            customer=Customer(country=country, province=province),
            financial_status="pending",
            payment_gateways=_gateways(kind),
            payment_terms=terms,
            payment_due_at=due,
        ),
        attempts=attempts,
        owed_when_open=Money.of(owed, currency),
    )


def _paid(case: Case, at: datetime) -> Case:
    snapshot = case.snapshot
    if snapshot is None or snapshot.amount_owed is None:
        raise BenchError(f"case {case.case_id} has nothing to pay")
    zero = Money.of(0, snapshot.amount_owed.currency)
    return replace(
        case,
        status=CaseStatus.PAID,
        status_since=(*case.status_since, (CaseStatus.PAID, at)),
        snapshot=replace(snapshot, amount_owed=zero, financial_status="paid"),
    )


def whatif_cases(policy: ReminderPolicy, count: int) -> list[PlannedCase]:
    """`count` cases of the mix, each paid an hour after its reminder of the step its kind
    names when that was before `NOW` and before the next (else it stays open)."""
    made = []
    for i in range(count):
        kind = _KINDS[i % len(_KINDS)]
        risk = WHATIF_RISKS[i % len(WHATIF_RISKS)]
        case = _open_case(i, kind)
        if "paid after step" in kind:
            step = int(kind.rsplit(" ", 1)[1])
            plan = plan_one(policy, case, risk)
            if len(plan.messages) >= step:
                at = plan.messages[step - 1].at + timedelta(hours=1)
                later = plan.messages[step].at if len(plan.messages) > step else None
                if at < NOW and (later is None or at < later):
                    case = _paid(case, at)
        made.append(PlannedCase(kind, case, risk))
    return made


def plan_one(policy: ReminderPolicy, case: Case, risk: str) -> whatif.CasePlan:
    """What `services.whatif` does per case once it is read: the customer's zone, the plan."""
    zone = zone_of_customer(case.snapshot.customer if case.snapshot else None, policy)
    return whatif.plan_case(policy, case, risk=risk, zone=zone, now=NOW)


@dataclass(frozen=True)
class _Spent:
    """Nanoseconds of one batch: planning it and summarising it (wall clock), and the CPU
    time this process spent on both (`time.process_time_ns`)."""

    plan: float
    summary: float
    cpu: float

    def least(self, other: _Spent | None) -> _Spent:
        """Each figure's best of the two."""
        if other is None:
            return self
        return _Spent(
            min(self.plan, other.plan), min(self.summary, other.summary), min(self.cpu, other.cpu)
        )


def _batch(policy: ReminderPolicy, cases: Sequence[PlannedCase]) -> tuple[_Spent, whatif.Summary]:
    """The time to plan the batch and to summarise it, and the summary."""
    cpu, start = time.process_time_ns(), time.perf_counter_ns()
    plans = [plan_one(policy, c.case, c.risk) for c in cases]
    planned = time.perf_counter_ns()
    summary = whatif.summarise(
        plans,
        window_start=NOW - timedelta(days=WHATIF_DAYS),
        window_end=NOW,
        policy=policy,
    )
    end, cpu_end = time.perf_counter_ns(), time.process_time_ns()
    return _Spent(planned - start, end - planned, cpu_end - cpu), summary


def _repeated(
    policy: ReminderPolicy, batch: Sequence[PlannedCase], repeats: int
) -> tuple[_Spent, whatif.Summary]:
    """The time of one batch, the mean of `repeats` in a row, and its summary."""
    spans = []
    for _ in range(repeats):
        spent, summary = _batch(policy, batch)
        spans.append(spent)
    return (
        _Spent(
            sum(s.plan for s in spans) / repeats,
            sum(s.summary for s in spans) / repeats,
            sum(s.cpu for s in spans) / repeats,
        ),
        summary,
    )


def whatif_time(
    deliveries: Deliveries,
    sizes: Sequence[int] = WHATIF_SIZES,
    rounds: int = WHATIF_ROUNDS,
) -> WhatIfResult:
    """Plan and summarise each size's batch, every span the largest size's worth of cases."""
    policy = bench_policy()
    everything = whatif_cases(policy, max(sizes))
    body = deliveries.shopify_body(ORDER_INDEX)
    per_span = max(sizes)
    best: dict[int, _Spent] = {}
    summaries: dict[int, whatif.Summary] = {}
    parse_best: Span | None = None
    # A first batch and parse warm up (the zones, the decline codes' tables) uncounted.
    _batch(policy, everything[: min(sizes)])
    _span(lambda: json.loads(body), REPEATS)
    for _ in range(rounds):
        for size in sizes:
            spent, summaries[size] = _repeated(policy, everything[:size], max(1, per_span // size))
            best[size] = spent.least(best.get(size))
        parse_best = _span(lambda: json.loads(body), REPEATS).least(parse_best)
    largest = summaries[max(sizes)]
    _check(largest, max(sizes))
    if parse_best is None:
        raise BenchError("no round of the what-if was timed")
    timeout, memory = _admin_limits()
    # The service's module reads through the store: imported here, as the fraud benchmark
    # imports the services it runs, not with the benchmark package.
    from recoup.services import whatif as service_whatif

    return WhatIfResult(
        sizes=[
            WhatIfSize(
                cases=size,
                plan_ns=best[size].plan,
                summary_ns=best[size].summary,
                cpu_ns=best[size].cpu,
                repeats=max(1, per_span // size),
                gone=summaries[size].gone,
                to_come=summaries[size].to_come,
            )
            for size in sizes
        ],
        mix=dict(Counter(c.kind for c in everything)),
        outcome={
            "messages gone": largest.gone,
            "messages to come": largest.to_come,
            "cases not chased (below the minimum)": largest.not_chased,
            "cases in the experiment's holdout": largest.holdout,
            "cases waiting for a due date": largest.waiting,
        },
        by_strategy={s.strategy_id: s.cases for s in largest.strategies if s.cases},
        parse_ns=parse_best.wall,
        parse_cpu_ns=parse_best.cpu,
        rounds=rounds,
        service_cap=service_whatif.MAX_CASES,
        admin_timeout_s=timeout,
        admin_memory_mb=memory,
    )


def _admin_limits() -> tuple[int, int]:
    """The admin API function's Timeout (s) and MemorySize (MB), as template.yaml deploys it."""
    template = load_template()
    defaults = template.get("Globals", {}).get("Function", {})
    own = template["Resources"][ADMIN_FUNCTION]["Properties"]
    return (
        int(own.get("Timeout", defaults["Timeout"])),
        int(own.get("MemorySize", defaults["MemorySize"])),
    )


def _check(summary: whatif.Summary, size: int) -> None:
    """The largest batch planned every case and every kind of outcome, or its time would
    not be the mix's."""
    if summary.cases != size:
        raise BenchError(f"{summary.cases} cases summarised of {size}")
    missing = [
        what
        for what, count in (
            ("a message gone", summary.gone),
            ("a message to come", summary.to_come),
            ("a case below the minimum", summary.not_chased),
            ("a case waiting for its due date", summary.waiting),
            ("a case in the holdout", summary.holdout),
        )
        if not count
    ]
    if missing:
        raise BenchError(f"the what-if of {size} cases has no {', no '.join(missing)}")


# ---------------------------------------------------------------- both
def run(
    deliveries: Deliveries | None = None, progress: Callable[[str], None] | None = None
) -> StrategiesResult:
    """Strategy matching, then the what-if at every size; pure CPU in this process."""
    say = progress or (lambda _message: None)
    source = deliveries or Deliveries()
    load_before = os.getloadavg()[0]
    say(f"strategy matching: {len(VARIANTS)} cases, best of {ROUNDS} rounds")
    matching = matching_time(source)
    sizes = " / ".join(f"{n:,}" for n in WHATIF_SIZES)
    say(f"what-if: {sizes} cases planned and summarised, best of {WHATIF_ROUNDS} rounds")
    planned = whatif_time(source)
    return StrategiesResult(
        matching=matching,
        whatif=planned,
        python=f"{platform.python_implementation()} {platform.python_version()}",
        nproc=len(os.sched_getaffinity(0)),
        load=(load_before, os.getloadavg()[0]),
    )
