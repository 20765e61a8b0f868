"""The peak-memory and warm-vs-cached benchmarks (benchmarks/memory.py) measure what they
claim: the RSS probe sees memory the child really holds, and the timing harness runs the
worker's handler over real queued events and counts what it applied. Against the source
tree (a built layer takes a pip install; `make bench` uses one)."""

from __future__ import annotations

import json
from typing import Any

from benchmarks import fresh, memory, report_memory
from benchmarks.payloads import Deliveries
from recoup.integrations.shopify_http import HttpRequest, HttpResponse, TransportError


def test_the_rss_probe_reports_fifty_more_megabytes_when_the_child_holds_them() -> None:
    # Given the same fresh interpreter twice, the second holding 50 MB more (written, so
    # the pages are resident)
    layout = memory.source_layout()
    base = memory.run_child(layout, "event_worker", {}, memory.rss_script(None))["facts"]
    more = memory.run_child(
        layout, "event_worker", {}, memory.rss_script(None, extra="_blob = b'x' * (50 << 20)")
    )["facts"]
    # Then its high-water mark is about 50 MB higher
    grown = (more["VmHWM"] - base["VmHWM"]) / 1024
    assert 48 <= grown <= 56, grown


def test_the_rss_probe_counts_the_botocore_clients_left_alive() -> None:
    # Given a child that makes two DynamoDB clients, each in a botocore session of its own
    made = (
        "import botocore.session\n"
        "_kept = [botocore.session.get_session().create_client('dynamodb', "
        "region_name='us-east-1') for _ in range(2)]"
    )
    facts = memory.run_child(
        memory.source_layout(), "event_worker", {}, memory.rss_script(None, extra=made)
    )["facts"]
    # Then the probe reports both, by service
    assert facts["clients"] == {"dynamodb": 2}


def test_the_childs_shopify_calls_reach_the_stand_in_over_loopback() -> None:
    # Given a Shopify stand-in (a transport) served on a loopback port
    seen: list[HttpRequest] = []

    def stand_in(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        if request.url.endswith("/lost"):
            raise TransportError("no answer from shop.myshopify.com: timed out")
        body = json.dumps({"url": request.url, "got": request.body.decode()}).encode()
        return HttpResponse(201, body, {"Content-Type": "application/json", "X-Shop": "1"})

    call = """
from recoup.integrations.shopify_http import HttpRequest, TransportError, urllib_transport
import recoup.integrations.shopify_http as _module
answer = _module.urllib_transport(HttpRequest(
    "https://shop.myshopify.com/admin/api/graphql.json", b'{"query": "q"}',
    {"X-Shopify-Access-Token": "shpat_x"}))
try:
    _module.urllib_transport(HttpRequest("https://shop.myshopify.com/lost", b"{}", {}))
    lost = "answered"
except TransportError as exc:
    lost = str(exc)
"""
    with memory.shopify_over_loopback(stand_in) as base:
        # When a child with the benchmark's prelude calls Shopify through its transport
        script = fresh.span_script(
            call,
            setup=memory.shopify_prelude(base),
            after="_facts.update(status=answer.status, body=answer.body.decode(), "
            "shop=answer.header('x-shop'), lost=lost)",
        )
        facts: dict[str, Any] = memory.run_child(
            memory.source_layout(), "shopify_tasks", {}, script
        )["facts"]
    # Then the stand-in got the Shopify URL, the body and the headers
    assert [r.url for r in seen] == [
        "https://shop.myshopify.com/admin/api/graphql.json",
        "https://shop.myshopify.com/lost",
    ]
    assert seen[0].body == b'{"query": "q"}'
    assert seen[0].headers.get("X-Shopify-Access-Token") == "shpat_x"
    # and the child its answer, or the TransportError a lost answer is
    assert facts["status"] == 201 and facts["shop"] == "1"
    assert json.loads(facts["body"])["got"] == '{"query": "q"}'
    assert "timed out" in facts["lost"]


def test_the_timing_harness_applies_every_event_of_every_batch() -> None:
    # Given the local stack on moto's server with the demo shop installed
    with memory.stack(Deliveries()) as st:
        # When the worker's timing runs one process: a first batch, then a warm/cached pair
        timing = memory.worker_timing(memory.source_layout(), st, rounds=1, pairs=1, batch=2)
    (round_,) = timing.rounds
    # Then every batch applied both its events (the handler ran; none failed)
    assert list(round_.processed) == [2, 2, 2]
    # and each timed batch was timed, the cold one slower than the cached one
    assert len(round_.warm) == len(round_.cached) == 1
    assert round_.cold > round_.cached[0] > 0
    assert timing.ratio > 0
    # and no client was made after the first batch (one per container)
    assert round_.clients_timed == 0
    # and the report has a row for it
    rows = report_memory.summary_rows(memory.Result(memory=_no_memory(), timings=[timing]))
    assert any("event_worker" in row for row in rows)


def _no_memory() -> memory.MemoryResult:
    return memory.MemoryResult(peaks=(), bare_mb=0.0, packages={}, built=False, python="")
