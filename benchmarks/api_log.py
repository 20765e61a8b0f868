"""A record of every AWS API call, with what each one touched: for the call-count benchmarks.

It wraps `botocore.client.BaseClient._make_api_call` (the one path boto3 clients, PynamoDB's
connection and Powertools' providers all take) and attributes each call to the function whose
handler was running (None: the harness itself), and to the event source the caller set, if
any (`aws_calls` sets it while the worker applies an event). It also keeps a short
description of the item or index a DynamoDB call touched ("case", "shop", "fraud policy",
"velocity counters", "due index"), read from the request's keys, and the Count and
ScannedCount a Query or Scan answered, so the reports can say which reads are above the
minimum, not only how many.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from botocore.client import BaseClient


@dataclass(frozen=True)
class ApiCall:
    phase: str
    function: str | None  # logical id of the function whose handler made it; None: harness
    operation: str  # "dynamodb.Query"
    target: str  # what it touched: "case", "shop", "fraud policy", ... ("" for none)
    count: int | None = None  # Query/Scan: items returned
    scanned: int | None = None  # Query/Scan: items read (ScannedCount)
    source: str | None = None  # the event's source while the worker applied it, if set

    @property
    def label(self) -> str:
        return f"{self.operation} ({self.target})" if self.target else self.operation


@dataclass
class ApiLog:
    calls: list[ApiCall] = field(default_factory=list)
    phase: str = "setup"
    function: str | None = None
    source: str | None = None

    @contextmanager
    def recording(self) -> Iterator[None]:
        # Private and undeclared in botocore's stubs, but the one path every call takes.
        original: Callable[..., Any] = BaseClient._make_api_call  # type: ignore[attr-defined]
        log = self

        def counting(client: BaseClient, operation_name: str, api_params: Any) -> Any:
            service = client.meta.service_model.service_name
            operation = f"{service}.{operation_name}"
            phase, function, source = log.phase, log.function, log.source
            response: Any = None
            try:
                response = original(client, operation_name, api_params)
                return response
            finally:
                counts = response if isinstance(response, Mapping) else {}
                log.calls.append(
                    ApiCall(
                        phase,
                        function,
                        operation,
                        target(operation, api_params),
                        _int(counts.get("Count")),
                        _int(counts.get("ScannedCount")),
                        source,
                    )
                )

        with mock.patch.object(BaseClient, "_make_api_call", counting):
            yield

    def attributed(
        self, logical_id: str, handler: Callable[[dict[str, Any], Any], Any]
    ) -> Callable[[dict[str, Any], Any], Any]:
        def run(event: dict[str, Any], context: Any) -> Any:
            self.function = logical_id
            try:
                return handler(event, context)
            finally:
                self.function = None

        return run

    def made(self, *, phase: str | None = None, function: str | None = None) -> list[ApiCall]:
        """The calls the functions made (never the harness's), optionally of one phase or
        one function."""
        return [
            call
            for call in self.calls
            if call.function is not None
            and (phase is None or call.phase == phase)
            and (function is None or call.function == function)
        ]


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) else None


# ---------------------------------------------------------------- what a call touched
def _string(value: Any) -> str:
    if isinstance(value, Mapping):
        inner = value.get("S")
        return inner if isinstance(inner, str) else ""
    return ""


# A shop's policies by kind (store/policies.py: `POLICY#<KIND>`).
_POLICIES = {"REMINDERS": "reminder policy", "FRAUD": "fraud policy", "REFERRAL": "referral policy"}


def _item_kind(key: Mapping[str, Any]) -> str:
    """The table's item types, by key (store/models.py's layout)."""
    pk, sk = _string(key.get("pk")), _string(key.get("sk"))
    if pk.startswith("STRIPEACCT#"):
        return "stripe account"
    if pk == "GLOBAL" and sk.startswith("CONTACT#"):
        return "global contact"
    if pk == "SCHEDULER":
        return "scheduler cursors"  # store/due_cursors.py
    if sk.startswith("POLICY#"):
        return _POLICIES.get(sk.removeprefix("POLICY#"), "policy")
    if pk.startswith("CASE#"):  # a case's own partition: the case, its page link, its trail
        return {"CASE": "case", "PAGE": "page link"}.get(sk, "audit entry")
    if pk.startswith("PAGE#"):  # which case a page link id opens (store/case_pages.py)
        return "page link id"
    if pk.startswith("XREF#"):
        return "cross reference"
    if pk.startswith("VEL#"):  # failed payments of an email, card or IP in one hour
        return "velocity counter"  # (store/velocity.py)
    if pk.startswith("ADDR#"):  # customers seen at a shipping address in one week
        return "address bucket"
    if pk.startswith("ROLLUP#"):  # the shop's figures for a day and currency, one shard
        return "rollup"  # (store/rollups.py)
    if pk.startswith("WHO#"):  # a case naming one identity of its customer
        return "customer link"  # (store/customer_links.py)
    if pk.startswith("DELIVERY#"):  # a provider's message id: its case and step
        return "delivery"
    if pk.startswith("MSG#"):  # one customer's messages from a shop, the last 7 days
        return "message log"  # (store/contacts.py)
    prefixes = {
        "CONTACT#": "contact",
        "MSG#": "message entry",  # an earlier version's message log, in SHOP#
        "VEL#": "velocity mark",  # an earlier version's failed payment, in SHOP#
        "ADDR#": "address mark",  # an earlier version's customer at an address, in SHOP#
    }
    for prefix, kind in prefixes.items():
        if sk.startswith(prefix):
            return kind
    if sk == "META":
        return "shop"
    return "other item"


def _kinds(keys: list[Mapping[str, Any]]) -> str:
    return " + ".join(sorted(set(map(_item_kind, keys)))) or "nothing"


# The worker's and the sender's one read of a case with the shop's policies
# (store/case_reads.py): one BatchGetItem of the case and one or more policies.
CASE_WITH_POLICIES = "case with policies"


def _batch_read(keys: list[Mapping[str, Any]]) -> str:
    kinds = set(map(_item_kind, keys))
    policies = {k for k in kinds if k.endswith("policy")}
    if "case" in kinds and policies and kinds - {"shop", "page link"} == {"case"} | policies:
        # The shop's item comes along when the container holds no copy of it; the sender's
        # read takes the case's page link too.
        shop = " and the shop" if "shop" in kinds else ""
        link = " and the page link" if "page link" in kinds else ""
        return f"{CASE_WITH_POLICIES} ({', '.join(sorted(policies))}){shop}{link}"
    return _kinds(keys)


def target(operation: str, params: Any) -> str:
    """A few words on what a DynamoDB call touched, from its request; "" otherwise."""
    if not operation.startswith("dynamodb.") or not isinstance(params, Mapping):
        return ""
    name = operation.split(".", 1)[1]
    if name in ("GetItem", "UpdateItem", "DeleteItem"):
        return _item_kind(params.get("Key") or {})
    if name == "PutItem":
        return _item_kind(params.get("Item") or {})
    if name == "BatchGetItem":
        keys = [
            key
            for request in (params.get("RequestItems") or {}).values()
            for key in request.get("Keys", [])
        ]
        return _batch_read(keys)
    if name == "BatchWriteItem":
        items = [
            (request.get("PutRequest") or {}).get("Item")
            or (request.get("DeleteRequest") or {}).get("Key")
            or {}
            for requests in (params.get("RequestItems") or {}).values()
            for request in requests
        ]
        return _kinds(items)
    if name == "TransactWriteItems":
        keys = []
        for entry in params.get("TransactItems") or []:
            for action in entry.values():
                keys.append(action.get("Item") or action.get("Key") or {})
        return _kinds(keys)
    if name in ("Query", "Scan"):
        index = params.get("IndexName")
        if index:
            return f"{index} index"
        values = params.get("ExpressionAttributeValues") or {}
        if any(_string(v).startswith("CASE#") for v in values.values()) and any(
            _string(v).startswith("AUDIT#") for v in values.values()
        ):
            return "audit trail"
        # Velocity in an identity's own partition, or an earlier version's marks in SHOP#.
        marks = any(_string(v).startswith("SHOP#") for v in values.values())
        for value in values.values():
            text = _string(value)
            for prefix, kind in (
                ("MSG#", "message log"),
                ("AUDIT#", "audit trail"),
                ("VEL#", "velocity marks" if marks else "velocity counters"),
                ("ADDR#", "address marks" if marks else "address buckets"),
            ):
                if text.startswith(prefix):
                    return kind
            if text.startswith("CASE#"):
                return "cases"
        return "table"
    return ""
