"""Signed, expiring links: the unsubscribe link of every email (RFC 8058 one-click), and the
pay link of every reminder.

An unsubscribe token names the shop and the hash of the address (never the address itself);
a pay token names the shop and the case. Each expires, and is an HMAC-SHA256 under the link
secret, checked in constant time; a pay token's MAC covers a purpose prefix too, so one kind
of token never passes for the other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

UNSUBSCRIBE_LIFETIME = timedelta(days=90)
# Long enough for a customer who opens the first reminder weeks later; the page re-reads the
# case on every click, so a paid, cancelled or referred case answers with a page, not a payment.
PAY_LIFETIME = timedelta(days=180)
_PAY_CONTEXT = b"recoup-pay\n"
# The token of the links in previews and test messages (no case, no address): their pages say
# so instead of acting. No signed token can equal it (those hold a "." between two parts).
SAMPLE_TOKEN = "sample"  # noqa: S105 (a placeholder, not a secret)


class InvalidLink(ValueError):
    """The token was forged, changed or has expired."""


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    shop: str
    contact: str  # recoup.store.contacts.contact_hash of the address
    expires: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_unsubscribe(shop: str, contact: str, *, now: datetime, secret: str) -> str:
    payload = json.dumps(
        {"s": shop, "c": contact, "e": int((now + UNSUBSCRIBE_LIFETIME).timestamp())},
        separators=(",", ":"),
    ).encode()
    mac = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url}/unsubscribe?t={quote(token)}"


def verify_unsubscribe(token: str, *, now: datetime, secrets: Iterable[str]) -> Unsubscribe:
    data, expires = _verified(token, b"", now, secrets)
    return Unsubscribe(shop=str(data["s"]), contact=str(data["c"]), expires=expires)


def _verified(
    token: str, context: bytes, now: datetime, secrets: Iterable[str]
) -> tuple[dict[str, object], datetime]:
    """The token's payload and expiry, once its MAC (over `context` + payload) matches one of
    the secrets and it has not expired."""
    try:
        payload_text, mac_text = token.split(".", 1)
        payload, mac = _unb64(payload_text), _unb64(mac_text)
    except (ValueError, TypeError):
        raise InvalidLink("the link is malformed") from None
    if not any(
        hmac.compare_digest(hmac.new(s.encode(), context + payload, hashlib.sha256).digest(), mac)
        for s in secrets
    ):
        raise InvalidLink("the link's signature does not match")
    data = json.loads(payload)
    expires = datetime.fromtimestamp(int(data["e"]), tz=now.tzinfo)
    if expires < now:
        raise InvalidLink("the link has expired")
    return data, expires


@dataclass(frozen=True, slots=True)
class PayLink:
    shop: str
    case_id: str
    expires: datetime


def sign_pay(shop: str, case_id: str, *, now: datetime, secret: str) -> str:
    payload = json.dumps(
        {"s": shop, "c": case_id, "e": int((now + PAY_LIFETIME).timestamp())},
        separators=(",", ":"),
    ).encode()
    mac = hmac.new(secret.encode(), _PAY_CONTEXT + payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def pay_url(base_url: str, token: str) -> str:
    return f"{base_url}/pay/{quote(token)}"


def verify_pay(token: str, *, now: datetime, secrets: Iterable[str]) -> PayLink:
    data, expires = _verified(token, _PAY_CONTEXT, now, secrets)
    return PayLink(shop=str(data["s"]), case_id=str(data["c"]), expires=expires)
