"""The local front serves concurrent requests, as Lambda runs concurrent instances: a pool of
instances per function, each serving one invocation at a time, bounded per function."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from benchmarks.payloads import SHOP, Deliveries, Delivery
from recoup_local import lambdas as local_lambdas
from recoup_local.lambdas import InstancePool

WAIT = 10  # seconds a barrier waits before it calls the test failed


class _Spec:
    logical_id = "Fake"


@pytest.fixture
def fake_loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    made: list[int] = []

    def load(_: Any) -> Any:
        made.append(1)
        number = len(made)
        return lambda event, _context: (number, event["work"]())

    monkeypatch.setattr(local_lambdas, "load_handler", load)
    return made


def _call(pool: InstancePool, work: Any) -> Any:
    with pool.instance() as handler:
        return handler({"work": work}, None)


def test_concurrent_invocations_run_on_instances_of_their_own(fake_loads: list[int]) -> None:
    # Given a function allowed three instances, one loaded
    pool = InstancePool(_Spec(), lambda: lambda event, _c: (0, event["work"]()), limit=3)  # type: ignore[arg-type]
    together = threading.Barrier(3, timeout=WAIT)
    # When three invocations arrive at once, each waiting for the other two inside the handler
    with ThreadPoolExecutor(3) as pool_threads:
        answers = list(pool_threads.map(lambda _: _call(pool, together.wait), range(3)))
    # Then they ran at the same time, on three different instances (two cold starts)
    assert sorted(number for number, _ in answers) == [0, 1, 2]
    assert len(fake_loads) == 2
    assert pool.peak == 3
    # And a later invocation reuses a warm instance
    assert _call(pool, lambda: None)[0] in {0, 1, 2}
    assert len(fake_loads) == 2


def test_past_the_bound_an_invocation_waits_for_a_free_instance(fake_loads: list[int]) -> None:
    # Given a function allowed two instances, both busy
    pool = InstancePool(_Spec(), lambda: lambda event, _c: (0, event["work"]()), limit=2)  # type: ignore[arg-type]
    busy = threading.Barrier(3, timeout=WAIT)
    release = threading.Event()

    def hold() -> None:
        busy.wait()
        assert release.wait(WAIT)

    with ThreadPoolExecutor(3) as threads:
        held = [threads.submit(_call, pool, hold) for _ in range(2)]
        busy.wait()
        # When a third invocation arrives
        third = threads.submit(_call, pool, lambda: "done")
        # Then it waits (no third instance is loaded)
        with pytest.raises(TimeoutError):
            third.result(timeout=0.3)
        assert len(fake_loads) == 1
        # And runs as soon as an instance is free
        release.set()
        assert third.result(timeout=WAIT)[1] == "done"
        for future in held:
            future.result(timeout=WAIT)
    assert pool.peak == 2
    assert pool.loaded == 2


def test_the_instance_bound_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(local_lambdas.INSTANCES_VARIABLE, raising=False)
    assert local_lambdas.instance_limit() == local_lambdas.DEFAULT_INSTANCES
    monkeypatch.setenv(local_lambdas.INSTANCES_VARIABLE, "1")
    assert local_lambdas.instance_limit() == 1
    monkeypatch.setenv(local_lambdas.INSTANCES_VARIABLE, "0")
    assert local_lambdas.instance_limit() == 1
    monkeypatch.setenv(local_lambdas.INSTANCES_VARIABLE, "many")
    assert local_lambdas.instance_limit() == local_lambdas.DEFAULT_INSTANCES


# ------------------------------------------------------------------ through the front
@pytest.fixture
def front(local: Any) -> Iterator[tuple[str, int]]:
    from recoup_local.front import make_server

    server = make_server(local.lambdas, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield str(server.server_address[0]), int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def _post(address: tuple[str, int], delivery: Delivery) -> int:
    connection = http.client.HTTPConnection(*address, timeout=30)
    try:
        connection.request("POST", delivery.path, body=delivery.body, headers=delivery.headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _depth(local: Any, name: str) -> int:
    sqs = boto3.client("sqs", region_name="us-east-1")
    attrs = sqs.get_queue_attributes(
        QueueUrl=local.stack.refs[name], AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def test_the_front_runs_requests_to_one_function_and_to_two_functions_in_parallel(
    local: Any, front: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given every webhook instance waits, inside its handler, until three requests are in
    together = threading.Barrier(3, timeout=WAIT)
    real_load = local_lambdas.load_handler

    def waiting(handler: Any) -> Any:
        def run(event: dict[str, Any], context: Any) -> Any:
            together.wait()
            return handler(event, context)

        return run

    for name in ("ShopifyWebhookFunction", "StripeWebhookFunction"):
        monkeypatch.setitem(local.lambdas.handlers, name, waiting(local.lambdas.handlers[name]))
    monkeypatch.setattr(local_lambdas, "load_handler", lambda spec: waiting(real_load(spec)))
    deliveries = Deliveries()
    requests = [
        deliveries.shopify(1, local.shopify_secret),
        deliveries.shopify(2, local.shopify_secret),
        deliveries.stripe(1, local.stripe_secret),
    ]
    # When two Shopify deliveries and a Stripe one arrive at once
    with ThreadPoolExecutor(3) as clients:
        statuses = list(clients.map(lambda d: _post(front, d), requests))
    # Then all three were inside their handlers together, and each was accepted and queued
    assert statuses == [200, 200, 200]
    assert local.lambdas.pools["ShopifyWebhookFunction"].peak == 2
    assert _depth(local, "EventsQueue") == 3


def test_many_concurrent_deliveries_are_each_accepted_once_and_processed(
    local: Any, front: tuple[str, int]
) -> None:
    # Given 8 clients posting 40 new orders and their payment failures at once
    deliveries = Deliveries()
    requests = [deliveries.shopify(i, local.shopify_secret) for i in range(40)]
    requests += [deliveries.stripe(i, local.stripe_secret) for i in range(40)]
    with ThreadPoolExecutor(8) as clients:
        statuses = list(clients.map(lambda d: _post(front, d), requests))
    # Then every one is accepted, on at most the bound of instances per function
    assert statuses == [200] * len(requests)
    pool = local.lambdas.pools["ShopifyWebhookFunction"]
    assert 1 <= pool.peak <= pool.limit
    # And the worker, draining the queue, applies every event: nothing is left over or failed
    assert _depth(local, "EventsQueue") == 80
    local.lambdas.drain()
    assert _depth(local, "EventsQueue") == 0
    assert _depth(local, "EventsDeadLetterQueue") == 0
    from recoup.services import cases

    opened = cases.list_cases(SHOP, include_untracked=True)
    assert len({c.case_id for c in opened}) == 40
