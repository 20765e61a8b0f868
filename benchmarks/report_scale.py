"""The growth (items read per request at 100 / 1,000 / 10,000 cases) and write-capacity
(WCU per order, one shop's orders/s ceiling) figures as text and markdown; `report` puts them
in the terminal output and docs/performance.md."""

from __future__ import annotations

from collections.abc import Mapping

from benchmarks import capacity as cap
from benchmarks import growth as grow
from benchmarks.capacity import CapacityResult, Ceiling
from benchmarks.growth import GrowthResult

# What a request that reads the same items at every size reads, and why it stays so.
WHY_CONSTANT: Mapping[str, str] = {
    grow.DASHBOARD_90: (
        "Once the finished days are folded (the first request's work, below), a dashboard "
        "reads the fold's watermark, the month items of the whole months in the period and "
        "the day items of the days at its start, each in its 8 partitions, and the 16 shards "
        "of each day not folded yet (yesterday and today; `store/rollups.read`). The fold has "
        "put every one of those items in place ahead of its first read, empty where no case "
        'wrote (`docs/data-model.md`, "Items in place"), so a shop of 100 cases reads the '
        "very items one of 10,000 does: 1 + 8 × (months + edge days) × currencies + 16 × 2, "
        "here 1 + 8 × (3 months + 28 days) + 32 in one currency; from 57 to 313 by the day "
        "of the month, never more as the cases grow"
    ),
    grow.DASHBOARD_ALL: (
        "As the 90-day dashboard, without edge days: the watermark, the month items of every "
        "month from the shop's first (13 for a year of cases) in their 8 partitions, and the "
        "16 shards of each day not folded yet: 1 + 8 × 13 + 32 items in one currency"
    ),
    grow.DASHBOARD_DAILY: (
        "The first request of a day also folds the day before yesterday (one consistent Query "
        "per shard over that day: its 16 shards, all in place; one TransactWriteItems: the "
        "shards marked, the day and month items, the watermark) and puts tomorrow's items in "
        "place (one TransactWriteItems of its 16 shards and 8 day items per currency, nothing "
        "read); it then reads as the steady state of its day, 1 + 8 × (3 months + 27 days) "
        "+ 32, those 16 shards more"
    ),
}

# Why a request's reads grow, and what would hold them constant.
WHY_GROWS: Mapping[str, str] = {
    **{
        request: f"{why}; a ratio above 1.1 means some of those items were not in place"
        for request, why in WHY_CONSTANT.items()
    },
    grow.CASE_LIST: (
        "The admin route (`admin/api.py`, `list_cases`) asks `services.case_list` for a page "
        "of 26 (one more, to know there is a next page) by opening: each of the 16 shop index "
        "shards is read for its `O#` listing keys, 26 ÷ 16 + 2 = 3 keys at a time, a shard read "
        "again only when the merge reaches the end of its keys, and the cases are loaded 26 at a "
        "time: bounded by the page and the 16 shards, never the shop. A small shop's shards run "
        "out sooner, so it reads fewer keys; the read capacity is the same at every size (the "
        "RCU ratio)"
    ),
    grow.SAMPLE_PICK: (
        "The preview takes one of the shop's tracked cases (`store.case_listing.first_of`): "
        "the shop index shards are asked in turn for one key (a shard without a case reads "
        "none) and the first key found is read, then its case: a key and a case at every "
        "size; more means a shard answered more than the one key asked for"
    ),
    grow.CUSTOMER_REDACT: (
        "The erasure reads the customer's cases, links and counters by key, and besides "
        "every data-request marker the shop holds (`store.data_requests.about`: a Query of "
        "`SHOP#` / `PRIVACY#DATA_REQUEST#` filtered by the customer's hash, once per hash): "
        "that grows with the shop's data requests of the last 30 days, not with its cases. "
        "Keyed by the customer's hash (`PRIVACY#DATA_REQUEST#<hash>#<id>`) it would read "
        "only theirs"
    ),
    grow.SHOP_REDACT: "it must touch every item of the shop (by design)",
}


def _n(value: int) -> str:
    return f"{value:,}"


def _ops(ops: Mapping[str, int]) -> str:
    return ", ".join(f"{op} ×{n}" for op, n in ops.items()) or "none"


def _ratio(value: float) -> str:
    return "∞" if value == float("inf") else f"{value:.2f}"


