"""Stripe Connect OAuth for an existing Standard account (the one that already takes the
shop's payments): the authorize URL, the code exchange and the deauthorization, through the
stripe SDK's OAuth service. Why OAuth and not Account Links: a merchant who sells through
Shopify with Stripe already has the account; Account Links would create a new one that
does not hold the shop's payments, so its events would never match an order.
"""

from __future__ import annotations

from typing import Any

from recoup.errors import RecoupError


class ConnectFailed(RecoupError):
    """Stripe refused the code or could not be reached; the message says which."""


def platform_client(api_key: str, *, client_id: str | None = None, base: str | None) -> Any:
    # The webhook's module (its event parsing, the fraud signals) loads with the SDK, on a
    # call to Stripe: the admin and privacy functions import this module for rare routes.
    from recoup.integrations.stripe import platform_client as client

    return client(api_key, client_id=client_id, base=base)


def authorize_url(
    *, client_id: str, state: str, redirect_uri: str, api_base: str | None = None
) -> str:
    client = platform_client("unused-for-the-url", client_id=client_id, base=api_base)
    params = {"scope": "read_write", "state": state, "redirect_uri": redirect_uri}
    return str(client.oauth.authorize_url(params=params))


def exchange_code(code: str, *, api_key: str, api_base: str | None = None) -> str:
    """The connected account's id for an authorization code (single use, Stripe's rule)."""
    import stripe

    client = platform_client(api_key, base=api_base)
    try:
        token = client.oauth.token(params={"grant_type": "authorization_code", "code": code})
    except stripe.StripeError as error:
        reason = error.user_message or str(error)
        raise ConnectFailed(f"Stripe refused the connection: {reason}") from None
    account = getattr(token, "stripe_user_id", None)
    if not isinstance(account, str) or not account.startswith("acct_"):
        raise ConnectFailed("Stripe's answer names no connected account")
    return account


def deauthorize(account: str, *, api_key: str, client_id: str, api_base: str | None = None) -> None:
    """Revoke the platform's access to the account (Stripe then sends
    account.application.deauthorized, which changes nothing more here)."""
    import stripe

    client = platform_client(api_key, client_id=client_id, base=api_base)
    try:
        client.oauth.deauthorize(params={"client_id": client_id, "stripe_user_id": account})
    except stripe.StripeError as error:
        reason = error.user_message or str(error)
        raise ConnectFailed(f"Stripe refused the disconnection: {reason}") from None
