"""The local stack's patch that keeps Powertools' current event per thread."""

from __future__ import annotations

import json
import threading
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from recoup_local import powertools_patches
from recoup_local.lambdas import http_event


def _echo_app(inside: threading.Barrier) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()

    @app.post("/echo")
    def echo() -> dict[str, Any]:
        inside.wait()  # both requests are inside their routes before either reads its body
        body = app.current_event.json_body
        return {"got": body["n"]}

    return app


def test_two_concurrent_requests_each_read_their_own_event() -> None:
    # Given the patch, and two resolvers (two instances of one function) in one process
    powertools_patches.apply()
    inside = threading.Barrier(2, timeout=10)
    apps = [_echo_app(inside), _echo_app(inside)]
    answers: dict[int, Any] = {}

    def call(n: int) -> None:
        event = http_event("POST", "/echo", {}, json.dumps({"n": n}).encode())
        answers[n] = json.loads(apps[n].resolve(event, None)["body"])

    # When both resolve at the same time, each on its own thread
    threads = [threading.Thread(target=call, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then each answered from its own body, not the other's (Powertools alone keeps one
    # event per process: the later request's would win in both)
    assert answers == {0: {"got": 0}, 1: {"got": 1}}


def test_applying_twice_changes_nothing() -> None:
    powertools_patches.apply()
    powertools_patches.apply()
    app = APIGatewayHttpResolver()

    @app.get("/x")
    def x() -> dict[str, str]:
        return {"path": app.current_event.path}

    assert json.loads(app.resolve(http_event("GET", "/x", {}, b""), None)["body"]) == {"path": "/x"}