def _goal(result: GrowthResult, request: str) -> str:
    if request in grow.GROWS_BY_DESIGN:
        return "grows by design"
    return "met" if result.met(request) else "NOT met"


def _orders(value: float) -> str:
    return f"{value:,.0f}"


def _mix(c: Ceiling) -> str:
    return f"{c.paid_share:.0%} paid at checkout, {1 - c.paid_share:.0%} unpaid"


# ---------------------------------------------------------------------------- terminal
def text_lines(growth: GrowthResult | None, capacity: CapacityResult | None) -> list[str]:
    lines: list[str] = []
    if growth is not None:
        sizes = " / ".join(_n(r.cases) for r in growth.runs)
        lines += [
            "",
            f"Growth: items read per request at {sizes} cases (goal 10k/100 <= {grow.GOAL}):",
        ]
        for request in grow.REQUESTS:
            counts = " / ".join(_n(r.measured[request].items) for r in growth.runs)
            lines.append(
                f"   {request:<52} {counts:>22}  ratio {_ratio(growth.ratio(request)):>6}  "
                f"{_goal(growth, request)}"
            )
    if capacity is not None:
        lines += ["", "Capacity: WCU per order by partition class, and one shop's ceiling:"]
        for order in (capacity.paid, capacity.unpaid):
            lines.append(
                f"   {order.kind}: {order.per_order} WCU per order ("
                + ", ".join(f"{k} {v}" for k, v in order.by_class.items())
                + ")"
            )
        for c in capacity.ceilings:
            verdict = "met" if c.orders_per_second >= cap.GOAL else "NOT met"
            lines.append(
                f"   {_mix(c)}: {_orders(c.orders_per_second)} orders/s, bound by {c.bound_by} "
                f"(goal >= {_n(cap.GOAL)}: {verdict})"
            )
    return lines


# ---------------------------------------------------------------------------- markdown
def summary_rows(growth: GrowthResult | None, capacity: CapacityResult | None) -> list[str]:
    rows: list[str] = []
    if growth is not None:
        first, last = growth.runs[0].cases, growth.runs[-1].cases
        for request in grow.REQUESTS:
            goal = (
                "reported (grows by design)"
                if request in grow.GROWS_BY_DESIGN
                else f"≤ {grow.GOAL}: {_goal(growth, request)}"
            )
            rows.append(
                f"| Items read, {request}, {_n(last)} / {_n(first)} cases | "
                f"{_ratio(growth.ratio(request))} | the same request at {_n(first)} cases | "
                f"{goal} |"
            )
        for request in grow.REQUESTS:
            if request in grow.GROWS_BY_DESIGN:
                continue
            ratio = growth.rcu_ratio(request)
            rows.append(
                f"| Read capacity units, {request}, {_n(last)} / {_n(first)} cases | "
                f"{_ratio(ratio)} | the same request at {_n(first)} cases | "
                f"≤ {grow.GOAL}: {'met' if ratio <= grow.GOAL else 'NOT met'} |"
            )
    if capacity is not None:
        mixed = capacity.mixed
        verdict = "met" if mixed.orders_per_second >= cap.GOAL else "NOT met"
        rows.append(
            f"| Orders/s one shop can take before a shared partition passes 1,000 WCU/s "
            f"({_mix(mixed)}) | {_orders(mixed.orders_per_second)} | (orders/s, bound by "
            f"{mixed.bound_by}) | ≥ {_n(cap.GOAL)}: {verdict} |"
        )
    return rows


