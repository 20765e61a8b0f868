"""The what-if preview against moto: cases opened through the real webhook and worker, their
reminders sent by the real scheduler and sender on a moving clock; the preview of the policy
they ran under says exactly what was sent, one with a strategy for bank transfers counts as
it should, the read covers only the window, and the console command prints the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from recoup import clock
from recoup.domain import cadence
from recoup.domain.dunning import DunningStatus
from recoup.services import whatif
from recoup.store import cases as case_store
from recoup.store import policies
from recoup_local import stack
from recoup_local.cli import main as recoup_cli
from tests.conftest import SHOP, event_json, shopify_headers

BASE = json.dumps(event_json("shopify/order_pending.json"))
CARD = ["shopify_payments"]
BANK = ["Bank Deposit"]
# The customers live in Oregon: quiet hours 21:00-08:00 Pacific (PST, UTC-8, from 11-01)
# are 05:00-16:00 UTC.
UNTIL = datetime(2026, 11, 9, 12, 0, tzinfo=UTC)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _step(delay: str, anchor: str, template: str, channel: str = "email") -> dict[str, Any]:
    return {
        "delay": delay,
        "anchor": anchor,
        "channel": channel,
        "template": template,
        "tone": template,
        "pay_link": True,
    }


def _current_doc() -> dict[str, Any]:
    """The policy the cases run under: three steps for every case, no other strategy, and a
    minimum of 10.00 USD."""
    doc = cadence.policy_to_dict(cadence.default_policy("UTC"))
    doc.update(
        steps=[
            _step("1d", "opened", "friendly"),
            _step("36h", "previous", "firm", "email_then_sms"),
            _step("30h", "previous", "final_notice"),
        ],
        min_amount={"USD": 1_000},
        strategies=[],
    )
    return doc


BANK_STRATEGY = {
    "id": "bank",
    "name": "Bank transfers",
    "when": {"methods": ["bank_transfer"]},
    "steps": [_step("3d", "opened", "friendly"), _step("4d", "previous", "final_notice")],
}


@dataclass(frozen=True)
class Order:
    number: int
    gateways: list[str]
    opened: datetime
    paid: datetime | None = None
    total: str = "1899.00"

    @property
    def case_id(self) -> str:
        return str(5960359936100000000 + self.number)


ORDERS = (
    # 11-03 17:00; 11-05 05:00 is quiet: 16:00; then 30 h from there, 11-06 22:00 (from the
    # unmoved 05:00 it would be 11-06 11:00, quiet, so 16:00): three gone
    Order(1, CARD, _utc("2026-11-02T17:00")),
    # 11-03 18:30, then paid 11-04 20:00 before the second: one gone
    Order(2, BANK, _utc("2026-11-02T18:30"), paid=_utc("2026-11-04T20:00")),
    # paid 11-03 10:00, before its first (11-04 02:00): none
    Order(3, CARD, _utc("2026-11-03T02:00"), paid=_utc("2026-11-03T10:00")),
    # 11-06 04:30 (20:30 Pacific), 11-07 16:30, 11-08 22:30: three gone
    Order(4, BANK, _utc("2026-11-05T04:30")),
    # 5.00 USD: below the minimum, not chased
    Order(5, CARD, _utc("2026-11-05T06:00"), total="5.00"),
    # 11-09 20:00, 11-11 08:00 (quiet: 16:00), 11-12 22:00: all to come
    Order(6, CARD, _utc("2026-11-08T20:00")),
)
# Opened 120 days before the preview, paid an hour later: outside the window.
OLD = Order(
    9, CARD, UNTIL - timedelta(days=120), paid=UNTIL - timedelta(days=120) + timedelta(hours=1)
)


def _body(order: Order, *, paid_at: datetime | None = None) -> bytes:
    """The pending order of the events folder as this order and customer of their own (no
    shared address, email, phone or IP: no velocity signal, no weekly cap shared)."""
    n = order.number
    text = (
        BASE.replace("5960359936123456789", order.case_id)
        .replace("daniel.okafor@example.com", f"buyer{n}@example.com")
        .replace("+15035550142", f"+1503555{n:04d}")
        .replace("2417 NW Kearney St", f"{100 + n} NW Kearney St")
        .replace("7412589630147258369", str(7412589630147250000 + n))
        .replace("203.0.113.42", f"203.0.113.{n}")
    )
    data = json.loads(text)
    opened = order.opened.isoformat()
    data.update(
        created_at=opened,
        processed_at=opened,
        updated_at=(paid_at or order.opened).isoformat(),
        payment_gateway_names=order.gateways,
        total_price=order.total,
        current_total_price=order.total,
        total_outstanding="0.00" if paid_at else order.total,
        financial_status="paid" if paid_at else "pending",
    )
    return json.dumps(data).encode()


class Clock:
    now = UNTIL


@pytest.fixture
def at(local: Any) -> Iterator[type[Clock]]:
    """One clock for the worker, the scheduler and the sender."""
    clock.use(lambda: Clock.now)
    yield Clock
    clock.use(None)


def _deliver(local: Any, order: Order, *, paid_at: datetime | None = None) -> None:
    body = _body(order, paid_at=paid_at)
    topic = "orders/paid" if paid_at else "orders/create"
    headers = shopify_headers(
        body, local.shopify_secret, topic, webhook_id=f"{order.case_id}-{topic}"
    )
    answer = local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
    assert answer["statusCode"] == 200
    local.lambdas.drain()


def _next_step_at(orders: tuple[Order, ...]) -> datetime | None:
    """When the next reminder step of these cases is due, as the due index holds it."""
    found = case_store.load_many(SHOP, [o.case_id for o in orders])
    due = [case_store.next_due(held) for held in found.values()]
    return min((when for when, step in (d for d in due if d) if step >= 0), default=None)


def _replay(local: Any, clock_: type[Clock], orders: tuple[Order, ...], until: datetime) -> None:
    """Open, pay and remind in time order: each webhook delivered at its own time, and the
    scheduler run at the exact time each step falls due, so each send happens when due."""
    events = sorted(
        [(o.opened, 0, o) for o in orders] + [(o.paid, 1, o) for o in orders if o.paid],
        key=lambda e: (e[0], e[1], e[2].number),
    )
    for _ in range(200):
        step_at = _next_step_at(orders)
        event_at = events[0][0] if events else None
        if step_at is not None and step_at < until and (event_at is None or step_at < event_at):
            clock_.now = step_at
            local.lambdas.run_schedules(step_at)
            local.lambdas.drain()
        elif event_at is not None and event_at < until:
            when, kind, order = events.pop(0)
            clock_.now = when
            _deliver(local, order, paid_at=when if kind else None)
        else:
            clock_.now = until
            return
    raise AssertionError("the replay did not settle")


@pytest.fixture
def replayed(local: Any, at: type[Clock]) -> Any:
    """The shop under the current policy, the old case, and the six orders run until UNTIL."""
    policy = cadence.parse_policy(_current_doc())
    policies.save(SHOP, policy, now=OLD.opened - timedelta(days=1))
    _replay(local, at, (OLD,), OLD.paid + timedelta(hours=1))
    _replay(local, at, ORDERS, UNTIL)
    return policy


def test_the_preview_of_the_policy_they_ran_under_is_what_the_sender_sent(
    local: Any, replayed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the cases run by the real scheduler and sender (none held for fraud: the
    # planner does not follow holds)
    stored = case_store.load_many(SHOP, [o.case_id for o in ORDERS])
    statuses = {o.number: stored[o.case_id].dunning.status for o in ORDERS}
    assert statuses == {
        1: DunningStatus.AWAITING_ESCALATION,
        2: DunningStatus.STOPPED,
        3: DunningStatus.STOPPED,
        4: DunningStatus.AWAITING_ESCALATION,
        5: DunningStatus.NOT_CHASED,
        6: DunningStatus.SCHEDULED,
    }
    read: list[str] = []
    load_many = case_store.load_many

    def spy(shop: str, case_ids: Any) -> Any:
        ids = list(case_ids)
        read.extend(ids)
        return load_many(shop, ids)

    monkeypatch.setattr(case_store, "load_many", spy)
    # When the same policy is previewed at the end
    window = whatif.plan_window(SHOP, replayed, now=UNTIL)
    # Then each case's messages gone are the ones the sender recorded, step and time
    planned = {p.case_id: [(m.step, m.at) for m in p.gone] for p in window.plans}
    sent = {o.case_id: [(m.step, m.at) for m in stored[o.case_id].dunning.sent] for o in ORDERS}
    assert planned == sent
    # (hand-checked: order 1's second step was moved out of the night, to 08:00 Pacific)
    assert sent[ORDERS[0].case_id] == [
        (0, _utc("2026-11-03T17:00")),
        (1, _utc("2026-11-05T16:00")),
        (2, _utc("2026-11-06T22:00")),
    ]
    assert sum(len(s) for s in sent.values()) == 7
    # And the read covered the window only: the six cases, never the one 120 days old
    assert len(window.plans) == len(ORDERS)
    assert OLD.case_id not in read
    assert sorted(read) == sorted(o.case_id for o in ORDERS)
    assert (window.start, window.end, window.cut) == (UNTIL - timedelta(days=90), UNTIL, False)


def test_a_strategy_for_bank_transfers_changes_the_counts(local: Any, replayed: Any) -> None:
    # Given the current policy's preview
    current = whatif.preview(SHOP, replayed, now=UNTIL)
    assert current.cases_by_strategy == {"default": 5}
    assert (current.cases, current.not_chased, current.gone, current.to_come) == (6, 1, 7, 3)
    # When bank transfers get a strategy of their own: 3 days, then 4 days later
    doc = {**_current_doc(), "version": 2, "strategies": [BANK_STRATEGY]}
    summary = whatif.preview(SHOP, cadence.parse_policy(doc), now=UNTIL)
    # Then the two bank transfers take it: order 2's first (11-05 18:30) comes after its
    # payment (11-04 20:00); order 4's first goes 11-08 04:30 (20:30 Pacific), its second
    # (11-12 04:30) is to come
    assert summary.cases_by_strategy == {"bank": 2, "default": 3}
    counts = {s.strategy_id: (s.cases, s.gone, s.to_come) for s in summary.strategies}
    # default: order 1's three gone, order 3 none, order 6's three to come
    assert counts == {"bank": (2, 1, 1), "default": (3, 3, 3)}
    bank_steps = [(s.step, s.gone, s.to_come) for s in summary.steps if s.strategy_id == "bank"]
    assert bank_steps == [(0, 1, 0), (1, 0, 1)]
    assert summary.not_chased == 1
    # And fewer days read fewer cases: opened in the last 2 days, only order 6
    assert whatif.preview(SHOP, replayed, now=UNTIL, days=2).cases == 1


def test_the_preview_of_a_document_and_its_errors(local: Any, replayed: Any) -> None:
    # Given the admin's document without a version
    doc = {**_current_doc(), "strategies": [BANK_STRATEGY]}
    del doc["version"]
    found = whatif.preview_doc(SHOP, doc, now=UNTIL)
    assert found["cases_by_strategy"] == {"bank": 2, "default": 3}
    assert found["window"]["end"] == UNTIL.isoformat()
    # A bad one names the field; a window out of bounds is refused
    bad = {**doc, "strategies": [{**BANK_STRATEGY, "when": {"methods": ["cheque"]}}]}
    with pytest.raises(cadence.PolicyError) as error:
        whatif.preview_doc(SHOP, bad, now=UNTIL)
    assert error.value.field == "strategies[0].when.methods[0]"
    for days in (0, 91):
        with pytest.raises(ValueError, match="days must be"):
            whatif.preview(SHOP, replayed, now=UNTIL, days=days)


def test_the_console_command_previews_strategies_on_the_current_policy(
    local: Any,
    replayed: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(stack, "connect", lambda: None)  # this process runs the stack
    # Given a file of strategies alone
    path = tmp_path / "strategies.json"
    path.write_text(json.dumps([BANK_STRATEGY]))
    # When the command previews it, as JSON and as a table
    assert recoup_cli(["whatif", "--shop", SHOP, "--strategy", str(path), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    # Then the strategies went on the shop's current policy (its minimum kept)
    assert found["cases_by_strategy"] == {"bank": 2, "default": 3}
    assert (found["shop"], found["not_chased"], found["gone"]) == (SHOP, 1, 4)
    assert recoup_cli(["whatif", "--shop", SHOP, "--strategy", str(path)]) == 0
    table = capsys.readouterr().out
    assert "bank (Bank transfers)" in table
    assert "bank step 1 email friendly" in table
    # And a strategy the policy refuses is one line naming the field, exit 2
    path.write_text(json.dumps({"strategies": [{**BANK_STRATEGY, "id": "Bank!"}]}))
    assert recoup_cli(["whatif", "--shop", SHOP, "--strategy", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"{path}: strategies[0].id: must be 1 to 40 characters")
    assert "\n" not in error
