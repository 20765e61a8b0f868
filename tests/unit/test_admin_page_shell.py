"""The embedded page's shell: Shopify's scripts inside the admin, the local stand-in elsewhere,
and only the router's views and the listed files answered under /app."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from recoup.admin.page import POLARIS, STAND_IN, StaticPage

STATIC = Path(__file__).resolve().parents[2] / "functions" / "admin_api" / "static"


def test_inside_the_shopify_admin_the_page_loads_app_bridge_and_polaris_by_the_api_key() -> None:
    body = StaticPage(STATIC).index(api_key='k"1', shop="x.myshopify.com", embedded=True).body
    head = body.split("</head>", 1)[0]
    # App Bridge reads the key from its meta tag, and its script comes before any other
    meta = '<meta name="shopify-api-key" content="k&quot;1">'
    bridge = '<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>'
    assert meta in head and bridge in head
    assert head.index(bridge) < head.index(f'<script src="{POLARIS}">') < head.index("main.js")
    assert STAND_IN not in body and "data-api-key" not in body


@pytest.mark.parametrize("embedded", [False, True])
def test_opened_directly_the_page_loads_the_stand_in_and_no_shopify_script(embedded: bool) -> None:
    # Without an API key (or outside the admin) nothing is loaded from Shopify's CDN
    body = (
        StaticPage(STATIC)
        .index(api_key=None if embedded else "k", shop=None, embedded=embedded)
        .body
    )
    assert f'<script src="{STAND_IN}"></script>' in body
    assert "cdn.shopify.com" not in body and "shopify-api-key" not in body


def test_only_the_routers_views_and_the_listed_files_are_answered() -> None:
    page = StaticPage(STATIC)
    for view in ("cases", "settings", "templates", "notifications", "onboarding"):
        page.require_view(view)
    for other in ("nothing.js", "static", "app.css", ".."):
        with pytest.raises(NotFoundError):
            page.require_view(other)
    assert page.asset("polaris-local.js").content_type.startswith("text/javascript")
    with pytest.raises(NotFoundError):
        page.asset("../page.py")
