"""App Bridge session tokens: the checks beyond the signature, rotation, and what a refusal
says (never the token)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from recoup.admin.auth import MAX_LIFETIME_SECONDS, StaffSession, Unauthorized, authenticate
from recoup.errors import ConfigurationError
from recoup.settings import Settings
from recoup_local import session_tokens

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

SHOP = "demo-electronics.myshopify.com"
API_KEY = "the-apps-api-key"
SECRET = "a-client-secret-of-at-least-32-bytes"


def header(secret: str = SECRET, **changes: Any) -> str:
    claims = session_tokens.claims(SHOP, api_key=API_KEY, user="42")
    claims.update(changes)
    for name in [k for k, v in changes.items() if v is None]:
        del claims[name]
    return "Bearer " + session_tokens.sign(claims, secret)


def refusal(authorization: str | None, secrets: tuple[str, ...] = (SECRET,)) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        authenticate(authorization, api_key=API_KEY, secrets=secrets)
    return caught.value


def test_a_valid_token_names_its_shop_and_staff_member() -> None:
    assert authenticate(header(), api_key=API_KEY, secrets=(SECRET,)) == StaffSession(SHOP, "42")


def test_any_of_the_secrets_verifies_for_rotation() -> None:
    old = header("the-old-secret-still-being-phased-out")
    secrets = (SECRET, "the-old-secret-still-being-phased-out")
    assert authenticate(old, api_key=API_KEY, secrets=secrets).shop == SHOP
    assert refusal(old).code == "bad_signature"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"exp": None}, "missing_claim"),
        ({"nbf": None}, "missing_claim"),
        ({"sub": None}, "missing_claim"),
        (
            {"dest": f"https://{SHOP}/extra", "iss": f"https://{SHOP}/extra/admin"},
            "wrong_destination",
        ),
        ({"dest": "https://shop.example.com", "iss": "https://shop.example.com/admin"}, None),
        ({"iss": f"https://{SHOP}/not-admin"}, "wrong_issuer"),
        ({"sub": "  "}, "missing_claim"),
    ],
)
def test_claims_shopify_always_sends_must_be_there_and_agree(
    changes: dict[str, Any], code: str | None
) -> None:
    refused = refusal(header(**changes))
    if code:
        assert refused.code == code
    assert refused.message


def test_a_refusal_never_repeats_the_token() -> None:
    bad = header(aud="someone-else")
    refused = refusal(bad)
    assert refused.code == "wrong_audience"
    assert bad.removeprefix("Bearer ") not in refused.message


def test_only_a_bearer_header_is_read() -> None:
    assert refusal(None).code == "missing_token"
    assert refusal(header().replace("Bearer ", "Basic ")).code == "missing_token"
    assert refusal("Bearer " + "x" * 5000).code == "malformed_token"


def test_without_the_api_key_nothing_is_accepted() -> None:
    with pytest.raises(ConfigurationError):
        authenticate(header(), api_key=None, secrets=(SECRET,))


@pytest.mark.parametrize(
    "claims",
    [
        {"lifetime": 3600},  # an hour: Shopify never mints one
        {"lifetime": 71},  # just past one minute plus the leeway
        {"lifetime": 3600, "drop_iat": True},  # no iat: the lifetime is read from nbf
        {"lifetime": 2**40},  # valid for ages
    ],
    ids=["an-hour", "just-past", "no-iat", "ages"],
)
def test_a_token_that_lives_longer_than_shopify_mints_is_refused(claims: dict[str, Any]) -> None:
    issued = int(time.time())
    changes: dict[str, Any] = {"iat": issued, "nbf": issued, "exp": issued + claims["lifetime"]}
    if claims.get("drop_iat"):
        changes["iat"] = None
    refused = refusal(header(**changes))
    assert refused.code == "token_lifetime_too_long"
    assert "seconds" in refused.message


def test_a_token_of_one_minute_plus_the_leeway_is_accepted() -> None:
    issued = int(time.time())
    token = header(iat=issued, nbf=issued, exp=issued + MAX_LIFETIME_SECONDS)
    assert authenticate(token, api_key=API_KEY, secrets=(SECRET,)).shop == SHOP
    assert MAX_LIFETIME_SECONDS == 70


@pytest.mark.parametrize(("source", "accepted"), [("env", True), ("ssm", False)])
def test_only_the_served_local_stack_may_allow_longer_links(source: str, accepted: bool) -> None:
    # Given a day-long token, and a stack configured to allow day-long links
    settings = Settings(
        stage="dev",
        region="us-east-1",
        table_name="t",
        events_queue_url="q",
        secrets_source=source,
        shopify_secret_param=None,
        stripe_secret_param=None,
        shopify_secret_env=None,
        stripe_secret_env=None,
        local_session_token_max_seconds=24 * 60 * 60,
    )
    issued = int(time.time())
    token = header(iat=issued, nbf=issued, exp=issued + 23 * 60 * 60)
    longest = settings.local_session_token_lifetime() or MAX_LIFETIME_SECONDS
    # Then only a stack whose secrets come from the environment (the local one) takes it;
    # one that reads them from SSM (deployed) keeps Shopify's one minute
    if accepted:
        session = authenticate(token, api_key=API_KEY, secrets=(SECRET,), max_lifetime=longest)
        assert session.shop == SHOP
    else:
        assert longest == MAX_LIFETIME_SECONDS
        with pytest.raises(Unauthorized, match="valid for more than 70 seconds"):
            authenticate(token, api_key=API_KEY, secrets=(SECRET,), max_lifetime=longest)
