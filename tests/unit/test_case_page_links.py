"""The customer's page tokens and form tokens (recoup.links), and the page's sums
(services.customer_page.reconcile): pure, no table."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from recoup import links
from recoup.domain.case import Case
from recoup.domain.charges import OrderCharges
from recoup.domain.events import LineItem, OrderSnapshot
from recoup.domain.money import Money
from recoup.links import InvalidLink
from recoup.services import case_pages
from recoup.services.customer_page import reconcile

SECRET = "page-secret"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_a_page_token_is_24_url_safe_characters_holding_only_the_id_and_its_mac() -> None:
    link_id = links.new_page_id()
    token = links.sign_page(link_id, secret=SECRET)
    assert len(token) == links.PAGE_TOKEN_CHARS == 24
    assert token.startswith(link_id)  # the rest is the MAC: nothing else is in it
    assert links.verify_page(token, secrets=[SECRET]) == link_id
    assert links.new_page_id() != link_id


def test_a_rotated_secret_still_verifies_and_a_changed_token_does_not() -> None:
    link_id = links.new_page_id()
    token = links.sign_page(link_id, secret="old")
    assert links.verify_page(token, secrets=["new", "old"]) == link_id
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for forged in (
        flipped,
        token[:-1],
        token + "A",
        "!" * 24,
        links.sign_page(link_id, secret="x"),
    ):
        with pytest.raises(InvalidLink):
            links.verify_page(forged, secrets=[SECRET, "old"])


def test_a_pay_token_never_passes_for_a_page_token() -> None:
    pay = links.sign_pay("shop.myshopify.com", "1", now=NOW, secret=SECRET)
    with pytest.raises(InvalidLink):
        links.verify_page(pay, secrets=[SECRET])


def test_a_form_token_is_bound_to_its_link_and_lasts_two_hours() -> None:
    link_id = links.new_page_id()
    token = links.sign_form(link_id, now=NOW, secret=SECRET)
    assert links.verify_form(token, link_id, now=NOW + timedelta(hours=2), secrets=[SECRET])
    assert not links.verify_form(
        token, link_id, now=NOW + timedelta(hours=2, seconds=1), secrets=[SECRET]
    )
    assert not links.verify_form(token, links.new_page_id(), now=NOW, secrets=[SECRET])
    assert not links.verify_form(token, link_id, now=NOW - timedelta(minutes=1), secrets=[SECRET])
    issued, _, mac = token.partition(".")
    later = f"{int(issued) + 3600}.{mac}"  # a moved issue time does not keep its MAC
    assert not links.verify_form(later, link_id, now=NOW + timedelta(hours=2), secrets=[SECRET])
    for junk in ("", ".", "x.y", f"{issued}.", f"{issued}.!!"):
        assert not links.verify_form(junk, link_id, now=NOW, secrets=[SECRET])


def test_the_mac_is_not_the_id_encoded() -> None:
    raw = base64.urlsafe_b64decode(links.sign_page(links.new_page_id(), secret=SECRET))
    assert raw[: links.PAGE_ID_BYTES] != raw[links.PAGE_ID_BYTES :]


def usd(amount: str) -> Money:
    return Money.parse(amount, "USD")


def snapshot(total: str, charges: OrderCharges | None, *prices: str) -> OrderSnapshot:
    return OrderSnapshot(
        amount_owed=usd(total),
        order_total=usd(total),
        line_items=tuple(LineItem(f"item {i}", 1, usd(p)) for i, p in enumerate(prices)),
        charges=charges,
    )


def rows(found: tuple[object, ...]) -> dict[str, str]:
    return {row.kind: row.amount for row in found}  # type: ignore[attr-defined]


def test_the_sums_add_up_with_discounts_shipping_and_taxes() -> None:
    charges = OrderCharges(
        subtotal=usd("150.00"),
        total_tax=usd("12.00"),
        total_shipping=usd("8.00"),
        total_discounts=usd("10.00"),
    )
    assert rows(reconcile(snapshot("170.00", charges, "100.00", "60.00"), "en")) == {
        "items": "$160.00",
        "discounts": "-$10.00",
        "shipping": "$8.00",
        "taxes": "$12.00",
        "total": "$170.00",
    }


def test_taxes_included_in_prices_are_shown_but_not_added_again() -> None:
    charges = OrderCharges(total_tax=usd("20.00"), taxes_included=True)
    assert rows(reconcile(snapshot("120.00", charges, "120.00"), "en")) == {
        "items": "$120.00",
        "total": "$120.00",
        "taxes_included": "$20.00",
    }


def test_what_the_order_does_not_explain_is_other_charges() -> None:
    # Only shipping known, items unpriced: the rest of the total is "other charges".
    unpriced = OrderSnapshot(
        amount_owed=usd("50.00"),
        order_total=usd("50.00"),
        line_items=(LineItem("gift", 1, None),),
        charges=OrderCharges(total_shipping=usd("5.00")),
    )
    assert rows(reconcile(unpriced, "en")) == {
        "shipping": "$5.00",
        "other": "$45.00",
        "total": "$50.00",
    }
    # With the subtotal known instead of item prices, the items are the subtotal before
    # the discount, and nothing is left over.
    charges = OrderCharges(subtotal=usd("40.00"), total_discounts=usd("5.00"))
    unpriced_with_subtotal = OrderSnapshot(
        amount_owed=usd("40.00"),
        order_total=usd("40.00"),
        line_items=(LineItem("gift", 1, None),),
        charges=charges,
    )
    assert rows(reconcile(unpriced_with_subtotal, "en")) == {
        "items": "$45.00",
        "discounts": "-$5.00",
        "total": "$40.00",
    }


def test_the_unsubscribe_page_language_follows_the_link_then_the_browser() -> None:
    assert case_pages.unsubscribe_language("ja", "de-DE,de;q=0.9") == "ja"
    assert case_pages.unsubscribe_language(None, "pt-BR, fr;q=0.8, de;q=0.9") == "de"
    assert case_pages.unsubscribe_language(None, "fr;q=0, es;q=0.1") == "es"
    assert case_pages.unsubscribe_language(None, None) == "en"


# ------------------------------------------------------------------------------ channels


def _case_with(email: str | None, phone: str | None) -> Case:
    from dataclasses import replace

    from recoup.domain.case import new_case
    from recoup.domain.events import Customer

    customer = Customer(email=email, phone=phone, country="US")
    return replace(
        new_case("shop.myshopify.com", "1"),
        snapshot=OrderSnapshot(amount_owed=usd("10.00"), customer=customer),
    )


def test_a_fresh_link_or_reminder_goes_only_by_a_channel_the_customer_may_be_reached_on() -> None:
    from recoup.domain.preferences import ContactPreferences
    from recoup.services.customer_page import reachable_channels
    from recoup.store.contacts import Reachability

    both = _case_with("a@example.com", "+15085550163")
    assert reachable_channels(both, Reachability(), ContactPreferences()) == ("email", "sms")
    # the channel they prefer first
    sms_first = ContactPreferences(preferred="sms")
    assert reachable_channels(both, Reachability(), sms_first) == ("sms", "email")
    # never one opted out of, suppressed, undeliverable or turned off
    for reach in (
        Reachability(email_opted_out=True),
        Reachability(email_suppressed=True),
        Reachability(email_undeliverable="bounced"),
    ):
        assert reachable_channels(both, reach, ContactPreferences()) == ("sms",)
    assert reachable_channels(both, Reachability(sms_opted_out=True), sms_first) == ("email",)
    assert reachable_channels(both, Reachability(), ContactPreferences(email=False)) == ("sms",)
    off = ContactPreferences(email=False, sms=False)
    assert reachable_channels(both, Reachability(), off) == ()
    # and never one without an address
    assert reachable_channels(_case_with(None, None), None, ContactPreferences()) == ()


def test_a_customer_page_route_is_logged_without_its_token() -> None:
    from recoup.http import page_route

    token = links.sign_page(links.new_page_id(), secret=SECRET)
    assert page_route("GET", f"/c/{token}") == "GET /c/{token}"
    assert page_route("POST", f"/c/{token}/bogus") == "POST /c/{token}/{action}"
    assert page_route("POST", f"/c/{token}/a/b") == "POST /c/{token}/{action}"
    assert token not in page_route("POST", f"/c/{token}/a")


def test_a_notes_line_breaks_are_one_character_each_and_controls_refused_apart() -> None:
    from recoup.services.customer_page import NOTE_MAX

    body = "ab\r\n" * (NOTE_MAX // 3)  # over NOTE_MAX as sent, under it as text
    assert len(body) > NOTE_MAX
    assert case_pages._note({"note": [body]}) == ("ab\n" * (NOTE_MAX // 3)).strip()
    with pytest.raises(case_pages.NoteRefused) as control:
        case_pages._note({"note": ["bell\x07"]})
    with pytest.raises(case_pages.NoteRefused) as long:
        case_pages._note({"note": ["x" * (NOTE_MAX + 1)]})
    assert control.value.reason == case_pages.NOTE_CONTROL
    assert long.value.reason == case_pages.NOTE_TOO_LONG
