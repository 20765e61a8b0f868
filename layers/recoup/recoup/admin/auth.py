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

from recoup.errors import ConfigurationError, RecoupError

BEARER = "Bearer "
MAX_HEADER_LENGTH = 4096  # Shopify's tokens are well under 1 KB
# Shopify's session tokens live one minute; the leeway matches the library's clock leeway.
SHOPIFY_TOKEN_LIFETIME_SECONDS = 60
LIFETIME_LEEWAY_SECONDS = 10
MAX_LIFETIME_SECONDS = SHOPIFY_TOKEN_LIFETIME_SECONDS + LIFETIME_LEEWAY_SECONDS
_DEST = re.compile(r"https://([a-z0-9][a-z0-9-]{0,99}\.myshopify\.com)")


class Unauthorized(RecoupError):
    """The request carries no valid session token: 401, `code` says what is wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
    (Shopify's one minute plus leeway; `Settings.session_token_max_lifetime`)."""
    if not api_key:
        raise ConfigurationError(
            "RECOUP_SHOPIFY_API_KEY is not set: session tokens cannot be checked"
        )
    if not authorization or not authorization.startswith(BEARER):
        raise Unauthorized(
            "missing_token", "send the App Bridge session token as 'Authorization: Bearer <token>'"
        )
    if len(authorization) > MAX_HEADER_LENGTH:
        raise Unauthorized("malformed_token", "the session token is too long to be one")
    for secret in secrets:
        try:
            claims = session_token.decode_from_header(authorization, api_key, secret)
        except session_token.SessionTokenError as exc:
            if isinstance(exc.__cause__, jwt.InvalidSignatureError):
                continue  # maybe signed with another of the secrets (rotation)
            raise _refusal(exc) from None
        return _session(claims, max_lifetime)
    raise Unauthorized(
        "bad_signature", "the session token is not signed with this app's client secret"
    )


def _session(claims: Mapping[str, Any], max_lifetime: int) -> StaffSession:
    for claim in ("exp", "nbf"):
        if claim not in claims:
            raise Unauthorized("missing_claim", f"the session token has no '{claim}' claim")
    _check_lifetime(claims, max_lifetime)
    dest = claims.get("dest")
    match = _DEST.fullmatch(dest) if isinstance(dest, str) else None
    if match is None:
        raise Unauthorized(
            "wrong_destination", "the session token's 'dest' is not https://<shop>.myshopify.com"
        )
    if claims.get("iss") != f"{dest}/admin":
        raise Unauthorized("wrong_issuer", "the session token's 'iss' is not its shop's admin")
    user = claims.get("sub")
    if not isinstance(user, str) or not user.strip():
        raise Unauthorized("missing_claim", "the session token names no staff member ('sub')")
    return StaffSession(shop=match[1], user=user.strip())


def _check_lifetime(claims: Mapping[str, Any], longest: int) -> None:
    """PyJWT has checked that exp, nbf and iat (when present) convert with int()."""
    issued = int(claims.get("iat", claims["nbf"]))
    if int(claims["exp"]) - issued > longest:
        raise Unauthorized(
            "token_lifetime_too_long",
            f"the session token is valid for more than {longest} seconds "
            "('exp' - 'iat'); Shopify's live one minute",
        )


# PyJWT's errors as the answer names them (most specific first: some are subclasses).
_REFUSALS: tuple[tuple[type[Exception], str, str], ...] = (
    (jwt.ExpiredSignatureError, "token_expired", "the session token has expired"),
    (jwt.ImmatureSignatureError, "token_not_yet_valid", "the session token is not valid yet"),
    (jwt.InvalidAudienceError, "wrong_audience", "the session token is for another app ('aud')"),
    (jwt.MissingRequiredClaimError, "missing_claim", ""),
    (jwt.InvalidAlgorithmError, "malformed_token", "the session token is not signed with HS256"),
    (jwt.DecodeError, "malformed_token", "the session token is not a JWT"),
)


def _refusal(exc: session_token.SessionTokenError) -> Unauthorized:
    cause = exc.__cause__
    if isinstance(exc, session_token.InvalidIssuerError | session_token.MismatchedHostsError):
        return Unauthorized("wrong_issuer", "the session token's 'iss' and 'dest' do not match")
    for kind, code, message in _REFUSALS:
        if isinstance(cause, kind):
            if isinstance(cause, jwt.MissingRequiredClaimError):
                message = f"the session token has no '{cause.claim}' claim"
            return Unauthorized(code, message)
    return Unauthorized("invalid_token", "the session token is not valid")
