"""The embedded page's files: `index.html` with App Bridge when Shopify embeds it, and the
scripts and styles beside it, served from a fixed list (no path ever reaches the disk).

Inside the Shopify admin the page is loaded with `?shop=...&host=...`; then it carries App
Bridge's script tag (which Shopify requires and which provides `shopify.idToken()`). Opened
directly (the local stack), it does without, and takes its token from the URL fragment.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

APP_BRIDGE = "https://cdn.shopify.com/shopifycloud/app-bridge.js"
APP_BRIDGE_SLOT = "<!-- app-bridge -->"
ASSET_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_SHOP = re.compile(r"[a-z0-9][a-z0-9-]{0,99}\.myshopify\.com")
# The preview iframe's srcdoc inherits this policy: email HTML needs inline styles and
# https images; nothing in it may run (the iframe is sandboxed as well).
_POLICY = (
    "default-src 'self'; script-src 'self' https://cdn.shopify.com; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' https: data:; "
    "connect-src 'self' https://*.shopify.com; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors {ancestors}"
)


class StaticPage:
    def __init__(self, root: Path) -> None:
        self._index = (root / "index.html").read_text(encoding="utf-8")
        self._assets = {
            path.name: (path.read_text(encoding="utf-8"), ASSET_TYPES[path.suffix])
            for path in sorted(root.iterdir())
            if path.is_file() and path.suffix in ASSET_TYPES
        }

    def index(self, *, api_key: str | None, shop: str | None, embedded: bool) -> Response[str]:
        tag = ""
        if embedded and api_key:
            tag = f'<script src="{APP_BRIDGE}" data-api-key="{html.escape(api_key)}"></script>'
        return Response(
            status_code=200,
            content_type=content_types.TEXT_HTML,
            body=self._index.replace(APP_BRIDGE_SLOT, tag),
            headers={
                "Content-Security-Policy": _POLICY.format(ancestors=self._ancestors(shop)),
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    def to_install(self, url: str, *, api_key: str | None, shop: str | None) -> Response[str]:
        """Leave the admin's iframe for the install flow: App Bridge turns a `_top` open
        into a top-level navigation; outside the admin, a plain link does it."""
        target = html.escape(url, quote=True)
        tag = (
            f'<script src="{APP_BRIDGE}" data-api-key="{html.escape(api_key)}"></script>'
            if api_key
            else ""
        )
        body = (
            '<!doctype html><html><head><meta charset="utf-8">'
            f"<title>Installing Recoup</title>{tag}</head><body>"
            f'<p><a id="install" href="{target}" target="_top">Continue to install Recoup</a></p>'
            f'<script src="/app/install.js" data-url="{target}"></script></body></html>'
        )
        return Response(
            status_code=200,
            content_type=content_types.TEXT_HTML,
            body=body,
            headers={
                "Content-Security-Policy": _POLICY.format(ancestors=self._ancestors(shop)),
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    @staticmethod
    def _ancestors(shop: str | None) -> str:
        ancestors = "https://admin.shopify.com"
        if shop and _SHOP.fullmatch(shop):
            ancestors = f"https://{shop} {ancestors}"
        return ancestors

    def asset(self, name: str) -> Response[str]:
        found = self._assets.get(name)
        if found is None:
            raise NotFoundError(name)
        body, kind = found
        return Response(
            status_code=200,
            content_type=kind,
            body=body,
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )
