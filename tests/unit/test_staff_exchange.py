"""Token exchange for an online token, read only for the staff member it names
(`shopify_oauth.staff_member`). Pure: the exchange goes to a fake transport."""

from __future__ import annotations

import json

import pytest

from recoup.integrations import shopify_oauth as oauth
from recoup.integrations.shopify_http import HttpResponse, TransportError
from tests.shopify_fakes import FakeShopify

SHOP = "demo-electronics.myshopify.com"


def online_answer(user: dict[str, object]) -> HttpResponse:
    body = {
        "access_token": "shpua_secret",
        "scope": "read_orders,write_customers",
        "expires_in": 86399,
        "associated_user_scope": "read_orders",
        "associated_user": user,
    }
    return HttpResponse(200, json.dumps(body).encode())


def exchange(fake: FakeShopify) -> oauth.StaffMember:
    return oauth.staff_member(SHOP, "session.jwt", api_key="key", secret="shh", transport=fake)


def test_the_online_exchange_asks_for_an_online_token_and_reads_the_user() -> None:
    user = {"id": 902541635, "first_name": " Ana ", "last_name": "Ruiz", "email": "a@x.example"}
    fake = FakeShopify(online_answer({**user, "account_owner": True}))
    member = exchange(fake)
    assert (member.user_id, member.name) == ("902541635", "Ana Ruiz")
    sent = fake.sent()
    assert sent["requested_token_type"] == oauth.ONLINE_TOKEN
    assert sent["subject_token"] == "session.jwt"
    assert (sent["grant_type"], sent["subject_token_type"]) == (
        oauth.TOKEN_EXCHANGE,
        oauth.ID_TOKEN,
    )
    assert fake.requests[0].url == f"https://{SHOP}/admin/oauth/access_token"
    # The token and the email are not kept on what is returned
    assert "shpua_secret" not in repr(member) and "a@x.example" not in repr(member)


def test_a_user_without_a_name_has_none() -> None:
    member = exchange(FakeShopify(online_answer({"id": "77", "first_name": "", "last_name": None})))
    assert (member.user_id, member.name) == ("77", None)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (HttpResponse(400, b'{"error": "invalid_subject_token"}'), oauth.BadOAuthRequest),
        (HttpResponse(503, b""), oauth.ShopifyUnavailable),
        (TransportError("timed out"), oauth.ShopifyUnavailable),
        (online_answer({"first_name": "Ana"}), oauth.ShopifyUnavailable),  # no id
        (online_answer({"id": True}), oauth.ShopifyUnavailable),
    ],
)
def test_a_failed_or_odd_exchange_raises_a_refusal(
    answer: HttpResponse | Exception, error: type[Exception]
) -> None:
    with pytest.raises(error):
        exchange(FakeShopify(answer))
    assert issubclass(error, oauth.OAuthRejected)
