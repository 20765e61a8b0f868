"""The local HTTP front: turns requests into API Gateway HTTP API events for the handlers.

Requests are served concurrently, one thread each: `LocalLambdas` runs each on a free
instance of its function (a pool per function, `RECOUP_LOCAL_INSTANCES` each, default 4;
past that a request waits for an instance), as Lambda runs concurrent instances."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from recoup.integrations.payloads import MAX_BODY_BYTES
from recoup_local.lambdas import LocalLambdas

MAX_BODY = MAX_BODY_BYTES  # what Lambda takes; a large Shopify order is about 1 MB
log = logging.getLogger("recoup_local.front")


def make_server(
    lambdas: LocalLambdas, host: str = "127.0.0.1", port: int = 3000
) -> ThreadingHTTPServer:
    class Front(BaseHTTPRequestHandler):
        server_version = "recoup-local"

        def do_POST(self) -> None:
            self._handle("POST")

        def do_GET(self) -> None:
            self._handle("GET")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

        def _handle(self, method: str) -> None:
            # Every request gets an answer: a crash in a handler is a 500, as API Gateway
            # gives when a function fails, never a dropped connection.
            try:
                self._serve(method)
            except Exception as exc:  # noqa: BLE001 - answered, and logged without the body
                log.error(
                    "Request failed: %s %s: %s",
                    method,
                    self.path.split("?", 1)[0],
                    type(exc).__name__,
                )
                self._send(500, {"error": "internal_error", "message": "the function failed"})

        def _serve(self, method: str) -> None:
            given = self.headers.get("Content-Length") or "0"
            length = int(given) if given.isdigit() and len(given) <= 12 else -1
            if length < 0:
                self._send(400, {"error": "bad_request", "message": "bad Content-Length"})
                return
            if length > MAX_BODY:
                message = f"body over {MAX_BODY} bytes"
                self._send(413, {"error": "payload_too_large", "message": message})
                return
            body = self.rfile.read(length)
            path = self.path.split("?", 1)[0]
            # On a free instance of the function (LocalLambdas' pools), concurrently with
            # other requests.
            result = lambdas.invoke_http(method, self.path, dict(self.headers.items()), body)
            if result is None:
                self._send(404, {"error": "not_found", "message": f"no route {method} {path}"})
                return
            self.send_response(int(result.get("statusCode", 200)))
            for key, value in (result.get("headers") or {}).items():
                self.send_header(key, str(value))
            for cookie in result.get("cookies") or []:  # HTTP API's Set-Cookie field
                self.send_header("Set-Cookie", str(cookie))
            payload = (result.get("body") or "").encode()
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return  # the handlers log in JSON already

    return _Server((host, port), Front)


class _Server(ThreadingHTTPServer):
    # Connections waiting to be accepted: the default of 5 refuses a burst of concurrent
    # clients (they retry after a second), which a load test or a webhook burst would hit.
    request_queue_size = 128
    daemon_threads = True


class Poller(threading.Thread):
    """Drives the queue consumers continuously, as Lambda's event source mappings do, and
    fires the scheduled functions every `schedule_every` seconds, as EventBridge does."""

    def __init__(
        self, lambdas: LocalLambdas, interval: float = 0.2, schedule_every: float = 300
    ) -> None:
        super().__init__(daemon=True, name="sqs-poller")
        self.lambdas = lambdas
        self.interval = interval
        self.schedule_every = schedule_every
        self.stopped = threading.Event()

    def run(self) -> None:
        next_schedule = time.monotonic()
        while not self.stopped.is_set():
            if time.monotonic() >= next_schedule:
                self.lambdas.run_schedules(datetime.now(tz=UTC))
                next_schedule = time.monotonic() + self.schedule_every
            if self.lambdas.poll_once() == 0:
                self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)
