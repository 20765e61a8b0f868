"""Signed, expiring links: the unsubscribe link of every email (RFC 8058 one-click).

A token names the shop and the hash of the address (never the address itself), and expires;
it is an HMAC-SHA256 under the link secret, checked in constant time.
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
    try:
        payload_text, mac_text = token.split(".", 1)
        payload, mac = _unb64(payload_text), _unb64(mac_text)
    except (ValueError, TypeError):
        raise InvalidLink("the link is malformed") from None
    if not any(
        hmac.compare_digest(hmac.new(s.encode(), payload, hashlib.sha256).digest(), mac)
        for s in secrets
    ):
        raise InvalidLink("the link's signature does not match")
    data = json.loads(payload)
    expires = datetime.fromtimestamp(int(data["e"]), tz=now.tzinfo)
    if expires < now:
        raise InvalidLink("the link has expired")
    return Unsubscribe(shop=str(data["s"]), contact=str(data["c"]), expires=expires)
