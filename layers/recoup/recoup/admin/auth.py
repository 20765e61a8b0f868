"""Who calls the admin API: the App Bridge session token in `Authorization`, verified.

The token is a JWT (HS256) signed with the app's client secret. ShopifyAPI's
`session_token.decode_from_header` checks the signature, `aud` (the app's API key), `exp` and
`nbf` with 10 s of leeway, the claims Shopify always sends, and that `iss` and `dest` name the
same shop. It keeps no global state, so it is called once per secret: the first secret
signs, any verifies (rotation). On top of it: `exp` and `nbf` must be present, `dest` must be
exactly `https://<shop>.myshopify.com` and `iss` exactly `<dest>/admin`, and the token may
live no longer than Shopify's one minute plus the leeway (`exp - iat`, or `exp - nbf`
without `iat`): a token valid for hours was not minted by Shopify, or was kept to be
replayed. The shop is taken
from the token and nowhere else. The token itself is never logged or echoed back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from shopify import session_token

from recoup.errors import ConfigurationError, HttpProblem

BEARER = "Bearer "
MAX_HEADER_LENGTH = 4096  # Shopify's tokens are well under 1 KB
# Shopify's session tokens live one minute; the leeway matches the library's clock leeway.
SHOPIFY_TOKEN_LIFETIME_SECONDS = 60
LIFETIME_LEEWAY_SECONDS = 10
MAX_LIFETIME_SECONDS = SHOPIFY_TOKEN_LIFETIME_SECONDS + LIFETIME_LEEWAY_SECONDS
_DEST = re.compile(r"https://([a-z0-9][a-z0-9-]{0,99}\.myshopify\.com)")


class Unauthorized(HttpProblem):
    """The request carries no valid session token: 401, `code` says what is wrong."""

    status = 401
    code = "invalid_token"


@dataclass(frozen=True, slots=True)
class StaffSession:
    shop: str  # "<name>.myshopify.com": the only shop this request may read or change
    user: str  # the token's `sub`: the staff member's user id


def authenticate(
    authorization: str | None,
    *,
    api_key: str | None,
    secrets: Sequence[str],
    max_lifetime: int = MAX_LIFETIME_SECONDS,
) -> StaffSession:
    """The staff session an `Authorization: Bearer <token>` header proves; raises
    `Unauthorized` naming the problem. `max_lifetime`: the longest `exp - iat` accepted
    (Shopify's one minute plus leeway; longer only on the local stack:
    `Settings.local_session_token_lifetime`)."""
    if not api_key:
        raise ConfigurationError(
            "RECOUP_SHOPIFY_API_KEY is not set: session tokens cannot be checked"
        )
    if not authorization or not authorization.startswith(BEARER):
        raise Unauthorized(
            "send the App Bridge session token as 'Authorization: Bearer <token>'",
            code="missing_token",
        )
    if len(authorization) > MAX_HEADER_LENGTH:
        raise Unauthorized("the session token is too long to be one", code="malformed_token")
    for secret in secrets:
        try:
            claims = session_token.decode_from_header(authorization, api_key, secret)
        except session_token.SessionTokenError as exc:
            if isinstance(exc.__cause__, jwt.InvalidSignatureError):
                continue  # maybe signed with another of the secrets (rotation)
            raise _refusal(exc) from None
        return _session(claims, max_lifetime)
    raise Unauthorized(
        "the session token is not signed with this app's client secret", code="bad_signature"
    )


def _session(claims: Mapping[str, Any], max_lifetime: int) -> StaffSession:
    for claim in ("exp", "nbf"):
        if claim not in claims:
            raise Unauthorized(f"the session token has no '{claim}' claim", code="missing_claim")
    _check_lifetime(claims, max_lifetime)
    dest = claims.get("dest")
    match = _DEST.fullmatch(dest) if isinstance(dest, str) else None
    if match is None:
        raise Unauthorized(
            "the session token's 'dest' is not https://<shop>.myshopify.com",
            code="wrong_destination",
        )
    if claims.get("iss") != f"{dest}/admin":
        raise Unauthorized("the session token's 'iss' is not its shop's admin", code="wrong_issuer")
    user = claims.get("sub")
    if not isinstance(user, str) or not user.strip():
        raise Unauthorized("the session token names no staff member ('sub')", code="missing_claim")
    return StaffSession(shop=match[1], user=user.strip())


def _check_lifetime(claims: Mapping[str, Any], longest: int) -> None:
    """PyJWT has checked that exp, nbf and iat (when present) convert with int()."""
    issued = int(claims.get("iat", claims["nbf"]))
    if int(claims["exp"]) - issued > longest:
        raise Unauthorized(
            f"the session token is valid for more than {longest} seconds "
            "('exp' - 'iat'); Shopify's live one minute",
            code="token_lifetime_too_long",
        )


def _refusal(exc: session_token.SessionTokenError) -> Unauthorized:
    """PyJWT's error (the cause), as the answer names it; subclasses before their bases."""
    cause = exc.__cause__
    if isinstance(exc, session_token.InvalidIssuerError | session_token.MismatchedHostsError):
        return Unauthorized(
            "the session token's 'iss' and 'dest' do not match", code="wrong_issuer"
        )
    if isinstance(cause, jwt.ExpiredSignatureError):
        return Unauthorized("the session token has expired", code="token_expired")
    if isinstance(cause, jwt.ImmatureSignatureError):
        return Unauthorized("the session token is not valid yet", code="token_not_yet_valid")
    if isinstance(cause, jwt.InvalidAudienceError):
        return Unauthorized("the session token is for another app ('aud')", code="wrong_audience")
    if isinstance(cause, jwt.MissingRequiredClaimError):
        return Unauthorized(f"the session token has no '{cause.claim}' claim", code="missing_claim")
    if isinstance(cause, jwt.InvalidAlgorithmError):
        return Unauthorized("the session token is not signed with HS256", code="malformed_token")
    if isinstance(cause, jwt.DecodeError):
        return Unauthorized("the session token is not a JWT", code="malformed_token")
    return Unauthorized("the session token is not valid", code="invalid_token")
