"""The customer's time zone: address, then phone, then the shop; and phone normalisation."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recoup.domain.cadence import TimezoneRule
from recoup.domain.timezones import (
    PRINCIPAL_ZONES,
    PROVINCE_COUNTRIES,
    country_zones,
    customer_zone,
    normalise_phone,
    province_zones,
)

SHOP = "Europe/Berlin"


def _zone(
    country: str | None = None,
    province: str | None = None,
    phone: str | None = None,
    *,
    shop: str = SHOP,
    rule: TimezoneRule = TimezoneRule.CUSTOMER,
) -> tuple[str, str]:
    zone, reason = customer_zone(
        country=country, province=province, phone=phone, shop_timezone=shop, rule=rule
    )
    return zone.key, reason


# --- from the address ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "province", "zone", "where"),
    [
        ("US", "OR", "America/Los_Angeles", "US-OR"),
        ("us", " or ", "America/Los_Angeles", "US-OR"),
        ("US", "US-NY", "America/New_York", "US-NY"),
        ("US", "AZ", "America/Phoenix", "US-AZ"),
        ("US", "HI", "Pacific/Honolulu", "US-HI"),
        ("US", "MI", "America/Detroit", "US-MI"),
        ("US", "FL", "America/New_York", "US-FL"),  # split: the panhandle is Central
        ("US", "TN", "America/Chicago", "US-TN"),  # split: East Tennessee is Eastern
        ("US", "TX", "America/Chicago", "US-TX"),  # split: El Paso is Mountain
        ("US", "ID", "America/Boise", "US-ID"),
        ("US", "PR", "America/Puerto_Rico", "US-PR"),
        ("CA", "ON", "America/Toronto", "CA-ON"),
        ("CA", "QC", "America/Toronto", "CA-QC"),
        ("CA", "BC", "America/Vancouver", "CA-BC"),
        ("CA", "NL", "America/St_Johns", "CA-NL"),
        ("CA", "SK", "America/Regina", "CA-SK"),
        ("AU", "NSW", "Australia/Sydney", "AU-NSW"),
        ("AU", "WA", "Australia/Perth", "AU-WA"),
        ("AU", "QLD", "Australia/Brisbane", "AU-QLD"),
        ("MX", "JAL", "America/Mexico_City", "MX-JAL"),
        ("MX", "CMX", "America/Mexico_City", "MX-CMX"),
        ("MX", "Q ROO", "America/Cancun", "MX-QROO"),
        ("MX", "SON", "America/Hermosillo", "MX-SON"),
        ("MX", "BC", "America/Tijuana", "MX-BC"),
        ("MX", "MX-BCN", "America/Tijuana", "MX-BCN"),
        ("BR", "SP", "America/Sao_Paulo", "BR-SP"),
        ("BR", "AM", "America/Manaus", "BR-AM"),
        ("BR", "AC", "America/Rio_Branco", "BR-AC"),
        ("ES", "GC", "Atlantic/Canary", "ES-GC"),
        ("PT", "PT-20", "Atlantic/Azores", "PT-20"),
    ],
)
def test_a_province_settles_the_zone_of_a_multi_zone_country(
    country: str, province: str, zone: str, where: str
) -> None:
    # Given an address in a country with several zones / When the zone is chosen
    # Then the province settles it, and the reason says so
    assert _zone(country, province, "+4930123456") == (zone, f"from the shipping address ({where})")


@pytest.mark.parametrize(
    ("country", "zone"),
    [
        ("FR", "Europe/Paris"),
        ("GB", "Europe/London"),
        ("JP", "Asia/Tokyo"),
        ("IN", "Asia/Kolkata"),
        ("DE", "Europe/Berlin"),  # Busingen aside
        ("ES", "Europe/Madrid"),  # the Canaries aside
        ("NZ", "Pacific/Auckland"),  # the Chathams aside
    ],
)
def test_a_country_with_one_zone_settles_it_whatever_the_province(country: str, zone: str) -> None:
    # Given an address in a country with one zone (or one that holds most people)
    # When the zone is chosen / Then the country settles it, province or not
    assert _zone(country, "XX") == (zone, f"from the shipping address ({country})")
    assert _zone(country.lower(), None) == (zone, f"from the shipping address ({country})")


def test_a_multi_zone_country_without_province_falls_back_to_the_phone() -> None:
    # Given a US address without a state, and an Oregon number written nationally
    # When the zone is chosen / Then the number, read as a US one, settles it
    assert _zone("US", None, "(503) 555-0100") == (
        "America/Los_Angeles",
        "from the phone number +1 503...",
    )
    # and an unknown state is no better than none
    assert _zone("US", "AA", "+1 212 555 0100")[0] == "America/New_York"


def test_russia_without_a_region_and_with_a_mobile_number_gets_the_shop_zone() -> None:
    # Given an address in Russia (eleven zones) and a mobile number valid in any of them
    # When the zone is chosen / Then neither settles it: the shop's zone
    assert _zone("RU", None, "+7 916 123-45-67") == (SHOP, "the shop's time zone")


# --- from the phone ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "zone", "shown"),
    [
        ("+15035550100", "America/Los_Angeles", "+1 503..."),
        ("+1 212-555-0100", "America/New_York", "+1 212..."),
        ("+49 30 123456", "Europe/Berlin", "+49 30..."),
        ("+44 20 7946 0000", "Europe/London", "+44 20..."),
        ("+61 2 1234 5678", "Australia/Sydney", "+61 2..."),
    ],
)
def test_a_number_with_one_zone_settles_it(phone: str, zone: str, shown: str) -> None:
    # Given no address and a valid number / When the zone is chosen
    # Then the number settles it; the reason shows only country and area code
    assert _zone(None, None, phone) == (zone, f"from the phone number {shown}")


@pytest.mark.parametrize(
    "phone",
    [None, "", "   ", "not a number", "+1 555 555 0100", "12345", "+999 1234", "5035550100"],
)
def test_an_unusable_number_falls_back_to_the_shop(phone: str | None) -> None:
    # Given no address and a missing, invalid or (without a country) ambiguous number
    # When the zone is chosen / Then it is the shop's
    assert _zone(None, None, phone) == (SHOP, "the shop's time zone")


# --- the shop's zone ---------------------------------------------------------------------------


def test_rule_shop_always_uses_the_shop_zone() -> None:
    # Given an Oregon address and number but a policy that says "shop"
    # When the zone is chosen / Then it is the shop's
    assert _zone("US", "OR", "+15035550100", rule=TimezoneRule.SHOP) == (
        SHOP,
        "the shop's time zone",
    )
    assert _zone("US", "OR", None, rule="shop") == (SHOP, "the shop's time zone")  # type: ignore[arg-type]


def test_an_unknown_shop_zone_gives_utc_and_says_why() -> None:
    # Given nothing about the customer and a shop zone that does not exist
    # When the zone is chosen / Then UTC, never an exception
    assert _zone(None, None, None, shop="Mars/Base") == (
        "UTC",
        "UTC (the shop's time zone 'Mars/Base' is unknown)",
    )


@given(
    country=st.none() | st.text(max_size=5),
    province=st.none() | st.text(max_size=8),
    phone=st.none() | st.text(max_size=20) | st.from_regex(r"\+?[0-9 ()-]{0,16}", fullmatch=True),
    shop=st.sampled_from(["UTC", "America/Chicago", "", "Mars/Base", "../x"])
    | st.text(max_size=10),
    rule=st.sampled_from(TimezoneRule),
)
def test_any_input_gives_a_zone_and_never_raises(
    country: str | None, province: str | None, phone: str | None, shop: str, rule: TimezoneRule
) -> None:
    # Given arbitrary, possibly garbage input / When the zone is chosen
    zone, reason = customer_zone(
        country=country, province=province, phone=phone, shop_timezone=shop, rule=rule
    )
    # Then there is a zone and a reason
    assert isinstance(zone, ZoneInfo)
    assert reason


# --- the tables ---------------------------------------------------------------------------------


def test_zone_tab_is_read_from_tzdata() -> None:
    # Given the tz database's zone.tab / When read / Then countries map to their zones
    zones = country_zones()
    assert zones["FR"] == ("Europe/Paris",)
    assert set(zones["DE"]) == {"Europe/Berlin", "Europe/Busingen"}
    assert len(zones["US"]) > 20
    assert len(zones) > 240


@pytest.mark.parametrize("country", PROVINCE_COUNTRIES)
def test_every_province_zone_is_a_zone_of_that_country(country: str) -> None:
    # Given a province table / Then each zone is one the tz database lists for the country
    # (for the US, also the territories Shopify lists as states)
    allowed = set(country_zones()[country])
    if country == "US":
        for territory in ("PR", "VI", "GU", "MP", "AS"):
            allowed |= set(country_zones()[territory])
    table = province_zones(country)
    assert table
    assert set(table.values()) <= allowed


def test_province_tables_cover_every_state_and_province() -> None:
    # Given the five big multi-zone countries / Then every state or province is in the table
    expected = {
        "US": "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT"
        " NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY",
        "CA": "AB BC MB NB NL NS NT NU ON PE QC SK YT",
        "AU": "ACT NSW NT QLD SA TAS VIC WA",
        "MX": "AGS BC BCS CAMP CHIS CHIH CDMX COAH COL DGO GTO GRO HGO JAL MEX MICH MOR NAY NL"
        " OAX PUE QRO QROO SLP SIN SON TAB TAMPS TLAX VER YUC ZAC",
        "BR": "AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC SP SE TO",
    }
    for country, codes in expected.items():
        assert set(codes.split()) <= set(province_zones(country)), country


def test_principal_zones_belong_to_their_countries() -> None:
    # Given the principal-zone table / Then each is one of its country's own zones
    for country, zone in PRINCIPAL_ZONES.items():
        assert zone in country_zones()[country], country
        assert len(country_zones()[country]) > 1, country


# --- phone normalisation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("(503) 555-0100", "US", "+15035550100"),
        ("503.555.0100", "us", "+15035550100"),
        ("+1 503 555 0100", None, "+15035550100"),
        ("030 123456", "DE", "+4930123456"),
        ("+49 151 12345678", "US", "+4915112345678"),
        ("07911 123456", "GB", "+447911123456"),
        ("+44 20 7946 0000", "GB", "+442079460000"),
    ],
)
def test_valid_numbers_become_e164(raw: str, region: str | None, e164: str) -> None:
    # Given a number as a customer typed it / When normalised / Then it is E.164
    assert normalise_phone(raw, region) == e164


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        (None, "US"),
        ("", "US"),
        ("not a number", "US"),
        ("12345", "US"),
        ("+1 555 555 0100", None),  # 555 is not an area code
        ("5035550100", None),  # no country code and no region to read it by
        ("5035550100", "XX"),
        ("030 12", "DE"),
        ("0800 123", "GB"),
        ("+1" + "5" * 80, None),
    ],
)
def test_invalid_numbers_are_none(raw: str | None, region: str | None) -> None:
    # Given something that is not a valid number / When normalised / Then None
    assert normalise_phone(raw, region) is None
