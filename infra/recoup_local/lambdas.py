"""Run the functions in-process the way Lambda would: API Gateway HTTP API (v2) events for
routes, SQS batches for queues (partial batch failures, redrive), a Lambda context.

Concurrency, as Lambda has it: each function has a pool of instances (its `app` module
imported once per instance, so what a handler keeps between invocations, its Powertools
resolver with the current event above all, belongs to one instance). An instance serves one
invocation at a time; when every instance of a function is busy, the next invocation loads a
new one (a cold start), up to `RECOUP_LOCAL_INSTANCES` per function (default 4); past that it
waits for one to be free (where Lambda, at its concurrency limit, would throttle). Different
functions, and concurrent invocations of one function, run in parallel threads.

What the instances still share, unlike Lambda's separate processes: the `recoup` layer's
module state (settings, clients and the shop cache, all safe to share: caches filled twice in
a race keep one value, boto3 clients are thread-safe, client creation is serialised by
`moto_patches`), Powertools' HTTP resolvers' current event (kept on their router class, one
per process: `powertools_patches` makes it one per thread), Powertools' logger (the keys of
one invocation's context can show in a
concurrent one's lines) and metric set (concurrent invocations add to one set, flushed by
whichever ends first; `recoup serve` runs with metrics disabled), and moto, which serves one
AWS call at a time (`moto_patches`).
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
import itertools
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl

import boto3

from recoup import settings
from recoup_local.provision import ACCOUNT, FunctionSpec, Stack

Handler = Callable[[dict[str, Any], Any], Any]
INSTANCES_VARIABLE = "RECOUP_LOCAL_INSTANCES"
DEFAULT_INSTANCES = 4


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 512
    timeout_seconds: int = 30

    def __post_init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{self.function_name}"
        )
        self.function_version = "$LATEST"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_counter = itertools.count()


def load_handler(spec: FunctionSpec) -> Handler:
    """Import functions/<name>/app.py under a unique module name, as its own Lambda would."""
    module_name, _, attr = spec.handler.rpartition(".")
    path = spec.code_dir / f"{module_name.replace('.', '/')}.py"
    unique = f"recoup_fn_{spec.logical_id}_{next(_counter)}"
    module_spec = importlib.util.spec_from_file_location(unique, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module: ModuleType = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    handler: Handler = getattr(module, attr)
    return handler


def instance_limit() -> int:
    """Instances per function (RECOUP_LOCAL_INSTANCES, at least 1; default 4)."""
    given = os.environ.get(INSTANCES_VARIABLE, "")
    return max(1, int(given)) if given.isdigit() else DEFAULT_INSTANCES


class InstancePool:
    """The instances of one function. The first is `first()` (the instance LocalLambdas
    loaded at start, looked up at each use, so a test that wraps `handlers[name]` wraps it);
    the others are loaded when every instance is busy, up to `limit`. The most recently
    freed instance is used first (warm, as Lambda prefers)."""

    def __init__(self, spec: FunctionSpec, first: Callable[[], Handler], limit: int) -> None:
        self.spec = spec
        self.limit = limit
        self._first = first
        self._more: dict[int, Handler] = {}  # instances 1.. (0 is `first()`)
        self._idle = [0]
        self._loaded = 1  # loaded or loading
        self._next = 1
        self._free = threading.Condition()
        self.peak = 1  # the most instances busy at once

    @property
    def loaded(self) -> int:
        return self._loaded

    @contextmanager
    def instance(self) -> Iterator[Handler]:
        with self._free:
            while not self._idle and self._loaded >= self.limit:
                self._free.wait()
            if self._idle:
                index, cold = self._idle.pop(), False
            else:
                index, cold = self._next, True
                self._next += 1
                self._loaded += 1
            self.peak = max(self.peak, self._loaded - len(self._idle))
        if cold:  # outside the lock: the other instances keep serving meanwhile
            try:
                self._more[index] = load_handler(self.spec)
            except BaseException:
                with self._free:
                    self._loaded -= 1
                    self._free.notify()
                raise
        try:
            yield self._first() if index == 0 else self._more[index]
        finally:
            with self._free:
                self._idle.append(index)
                self._free.notify()


def http_event(
    method: str, path: str, headers: Mapping[str, str], body: bytes, query: str = ""
) -> dict[str, Any]:
    """The payload format 2.0 event HTTP API sends a Lambda integration."""
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    merged: dict[str, str] = {}
    for key, value in headers.items():
        lower = key.lower()
        merged[lower] = f"{merged[lower]},{value}" if lower in merged else value
    # HTTP API moves the Cookie header to a field of its own, one entry per cookie.
    cookies = [c.strip() for c in re.split(r"[;,]", merged.pop("cookie", "")) if c.strip()]
    now = datetime.now(tz=UTC)
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        **({"queryStringParameters": dict(parse_qsl(query))} if query else {}),
        "headers": merged,
        **({"cookies": cookies} if cookies else {}),
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


class LocalLambdas:
    """The stack's functions, loaded once, with the environment template.yaml gives them."""

    def __init__(self, stack: Stack, overrides: Mapping[str, str]) -> None:
        self.stack = stack
        env: dict[str, str] = {}
        for spec in stack.functions:
            env.update(spec.environment)
        env.update(overrides)
        os.environ.update(env)
        reset_caches()
        self.handlers = {spec.logical_id: load_handler(spec) for spec in stack.functions}
        limit = instance_limit()
        self.pools = {
            spec.logical_id: InstancePool(spec, self._first_instance(spec.logical_id), limit)
            for spec in stack.functions
        }
        self.routes = {
            (route.method, route.path): spec.logical_id
            for spec in stack.functions
            for route in spec.routes
        }

    def _first_instance(self, logical_id: str) -> Callable[[], Handler]:
        return lambda: self.handlers[logical_id]

    def call(self, logical_id: str, event: dict[str, Any], context: Any = None) -> Any:
        """Invoke the function on a free instance (see the module docstring). The settings
        it reads are checked against its own declaration, as in its own Lambda: here every
        function's variables are in the one environment."""
        pool = self.pools[logical_id]
        with pool.instance() as handler, settings.invocation(pool.spec.code_dir.name):
            return handler(event, context or LambdaContext(logical_id))

    def route(self, method: str, path: str) -> str | None:
        """The function a request goes to, as HTTP API picks it: an exact route first, then
        one with `{name}` path parameters (each one whole segment), then the most specific
        `{proxy+}` route; an `ANY` route takes every method."""
        for wanted in (method, "ANY"):
            if (wanted, path) in self.routes:
                return self.routes[(wanted, path)]
        for (route_method, template), logical_id in self.routes.items():
            if route_method in (method, "ANY") and _matches_segments(template, path):
                return logical_id
        greedy = [
            (len(template), logical_id)
            for (route_method, template), logical_id in self.routes.items()
            if route_method in (method, "ANY")
            and template.endswith("/{proxy+}")
            and path.startswith(template.removesuffix("{proxy+}"))
            and len(path) > len(template.removesuffix("{proxy+}"))
        ]
        return max(greedy)[1] if greedy else None

    def invoke_http(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any] | None:
        path, _, query = path.partition("?")
        logical_id = self.route(method.upper(), path)
        if logical_id is None:
            return None
        event = http_event(method.upper(), path, headers, body, query)
        result: dict[str, Any] = self.call(logical_id, event)
        return result

    def poll_once(self, wait_seconds: int = 0) -> int:
        """One receive per queue mapping, like an event source mapping's poll; returns how
        many records were handed to a function."""
        handed = 0
        sqs = boto3.client("sqs", region_name=self.stack.region)
        for spec in self.stack.functions:
            for arn in spec.queue_arns:
                url = self.stack.queue_urls_by_arn[arn]
                messages = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=spec.batch_size,
                    WaitTimeSeconds=wait_seconds,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                if not messages:
                    continue
                handed += len(messages)
                self._deliver(spec, arn, url, [dict(m) for m in messages], sqs)
        return handed

    def _deliver(
        self, spec: FunctionSpec, arn: str, url: str, messages: list[dict[str, Any]], sqs: Any
    ) -> None:
        records = [_sqs_record(m, arn, self.stack.region) for m in messages]
        try:
            response = self.call(spec.logical_id, {"Records": records})
            failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
        except Exception:  # noqa: BLE001 - Lambda treats a crash as the whole batch failing
            failed = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] in failed:
                # Visible again at once (Lambda would wait out the visibility timeout); the
                # queue's redrive policy moves it to the DLQ after maxReceiveCount receives.
                sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def publish(self, topic_arn: str, message: dict[str, Any] | str) -> int:
        """Deliver an SNS notification to the functions subscribed to the topic, as SNS
        would (moto's server cannot call a Lambda); returns how many were called."""
        body = message if isinstance(message, str) else json.dumps(message)
        event = {
            "Records": [
                {
                    "EventSource": "aws:sns",
                    "EventVersion": "1.0",
                    "EventSubscriptionArn": f"{topic_arn}:{uuid.uuid4()}",
                    "Sns": {
                        "Type": "Notification",
                        "MessageId": str(uuid.uuid4()),
                        "TopicArn": topic_arn,
                        "Subject": None,
                        "Message": body,
                        "Timestamp": datetime.now(tz=UTC).isoformat(),
                        "MessageAttributes": {},
                    },
                }
            ]
        }
        called = 0
        for spec in self.stack.functions:
            if topic_arn in spec.topic_arns:
                self.call(spec.logical_id, event)
                called += 1
        return called

    def deliver_logs(self, log_group: str, messages: list[str]) -> int:
        """Hand log records to the functions subscribed to the group, as a CloudWatch Logs
        subscription does (base64 of gzip of the JSON batch); returns how many were called."""
        now_ms = int(datetime.now(tz=UTC).timestamp() * 1000)
        batch = {
            "messageType": "DATA_MESSAGE",
            "owner": ACCOUNT,
            "logGroup": log_group,
            "logStream": "local",
            "subscriptionFilters": [f"{spec.logical_id}-local" for spec in self.stack.functions],
            "logEvents": [
                {"id": str(uuid.uuid4()), "timestamp": now_ms, "message": message}
                for message in messages
            ],
        }
        data = base64.b64encode(gzip.compress(json.dumps(batch).encode())).decode()
        called = 0
        for spec in self.stack.functions:
            if log_group in spec.log_groups:
                self.call(spec.logical_id, {"awslogs": {"data": data}})
                called += 1
        return called

    def run_schedules(self, at: datetime) -> int:
        """Fire every scheduled function once, with the EventBridge event of time `at`."""
        called = 0
        for spec in self.stack.functions:
            for expression in spec.schedules:
                event = {
                    "version": "0",
                    "id": str(uuid.uuid4()),
                    "detail-type": "Scheduled Event",
                    "source": "aws.events",
                    "account": ACCOUNT,
                    "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "region": self.stack.region,
                    "resources": [f"local-schedule:{expression}"],
                    "detail": {},
                }
                context = LambdaContext(spec.logical_id, timeout_seconds=spec.timeout)
                self.call(spec.logical_id, event, context)
                called += 1
        return called

    def redrive(self, dead_letter_queue: str, queue: str) -> int:
        """Move every message of a DLQ back to its queue (what the console's "Start DLQ
        redrive" does); returns how many were moved."""
        sqs = boto3.client("sqs", region_name=self.stack.region)
        source, target = self.stack.refs[dead_letter_queue], self.stack.refs[queue]
        moved = 0
        while messages := sqs.receive_message(
            QueueUrl=source, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", []):
            for message in messages:
                # A redrive keeps the message attributes (the correlation id among them).
                attributes = message.get("MessageAttributes")
                if attributes:
                    sqs.send_message(
                        QueueUrl=target, MessageBody=message["Body"], MessageAttributes=attributes
                    )
                else:
                    sqs.send_message(QueueUrl=target, MessageBody=message["Body"])
                sqs.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])
                moved += 1
        return moved

    def drain(self, max_rounds: int = 200) -> None:
        """Poll until every mapped queue is empty (failing records end in their DLQ)."""
        idle = 0
        for _ in range(max_rounds):
            if self.poll_once() == 0:
                idle += 1
                if idle >= 2:
                    return
            else:
                idle = 0


def _sqs_record(message: dict[str, Any], arn: str, region: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: _event_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    }


def _event_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """A message attribute as the Lambda event has it (camelCase keys), not as ReceiveMessage
    answers (StringValue, DataType)."""
    attribute: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


def reset_caches() -> None:
    """Settings and clients are cached per process, as in a Lambda container; a new local
    stack in the same process must start from its own environment."""
    from recoup import aws, settings
    from recoup.store import bind, shops

    settings.get_settings.cache_clear()
    shops.forget()
    aws.reset()
    bind.unbind()


def _matches_segments(template: str, path: str) -> bool:
    """Whether `path` fits a route whose `{name}` segments each take one non-empty segment."""
    if "{" not in template or template.endswith("{proxy+}"):
        return False
    wanted, given = template.split("/"), path.split("/")
    return len(wanted) == len(given) and all(
        (w.startswith("{") and w.endswith("}") and g) or w == g
        for w, g in zip(wanted, given, strict=True)
    )
