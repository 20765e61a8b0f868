"""The shop's expiring offline token: token exchange, refresh before expiry, one refresh at a
time, a lost refresh answer, a refused refresh, and the migration of a non-expiring token,
against the local stand-in for Shopify's token endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recoup.integrations import shopify_oauth as oauth
from recoup.services import install, shopify_access
from recoup.store import tokens
from tests.conftest import SHOP

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
SESSION_TOKEN = "header.payload.signature"  # the stand-in does not read it


def _connect(local: Any) -> tokens.StoredToken:
    assert install.connect_from_session(SHOP, SESSION_TOKEN, now=NOW) == "token connected"
    stored = tokens.load(SHOP)
    assert stored is not None
    return stored


def test_token_exchange_stores_an_expiring_token_and_its_refresh_token(local: Any) -> None:
    # When the merchant opens the embedded app for the first time
    stored = _connect(local)
    # Then the shop holds an expiring token, its refresh token and both expiries
    assert stored.expires_at == NOW + timedelta(hours=1)
    assert stored.refresh_token is not None and stored.refresh_token.startswith("shprt_")
    assert stored.refresh_expires_at == NOW + timedelta(days=90)
    assert tokens.status(SHOP) == tokens.TokenStatus(True, True, None)
    # and the next visit does not exchange again
    assert install.connect_from_session(SHOP, SESSION_TOKEN, now=NOW) == "token current"
    assert local.shopify_tokens.exchanges == 1


def test_a_token_is_refreshed_shortly_before_it_expires(local: Any) -> None:
    stored = _connect(local)
    # While it has more than five minutes to live, it is used as it is
    assert shopify_access.access_token(SHOP, now=NOW + timedelta(minutes=54)) == (
        stored.access_token
    )
    assert local.shopify_tokens.refreshes == 0
    # Then it is refreshed once, and the new one (and refresh token) replace it
    later = NOW + timedelta(minutes=56)
    fresh = shopify_access.access_token(SHOP, now=later)
    assert fresh != stored.access_token
    assert local.shopify_tokens.refreshes == 1
    after = tokens.load(SHOP)
    assert after is not None
    assert (after.access_token, after.expires_at) == (fresh, later + timedelta(hours=1))
    assert after.refresh_token != stored.refresh_token
    assert after.version == stored.version + 1 and after.lease_until is None


def test_a_function_that_finds_a_refresh_under_way_uses_its_result(
    local: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = _connect(local)
    later = NOW + timedelta(minutes=58)
    # Given another function took the lease and is refreshing this token version
    assert tokens.claim_refresh(
        SHOP, version=stored.version, now=later, lease=timedelta(seconds=30)
    )
    assert not tokens.claim_refresh(
        SHOP, version=stored.version, now=later, lease=timedelta(seconds=30)
    )

    def other_function_finishes(_seconds: float) -> None:
        tokens.save_grant(
            SHOP,
            "shpat_from_the_other_function",
            scopes="read_orders,write_customers",
            now=later,
            refresh_token="shprt_from_the_other_function",
            expires_in=3600,
            version=stored.version,
        )

    monkeypatch.setattr(shopify_access.time, "sleep", other_function_finishes)
    # When this one needs the token
    token = shopify_access.access_token(SHOP, now=later)
    # Then it waited for the other's token and spent no refresh token of its own
    assert token == "shpat_from_the_other_function"
    assert local.shopify_tokens.refreshes == 0


def test_a_lost_refresh_answer_is_recovered_with_the_same_refresh_token(local: Any) -> None:
    stored = _connect(local)
    later = NOW + timedelta(minutes=58)
    # Given Shopify refreshes, then its answer is lost
    local.shopify_tokens.lose_next_answer = True
    with pytest.raises(oauth.ShopifyUnavailable):
        shopify_access.access_token(SHOP, now=later)
    # Then the lease was given back and the stored token is unchanged
    kept = tokens.load(SHOP)
    assert kept is not None
    assert (kept.access_token, kept.lease_until) == (stored.access_token, None)
    # When the job is retried, the old refresh token (still honoured) gets a new pair
    fresh = shopify_access.access_token(SHOP, now=later + timedelta(seconds=10))
    assert fresh != stored.access_token
    assert local.shopify_tokens.refreshes == 2


def test_a_refused_refresh_marks_the_shop_and_the_next_visit_repairs_it(local: Any) -> None:
    _connect(local)
    later = NOW + timedelta(minutes=58)
    local.shopify_tokens.refuse_refresh = True
    # When Shopify refuses the refresh token for good
    with pytest.raises(shopify_access.NeedsReauth, match="open the app"):
        shopify_access.access_token(SHOP, now=later)
    # Then the shop is marked, and calls stop without asking Shopify again
    assert "refused" in (tokens.status(SHOP).needs_reauth or "")
    with pytest.raises(shopify_access.NeedsReauth):
        shopify_access.access_token(SHOP, now=later)
    assert local.shopify_tokens.refreshes == 1
    # When the merchant opens the app, token exchange gives a new token and clears the mark
    assert install.connect_from_session(SHOP, SESSION_TOKEN, now=later) == "token reconnected"
    assert tokens.status(SHOP) == tokens.TokenStatus(True, True, None)


def test_a_non_expiring_token_is_migrated_on_first_use(local: Any) -> None:
    # Given a shop installed before expiring tokens
    tokens.save_token(SHOP, "shpat_non_expiring", scopes="read_orders,write_customers")
    assert tokens.status(SHOP) == tokens.TokenStatus(True, False, None)
    # When a function needs its token
    token = shopify_access.access_token(SHOP, now=NOW)
    # Then it was exchanged for an expiring one (no merchant needed)
    assert token != "shpat_non_expiring"
    assert local.shopify_tokens.exchanges == 1
    assert tokens.status(SHOP).expiring


def test_only_expiring_tokens_are_requested(local: Any) -> None:
    # The authorization code grant asks for an expiring token too (the stand-in refuses
    # anything else, as Shopify will from 1 January 2027)
    grant = oauth.exchange_code(
        SHOP, "code-1", api_key="key", secret="secret", transport=local.shopify_tokens
    )
    assert grant.expiring and grant.expires_in == 3600
