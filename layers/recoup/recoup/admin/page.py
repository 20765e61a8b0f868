"""The embedded page's files: `index.html` for every view's path, and the scripts and styles
beside it at `/app/static/<name>`, served from a fixed list (no path ever reaches the disk).

Inside the Shopify admin the page is loaded with `?shop=...&host=...`; then it carries the
`shopify-api-key` meta tag, App Bridge (`shopify.idToken()`, the nav, save bar and toasts) and
Polaris's web components from Shopify's CDN. Opened directly (the local stack, the browser
tests: no network to that CDN), it loads `polaris-local.js` instead, a small stand-in that
defines the same elements with plain HTML, and takes its token from the URL fragment.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

APP_BRIDGE = "https://cdn.shopify.com/shopifycloud/app-bridge.js"
POLARIS = "https://cdn.shopify.com/shopifycloud/polaris-1.js"
STAND_IN = "/app/static/polaris-local.js"
SHOPIFY_SLOT = "<!-- shopify -->"
# The paths the page's router answers (main.js): each is served index.html.
VIEWS = frozenset({"cases", "settings", "templates", "notifications", "onboarding", "experiments"})
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
    "style-src 'self' 'unsafe-inline' https://cdn.shopify.com; img-src 'self' https: data:; "
    "font-src 'self' https://cdn.shopify.com; "
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
        tags = f'<script src="{STAND_IN}"></script>'
        if embedded and api_key:
            tags = _shopify_tags(api_key) + f'<script src="{POLARIS}"></script>'
        return Response(
            status_code=200,
            content_type=content_types.TEXT_HTML,
            body=self._index.replace(SHOPIFY_SLOT, tags),
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
        tag = _shopify_tags(api_key) if api_key else ""
        body = (
            '<!doctype html><html><head><meta charset="utf-8">'
            f"<title>Installing Recoup</title>{tag}</head><body>"
            f'<p><a id="install" href="{target}" target="_top">Continue to install Recoup</a></p>'
            f'<script src="/app/static/install.js" data-url="{target}"></script></body></html>'
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

    @staticmethod
    def require_view(name: str) -> None:
        """`/app/<name>` is a view of the page's router, or nothing."""
        if name not in VIEWS:
            raise NotFoundError(name)

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


def _shopify_tags(api_key: str) -> str:
    """App Bridge reads the app's key from this meta tag; its script must come first."""
    return (
        f'<meta name="shopify-api-key" content="{html.escape(api_key, quote=True)}">'
        f'<script src="{APP_BRIDGE}"></script>'
    )