def growth_section(growth: GrowthResult) -> list[str]:
    out: list[str] = []
    add = out.append
    sizes = " / ".join(_n(r.cases) for r in growth.runs)
    add(f"## Items read per request as a shop grows ({sizes} cases)\n")
    add(
        "**How measured.** `benchmarks/growth.py`, on the in-process local stack (moto's "
        "`mock_aws`). One shop's table is filled with orders as the worker writes them, and "
        "each request below runs with every DynamoDB read counted at botocore's "
        "`_make_api_call`; then the shop grows to the next size, on the same table, and they "
        "run again. Items read: the ScannedCount of every Query and Scan plus the items every "
        "GetItem and BatchGetItem returned. Order i is the project's pending Shopify order "
        "(`tests/events/shopify/order_pending.json`) with its own id, customer id, email, "
        "phone and street; every second one is paid at checkout (never owed, kept 90 days by "
        "its TTL, so those fall in the last 90 days), the others owe and open over the last "
        "365 days (times by the golden-ratio sequence, so every size spreads evenly); four "
        "customers have three owed orders each, the privacy requests' subjects. Each order "
        "goes through the worker's own code (`services.cases.apply_event`: its reads, the fraud "
        "screening, the reminder sequence, the store's transaction); the transaction is "
        "written as the same items by BatchWriteItem and UpdateItem (same expressions), and "
        "moto's Query reads only the partition it names (the local stack's `dynamodb-query` "
        "patch; moto 5.2.5 sorts the whole table "
        "per Query: the same answer, seconds slower at 10,000 cases). The requests: "
        "`services.figures.for_shop` over the last 90 days and over all time, once the "
        "finished days are folded and the items a read names are in place (the first "
        "request's fold, of a year of days, is reported on its own, as is the next day's "
        "first request, which folds one and puts tomorrow's items in place; the rollup items "
        "are put back as the orders left them after each size, so that the next size's "
        "orders, written at their own times, find their days open); the admin API's "
        "`GET /admin/api/cases` (first page, 25 rows) and `POST /admin/api/preview` (step 1), "
        "signed in as the shop's staff; the sample case a shop without a currency falls back "
        "to (`services.sample_sends._shop_currency`); customers/data_request and "
        "customers/redact of a customer with three cases and shop/redact, through the privacy "
        "worker's entry (`services.privacy.handle`; a different customer is erased at each "
        "size, and the table is written back after shop/redact).\n"
    )
    head = " | ".join(f"{_n(r.cases)} cases" for r in growth.runs)
    add(
        f"| Request | {head} | Ratio {_n(growth.runs[-1].cases)} / {_n(growth.runs[0].cases)} "
        "| Goal ≤ 1.1 | RCU at each size | RCU ratio | Calls at the largest | "
        "Operations at the largest |"
    )
    add("|---|" + "---:|" * len(growth.runs) + "---:|---|---:|---:|---:|---|")
    for request in grow.REQUESTS:
        counts = " | ".join(_n(r.measured[request].items) for r in growth.runs)
        rcu = " / ".join(f"{r.measured[request].rcu:,.1f}" for r in growth.runs)
        last = growth.runs[-1].measured[request]
        add(
            f"| {request} | {counts} | **{_ratio(growth.ratio(request))}** | "
            f"{_goal(growth, request)} | {rcu} | {_ratio(growth.rcu_ratio(request))} | "
            f"{_n(last.calls)} | {_ops(last.operations)} |"
        )
    add("")
    add(
        "RCU: the read capacity units DynamoDB charges (and throttles on) for the same reads: "
        "an item read by key costs its size in 4 KB units, a Query the size of what it "
        "returned together, in 4 KB units, at least one a call; half when eventually "
        "consistent (`growth.read_units`, sizes by DynamoDB's rules). A Query of a few small "
        "items costs what an empty one costs, so the RCU ratio shows what a request costs as "
        "the shop grows where the item count also shows how full its partitions are.\n"
    )
    add(
        "Table size: "
        + "; ".join(
            f"{_n(r.cases)} cases: {_n(r.items_in_table)} items (written in {r.fill_seconds:.0f} s)"
            for r in growth.runs
        )
        + ".\n"
    )
    add("**What it means.**\n")
    flat = [r for r in grow.REQUESTS if r not in grow.GROWS_BY_DESIGN and growth.met(r)]
    grown = [r for r in grow.REQUESTS if r not in grow.GROWS_BY_DESIGN and not growth.met(r)]
    if flat:
        add(
            "- Constant whatever the shop's size: "
            + "; ".join(f"{r} ({_n(growth.runs[-1].measured[r].items)} items)" for r in flat)
            + "."
        )
    for request in (r for r in flat if r in WHY_CONSTANT):
        add(
            f"- {request}: {_n(growth.runs[-1].measured[request].items)} items at every size. "
            f"{WHY_CONSTANT[request]}."
        )
    for request in grown:
        add(
            f"- {request}: {_ratio(growth.ratio(request))}× at "
            f"{_n(growth.runs[-1].cases)} cases. {WHY_GROWS.get(request, '')}."
        )
    catch_up = growth.runs[-1].measured[grow.DASHBOARD_CATCH_UP]
    add(
        f"- {grow.DASHBOARD_CATCH_UP}: {_ratio(growth.ratio(grow.DASHBOARD_CATCH_UP))}×, once "
        "per shop: it reads every shard item of the shop's history (one consistent Query per "
        "shard) and folds it, then reads its month items (one Query per partition) and puts "
        "the items of its history in place "
        f"({catch_up.detail.split('; ', 1)[-1]} at {_n(growth.runs[-1].cases)} cases; a year "
        "of days at most per request, the rest the next one)."
    )
    add(f"- shop/redact: {_ratio(growth.ratio(grow.SHOP_REDACT))}×: {WHY_GROWS[grow.SHOP_REDACT]}.")
    add("")
    add(
        "**What could make it fail.** A request that starts listing the shop (a Scan, a "
        "Query of a shop partition without a bound, a page size that grows with the shop) "
        "shows here as a ratio that follows the cases; the fill is the worker's own code, "
        "so a write that stops maintaining the rollups or the customer links makes the "
        "dashboard or the privacy requests read nothing, which shows as a ratio of ∞ or "
        "0 items. Read counts come from moto's ScannedCount, which for a Query counts the "
        "items in the key range as DynamoDB does. Not grown here: customers/redact also reads "
        "every data-request marker the shop holds (`store.data_requests.about`, a filtered "
        "Query of `SHOP#`, once per hash of the customer id), so it grows with the shop's "
        "data requests of the last 30 days; this benchmark keeps none between sizes.\n"
    )
    return out


