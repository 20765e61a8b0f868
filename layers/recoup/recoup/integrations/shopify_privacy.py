"""Shopify's mandatory privacy webhooks and the shop's own lifecycle (app/uninstalled,
shop/update): check a verified delivery's body and carry what is needed of it as a job for
the privacy worker.

customers/data_request, customers/redact and shop/redact are the compliance topics every
App Store app must handle (https://shopify.dev/docs/apps/build/compliance/privacy-law-compliance).
Their bodies name the shop again (`shop_domain`); it must be the shop the signed headers name,
so a delivery for one shop can never act on another's data.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recoup.domain.erasure import Subject
from recoup.errors import MalformedWebhook
from recoup.integrations.payloads import (
    LIMITS,
    MAX_PLATFORM_ID,
    bounded_list,
    optional_str,
    parse_json_object,
    require,
)

if TYPE_CHECKING:  # the webhook function's; the queue and the privacy worker only carry jobs
    from recoup.integrations.shopify import Delivery

DATA_REQUEST = "customers/data_request"
CUSTOMER_REDACT = "customers/redact"
SHOP_REDACT = "shop/redact"
APP_UNINSTALLED = "app/uninstalled"
SHOP_UPDATE = "shop/update"
# Not a Shopify topic: Stripe's account.application.deauthorized, a job for the same worker
# (the webhook function cannot write the table): {"account": "acct_..."}, no shop yet.
STRIPE_DEAUTHORIZED = "stripe/account.application.deauthorized"
PRIVACY_TOPICS = frozenset(
    {DATA_REQUEST, CUSTOMER_REDACT, SHOP_REDACT, APP_UNINSTALLED, SHOP_UPDATE}
)
# What a shop/update body's shop resource gives the shop's identity, with each field's limit.
SHOP_FIELDS = {
    "name": "name",
    "customer_email": "email",
    "email": "email",
    "iana_timezone": "locale",
    "currency": "status",
    "country_code": "country",
    "primary_locale": "locale",
    "domain": "url",
    "updated_at": "status",
}
_STRIPE_ACCOUNT = re.compile(r"acct_[A-Za-z0-9]{1,100}")
# The key holding the order ids each customer topic is about.
_ORDERS_KEY = {DATA_REQUEST: "orders_requested", CUSTOMER_REDACT: "orders_to_redact"}


@dataclass(frozen=True, slots=True)
class CustomerRef:
    """The customer a request is about, as Shopify names them (ids as exact strings)."""

    customer_id: str
    email: str | None
    phone: str | None


@dataclass(frozen=True, slots=True)
class PrivacyJob:
    """One checked delivery: `kind` is the topic, `payload` the parsed body."""

    kind: str
    shop: str
    webhook_id: str
    payload: dict[str, Any]

    @property
    def customer(self) -> CustomerRef:
        customer = self.payload["customer"]
        return CustomerRef(
            customer_id=str(customer["id"]),
            email=optional_str(customer, "email"),
            phone=optional_str(customer, "phone"),
        )

    @property
    def order_ids(self) -> tuple[str, ...]:
        key = _ORDERS_KEY.get(self.kind)
        return tuple(str(i) for i in self.payload.get(key) or ()) if key else ()

    @property
    def subject(self) -> Subject:
        """Whom a customers/* request is about, for matching cases."""
        customer = self.customer
        return Subject(
            customer.customer_id, customer.email, customer.phone, frozenset(self.order_ids)
        )

    @property
    def data_request_id(self) -> str:
        return str(self.payload["data_request"]["id"])

    def to_json(self) -> str:
        body = {
            "kind": self.kind,
            "shop": self.shop,
            "webhook_id": self.webhook_id,
            "payload": self.payload,
        }
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_json(cls, body: str) -> PrivacyJob:
        """A queued job, checked again: the worker never acts on a body it cannot read."""
        data = parse_json_object(body.encode())
        kind = require(data, "kind", str, "job.")
        shop = require(data, "shop", str, "job.")
        payload = require(data, "payload", dict, "job.")
        check_payload(kind, shop, payload)
        return cls(kind, shop, str(data.get("webhook_id") or ""), payload)


def read_job(delivery: Delivery, raw_body: bytes) -> PrivacyJob:
    """The job a verified privacy delivery means; MalformedWebhook names what is wrong."""
    payload = parse_json_object(raw_body)
    check_payload(delivery.topic, delivery.shop, payload)
    return PrivacyJob(
        delivery.topic, delivery.shop, delivery.webhook_id, _needed(delivery.topic, payload)
    )


# What the privacy worker reads of a body. Only these are queued: a signed body may carry
# megabytes of other fields, which would not fit an SQS message (256 KiB) and are not needed.
_KEPT = ("shop_domain", "myshopify_domain", *_ORDERS_KEY.values())
_KEPT_CUSTOMER = ("id", "email", "phone")


def _needed(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    kept = {key: payload[key] for key in _KEPT if key in payload}
    if kind == SHOP_UPDATE:
        kept |= {key: payload[key] for key in SHOP_FIELDS if payload.get(key) is not None}
    if _is_positive_int(payload.get("shop_id")):
        kept["shop_id"] = payload["shop_id"]
    customer = payload.get("customer")
    if isinstance(customer, dict):
        kept["customer"] = {key: customer[key] for key in _KEPT_CUSTOMER if key in customer}
    request = payload.get("data_request")
    if isinstance(request, dict):
        kept["data_request"] = {"id": request.get("id")}
    return kept


def check_payload(kind: str, shop: str, payload: dict[str, Any]) -> None:
    if kind == STRIPE_DEAUTHORIZED:
        account = payload.get("account")
        if not isinstance(account, str) or not _STRIPE_ACCOUNT.fullmatch(account):
            raise MalformedWebhook("account must be a Stripe account id (acct_...)")
        return
    if kind not in PRIVACY_TOPICS:
        raise MalformedWebhook(f"{kind!r} is not a privacy topic")
    if kind in (APP_UNINSTALLED, SHOP_UPDATE):
        # The body is the shop resource. The signed header already names the shop, so a body
        # without myshopify_domain is accepted: refusing it would leave the shop active.
        domain = payload.get("myshopify_domain")
        if domain is not None:
            _same_shop("myshopify_domain", domain, shop)
        for key, limit in SHOP_FIELDS.items() if kind == SHOP_UPDATE else ():
            optional_str(payload, key, limit)  # text within its bound, or a 400 naming it
        return
    _same_shop("shop_domain", require(payload, "shop_domain", str, ""), shop)
    if kind == SHOP_REDACT:
        return
    customer = require(payload, "customer", dict, "")
    _positive_id(customer, "id", "customer.")
    for key in ("email", "phone"):
        if customer.get(key) is not None and not isinstance(customer[key], str):
            raise MalformedWebhook(f"customer.{key} must be text")
        if len(customer.get(key) or "") > LIMITS[key]:
            raise MalformedWebhook(f"customer.{key} is longer than {LIMITS[key]} characters")
    key = _ORDERS_KEY[kind]
    for index, order_id in enumerate(bounded_list(payload.get(key), key)):
        if not _is_positive_int(order_id):
            raise MalformedWebhook(f"{key}[{index}] must be a positive integer order id")
    if kind == DATA_REQUEST:
        _positive_id(require(payload, "data_request", dict, ""), "id", "data_request.")


def _same_shop(field: str, value: Any, shop: str) -> None:
    if not isinstance(value, str) or value.strip().lower() != shop:
        shown = repr(value)[:120]
        raise MalformedWebhook(f"{field} {shown} does not match X-Shopify-Shop-Domain {shop!r}")


def _positive_id(data: dict[str, Any], key: str, where: str) -> None:
    value = data.get(key)
    if value is None:
        raise MalformedWebhook(f"{where}{key} is missing")
    if not _is_positive_int(value):
        raise MalformedWebhook(f"{where}{key} must be a positive integer")


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_PLATFORM_ID


__all__ = [
    "APP_UNINSTALLED",
    "CUSTOMER_REDACT",
    "DATA_REQUEST",
    "PRIVACY_TOPICS",
    "SHOP_FIELDS",
    "SHOP_REDACT",
    "SHOP_UPDATE",
    "STRIPE_DEAUTHORIZED",
    "CustomerRef",
    "PrivacyJob",
    "check_payload",
    "read_job",
]
