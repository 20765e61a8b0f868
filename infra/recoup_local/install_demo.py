"""The demo's install, as a merchant's would go: the shop opens the embedded app (its session
token is exchanged for an expiring offline token: Shopify-managed installation, no OAuth
redirect; the shop's identity is read from the shop query), sets where replies go, and
connects its Stripe account through Connect OAuth (the stand-in's authorize page approves at
once). Every step goes over HTTP through the local front, as the browser's would."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from recoup_local import session_tokens
from recoup_local.stack import LocalStack


@dataclass(frozen=True, slots=True)
class Installed:
    shop_name: str
    contact_email: str
    reply_to: str
    timezone: str
    stripe_account: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def install(local: LocalStack, front: str, shop: str, *, reply_to: str) -> Installed:
    def admin(method: str, path: str, body: Any = None) -> dict[str, Any]:
        token = session_tokens.mint(
            shop, api_key=local.shopify_api_key, secret=local.shopify_secret
        )
        status, answer = _request(
            method, f"{front}/admin/api{path}", {"Authorization": f"Bearer {token}"}, body
        )
        if status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {status} {answer}")
        return dict(json.loads(answer))

    admin("GET", "/onboarding")  # the first visit: token exchange installs the shop
    sender = admin("PUT", "/settings/sender", {"reply_to": reply_to})
    authorize = admin("POST", "/stripe/connect")["url"]
    status, location = _request("GET", authorize, {}, None)  # Stripe's page: approved
    if status != 302:
        raise RuntimeError(f"Stripe's authorize page answered {status}")
    callback = urlsplit(location)
    status, page = _request("GET", f"{front}{callback.path}?{callback.query}", {}, None)
    if status >= 400:
        raise RuntimeError(f"the Connect callback answered {status}: {page[:200]}")
    stripe = admin("GET", "/stripe")
    return Installed(
        shop_name=sender["shop_name"],
        contact_email=sender["contact_email"],
        reply_to=sender["replies_go_to"],
        timezone=sender["timezone"],
        stripe_account=stripe["account"],
    )


def _request(method: str, url: str, headers: dict[str, str], body: Any) -> tuple[int, str]:
    """(status, body) or, for a redirect, (status, its Location)."""
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers = {**headers, "Content-Type": "application/json"}
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        if 300 <= error.code < 400:
            return error.code, error.headers.get("Location", "")
        return error.code, error.read().decode()