def capacity_section(capacity: CapacityResult) -> list[str]:
    out: list[str] = []
    add = out.append
    add("## Write capacity per order, and the orders/s one shop can take\n")
    add(
        "**How measured.** `benchmarks/capacity.py`, on the in-process local stack with the "
        "demo shop installed: one order paid at checkout (`orders/create` with "
        "`financial_status: paid`, then `orders/paid`) and the lifecycle's unpaid order "
        "(`orders/create` pending, screened, three reminders by scheduler and sender, "
        "`orders/paid`, then idle scheduler runs) go through the functions. Every DynamoDB "
        "write request (PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems) "
        "is captured at botocore's `_make_api_call`, and each item it names is read before "
        "and after (consistently, outside the counts). **Method:** an item's size is its "
        "attribute names plus values by DynamoDB's rules (strings: UTF-8 bytes; numbers: 1 "
        "byte per two significant digits plus 1; binary: raw bytes; booleans, nulls: 1; lists "
        "and maps: 3 bytes plus their elements, plus 1 byte per element; sets: their "
        "elements); a write costs 1 WCU per KB, rounded up per item, at least 1, of the "
        "larger of the item before and after (deleted: its size), twice that inside a "
        "transaction. A global secondary index costs 1 WCU per KB of its entry for each "
        "entry put or deleted: the `shop` index (keys only) when an item gets or loses "
        "`shop_part`/`shop_sort` or changes them (a delete and a put), the `due` index "
        "(keys and `next_step`) likewise for `due_pk`/`due_sk`, and one write when only "
        "`next_step` changes. Each WCU is attributed to the partition it lands in. The "
        "ceiling: at a steady rate of orders, each shared class of partitions takes "
        "orders/s × its WCU per order, spread evenly over its partitions by hash; it passes "
        "1,000 WCU/s per partition at 1,000 × partitions ÷ WCU per order. The least over the "
        "classes is the ceiling, for a mix of orders paid at checkout and unpaid ones.\n"
    )
    classes = [
        c for c in cap.CLASSES if c in capacity.paid.by_class or c in capacity.unpaid.by_class
    ]
    add(
        "| Partition class | Partitions | Paid at checkout, WCU | Unpaid (3 reminders, paid), WCU |"
    )
    add("|---|---:|---:|---:|")
    for cls in classes:
        shards = cap.SHARDS.get(cls)
        parts = {
            cap.OWN: "one per order or identity",
            cap.DUE_INDEX: "4, shared by every shop",
            cap.GLOBAL: "1, shared by every shop",
            cap.SCHEDULER: "1 (once a run, not per order)",
        }.get(cls, str(shards) if shards else "")
        add(
            f"| {cls} | {parts} | {capacity.paid.by_class.get(cls, 0)} | "
            f"{capacity.unpaid.by_class.get(cls, 0)} |"
        )
    add(
        f"| **per order** (without the scheduler's cursors) | | **{capacity.paid.per_order}** | "
        f"**{capacity.unpaid.per_order}** |"
    )
    add("")
    add(
        "Largest item of each kind written (bytes): "
        + ", ".join(f"{k} {_n(v)}" for k, v in capacity.sizes.items())
        + ".\n"
    )
    add(
        "| Mix | "
        + " | ".join(c for c in cap.SHARDS if cap.SHARDS[c] is not None)
        + " | Ceiling (orders/s) | Goal ≥ 1,000 |"
    )
    shared = [c for c in cap.SHARDS if cap.SHARDS[c] is not None]
    add("|---|" + "---:|" * len(shared) + "---:|---|")
    for c in capacity.ceilings:
        cells = " | ".join(_orders(c.per_class[k]) if k in c.per_class else "—" for k in shared)
        verdict = "met" if c.orders_per_second >= cap.GOAL else "NOT met"
        add(f"| {_mix(c)} | {cells} | **{_orders(c.orders_per_second)}** | {verdict} |")
    add("")
    mixed = capacity.mixed
    add("**What it means.**\n")
    add(
        f"- One shop takes about **{_orders(mixed.orders_per_second)} orders/s** "
        f"({_mix(mixed)}) before a partition its orders share passes 1,000 WCU/s; the first "
        f"to pass is the {mixed.bound_by}."
    )
    by_class = {
        cap.SHOP_PARTITION: (
            "the shop partition takes nothing per order: installs, settings and opt-outs; "
            "the message log is one partition per shop and customer (`MSG#<shop>#<customer "
            "hash>`)"
        ),
        cap.DUE_INDEX: (
            "the due index is written when a case opens (a put), twice per reminder (the "
            "record moves the key to the next step: a delete and a put; the claim leaves it) "
            f"and when the case closes (a delete); its {cap.SHARDS[cap.DUE_INDEX]} partitions "
            "are shared by every shop, so this ceiling is the whole platform's, not one shop's"
        ),
        cap.SHOP_INDEX: (
            "the shop index takes a case (created), each customer link, the customer's "
            "message log when it is new, and each new velocity or rollup item (a rollup's "
            "entry is written once per day, shard and currency, so it is counted here once "
            "per order, more than it costs at scale)"
        ),
        cap.ROLLUPS: (
            "a rollup shard item is updated (2 WCU in the transaction) when a case opened "
            "today or yesterday changes figures, spread over 16 shards by case id"
        ),
        cap.ROLLUP_DAYS: (
            "a change to a case opened before yesterday (its payment, days later) updates "
            "that day's item in one of 8 partitions per shop (by case); the daily fold writes "
            "the first once a day"
        ),
        cap.ROLLUP_MONTHS: "the same change updates its month's item, in the same partition",
        cap.GLOBAL: (
            "one `GLOBAL` item update per SMS sent (the shop a HELP reply names), in one "
            "partition for every shop"
        ),
    }
    for cls in sorted(mixed.per_class, key=lambda k: mixed.per_class[k]):
        add(f"- {cls}: {_orders(mixed.per_class[cls])} orders/s; {by_class.get(cls, '')}.")
    own = capacity.unpaid.by_class.get(cap.OWN, 0)
    add(
        f"- An order's own partitions take most of its WCU ({own} "
        f"of the unpaid order's {capacity.unpaid.per_order}): the case item is rewritten on "
        "every event and send, twice per KB in a transaction. They limit nothing shared, but "
        "they are the bill: the case item's size is the lever."
    )
    add("")
    add(
        "**What could make it fail.** Real traffic is not the steady state the division "
        "assumes: a flash sale's webhooks arrive faster than their reminders, so the "
        "webhook-time classes (shop index, rollup shards) see their peak while the due index "
        "and the rollup days and months see the scheduler's pace and the payments of older "
        "cases; quiet hours bunch the sends at 08:00. "
        "Shopify sends more webhooks per order than the two counted here (`orders/updated` "
        "with each change), each rewriting the case. Hash spreading is even only on "
        "average; an identity many orders share (one IP behind a proxy) concentrates its "
        "velocity counter. The index costs assume DynamoDB's documented behaviour; moto "
        "does not meter capacity, so every figure is computed from the items, not read "
        "from a ConsumedCapacity.\n"
    )
    return out


def sections(growth: GrowthResult | None, capacity: CapacityResult | None) -> list[str]:
    out: list[str] = []
    if growth is not None:
        out += growth_section(growth)
    if capacity is not None:
        out += capacity_section(capacity)
    return out
