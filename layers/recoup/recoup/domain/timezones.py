"""The customer's time zone, for quiet hours: from the address, else the phone, else the shop.

Times are UTC inside Recoup; a customer's zone is used only at the edge, to decide whether it
is night where they are. Nothing here raises on bad input: an unknown country, province or
number falls through to the next source, and finally to the shop's zone (or UTC).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from recoup.domain.cadence import TimezoneRule, zone_from_name

if TYPE_CHECKING:
    import phonenumbers

    from recoup.domain.cadence import ReminderPolicy
    from recoup.domain.events import Customer

SHOP_REASON = "the shop's time zone"

# Multi-zone countries: state or province code (as Shopify's `province_code` or the part of
# ISO 3166-2 after the country) -> zone. One line per zone. A state or province split
# between zones goes to the zone where most of its people live; the comments say which
# part is left out.
_PROVINCE_TABLES = {
    "US": """
        America/New_York: CT DC DE GA MA MD ME NC NH NJ NY OH PA RI SC VA VT WV
        America/New_York: FL  # the western panhandle is Central
        America/New_York: KY  # the western half (Bowling Green, Paducah) is Central
        America/Detroit: MI  # four counties on the Wisconsin border are Central
        America/Indiana/Indianapolis: IN  # the Chicago and Evansville corners are Central
        America/Chicago: AL AR IA IL LA MN MO MS OK WI
        America/Chicago: TN  # East Tennessee (Knoxville, Chattanooga) is Eastern
        America/Chicago: TX  # El Paso and Hudspeth are Mountain
        America/Chicago: KS NE  # their western counties are Mountain
        America/Chicago: ND SD  # their south-western parts are Mountain
        America/Denver: CO MT NM UT WY
        America/Boise: ID  # the northern panhandle is Pacific
        America/Phoenix: AZ  # no DST; the Navajo Nation (a minority) keeps it
        America/Los_Angeles: CA WA
        America/Los_Angeles: NV  # West Wendover is Mountain
        America/Los_Angeles: OR  # most of Malheur County is Mountain
        America/Anchorage: AK  # the western Aleutians are Hawaii-Aleutian
        Pacific/Honolulu: HI
        America/Puerto_Rico: PR
        America/St_Thomas: VI
        Pacific/Guam: GU
        Pacific/Saipan: MP
        Pacific/Pago_Pago: AS
    """,
    "CA": """
        America/St_Johns: NL  # Labrador (a minority) keeps Atlantic time
        America/Halifax: NS PE
        America/Moncton: NB
        America/Toronto: ON  # the north-west (Kenora, Thunder Bay's west) is Central
        America/Toronto: QC  # the Magdalen Islands and the Lower North Shore are Atlantic
        America/Winnipeg: MB
        America/Regina: SK  # Lloydminster keeps Alberta's time
        America/Edmonton: AB
        America/Edmonton: NT  # Inuvik's region (a minority) is America/Inuvik, also Mountain
        America/Vancouver: BC  # the north-east and Creston keep Mountain Standard Time
        America/Whitehorse: YT
        America/Iqaluit: NU  # Kivalliq (Central) and Kitikmeot (Mountain) hold less than half
    """,
    "AU": """
        Australia/Sydney: NSW ACT JBT  # NSW: Broken Hill keeps South Australia's time
        Australia/Melbourne: VIC
        Australia/Brisbane: QLD
        Australia/Adelaide: SA
        Australia/Perth: WA  # Eucla (a few hundred people) is UTC+8:45
        Australia/Hobart: TAS
        Australia/Darwin: NT
    """,
    # Shopify's codes first, then ISO 3166-2's where they differ.
    "MX": """
        America/Mexico_City: AGS AGU DF CDMX CMX COL CHIS CHP GTO GUA GRO HGO HID JAL MEX EM
        America/Mexico_City: MICH MIC MOR OAX PUE QRO QUE SLP TAB TLAX TLA VER ZAC
        America/Monterrey: COAH COA  # Piedras Negras and Acuna follow US DST
        America/Monterrey: NL NLE DGO DUR
        # Reynosa, Matamoros, Nuevo Laredo, Rio Bravo and the other border municipalities,
        # which follow US DST, hold just over half of Tamaulipas's people (2020 census).
        America/Matamoros: TAMPS TAM
        America/Chihuahua: CHIH CHH  # Ciudad Juarez (about 40%) follows US Mountain DST
        America/Merida: CAMP CAM YUC
        America/Cancun: QROO ROO
        America/Mazatlan: BCS SIN
        America/Mazatlan: NAY  # Bahia de Banderas is Central
        America/Hermosillo: SON
        America/Tijuana: BC BCN
    """,
    "BR": """
        America/Sao_Paulo: DF ES GO MG PR RJ RS SC SP
        America/Fortaleza: CE MA PB PI RN
        America/Recife: PE  # Fernando de Noronha is America/Noronha
        America/Maceio: AL SE
        America/Bahia: BA
        America/Araguaina: TO
        America/Belem: AP
        America/Belem: PA  # the west (Santarem) is America/Santarem, the same offset
        America/Campo_Grande: MS
        America/Cuiaba: MT
        America/Porto_Velho: RO
        America/Boa_Vista: RR
        America/Manaus: AM  # the far west (Eirunepe) is an hour behind
        America/Rio_Branco: AC
    """,
    # Island provinces an hour behind the mainland.
    "ES": """
        Atlantic/Canary: GC TF
    """,
    "PT": """
        Atlantic/Azores: 20
        Atlantic/Madeira: 30
    """,
}

# Multi-zone countries where one zone holds most of the people (the others: islands,
# exclaves, sparsely populated regions, or zones on the same clock): the address gives that
# zone when its province does not say otherwise. Russia, the DR Congo and a few others are
# left out on purpose: too many people live outside any one zone.
_PRINCIPAL_ZONES: dict[str, str] = {
    "AR": "America/Argentina/Buenos_Aires",  # all of Argentina keeps UTC-3
    "CL": "America/Santiago",
    "CN": "Asia/Shanghai",
    "CY": "Asia/Nicosia",
    "DE": "Europe/Berlin",  # Busingen, an exclave of 1,500 people, keeps Swiss time
    "EC": "America/Guayaquil",
    "ES": "Europe/Madrid",
    "FM": "Pacific/Chuuk",
    "GL": "America/Nuuk",
    "ID": "Asia/Jakarta",  # Java and Sumatra
    "KI": "Pacific/Tarawa",
    "KZ": "Asia/Almaty",  # one zone, UTC+5, since March 2024
    "MH": "Pacific/Majuro",
    "MN": "Asia/Ulaanbaatar",
    "MY": "Asia/Kuala_Lumpur",  # Sabah and Sarawak are on the same clock
    "NZ": "Pacific/Auckland",
    "PF": "Pacific/Tahiti",
    "PG": "Pacific/Port_Moresby",
    "PT": "Europe/Lisbon",
    "UA": "Europe/Kyiv",
    "UZ": "Asia/Tashkent",
}

# Read-only views of the tables above.
PROVINCE_COUNTRIES: tuple[str, ...] = tuple(sorted(_PROVINCE_TABLES))
PRINCIPAL_ZONES: Mapping[str, str] = MappingProxyType(_PRINCIPAL_ZONES)

_COUNTRY = re.compile(r"[A-Z]{2}")
_UNKNOWN_ZONE = "Etc/Unknown"  # what phonenumbers answers when it cannot tell


def zone_of_customer(customer: Customer | None, policy: ReminderPolicy) -> ZoneInfo:
    """The customer's zone as the sender reckons it under the shop's policy (its zone and
    rule): where quiet hours, a promise's date and a final notice's date are read."""
    country = customer.country if customer else None
    zone, _ = customer_zone(
        country=country,
        province=customer.province if customer else None,
        phone=normalise_phone(customer.phone if customer else None, country),
        shop_timezone=policy.shop_timezone,
        rule=policy.timezone_rule,
    )
    return zone


def customer_zone(
    *,
    country: str | None,
    province: str | None,
    phone: str | None,
    shop_timezone: str,
    rule: TimezoneRule | str,
) -> tuple[ZoneInfo, str]:
    """The zone to apply quiet hours in, and why, in words.

    Rule "shop": the shop's zone. Rule "customer": the address when its country (and, for a
    country with several zones, its province) settles one zone; else the phone number when
    it belongs to exactly one zone; else the shop's zone. A shop zone that does not exist
    gives UTC. Never raises.
    """
    if str(rule) != TimezoneRule.SHOP:
        found = address_zone(country, province)
        if found is not None:
            zone, where = found
            return zone, f"from the shipping address ({where})"
        found = phone_zone(phone, country)
        if found is not None:
            zone, shown = found
            return zone, f"from the phone number {shown}"
    shop = zone_from_name(shop_timezone)
    if shop is None:
        return ZoneInfo("UTC"), f"UTC (the shop's time zone {shop_timezone!r} is unknown)"
    return shop, SHOP_REASON


def address_zone(country: str | None, province: str | None) -> tuple[ZoneInfo, str] | None:
    """The zone an address settles, with the code that settled it ("US-OR", "DE")."""
    code = _country(country)
    if code is None:
        return None
    region = _province(code, province)
    if region is not None:
        name = province_zones(code).get(region)
        if name is not None:
            zone = zone_from_name(name)
            if zone is not None:
                return zone, f"{code}-{region}"
    zones = country_zones().get(code, ())
    name = zones[0] if len(zones) == 1 else _PRINCIPAL_ZONES.get(code)
    if name is None:
        return None
    zone = zone_from_name(name)
    return (zone, code) if zone is not None else None


def phone_zone(phone: str | None, country: str | None = None) -> tuple[ZoneInfo, str] | None:
    """The zone of a valid number that belongs to exactly one, and the number as shown in a
    reason: country code and area code only ("+1 503...")."""
    number = _parse_phone(phone, _country(country))
    if number is None:
        return None
    import phonenumbers
    from phonenumbers import timezone as phone_timezones

    names = phone_timezones.time_zones_for_number(number)
    if len(names) != 1 or names[0] == _UNKNOWN_ZONE:
        return None
    zone = zone_from_name(names[0])
    if zone is None:
        return None
    national = phonenumbers.national_significant_number(number)
    area = national[: phonenumbers.length_of_national_destination_code(number)]
    shown = f"+{number.country_code} {area}..." if area else f"+{number.country_code}..."
    return zone, shown


def normalise_phone(raw: str | None, default_region: str | None) -> str | None:
    """The number in E.164 ("+15035550100"), or None when it is not a valid number.
    `default_region` (ISO 3166-1 alpha-2) reads numbers written without a country code."""
    number = _parse_phone(raw, _country(default_region))
    if number is None:
        return None
    import phonenumbers

    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@cache
def country_zones() -> dict[str, tuple[str, ...]]:
    """ISO country code -> its zones, from the tz database's zone.tab (shipped by tzdata)."""
    from importlib import resources  # only here: it costs ~80 ms to import cold

    try:
        text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text("utf-8")
    except (ModuleNotFoundError, OSError):  # no tzdata package: the address settles nothing
        return {}
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) >= 3:
            table.setdefault(fields[0], []).append(fields[2])
    return {code: tuple(zones) for code, zones in table.items()}


@cache
def province_zones(country: str) -> dict[str, str]:
    """Province code -> zone for the countries that have a table; {} for the others."""
    table: dict[str, str] = {}
    for line in _PROVINCE_TABLES.get(country, "").splitlines():
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        zone, codes = entry.split(":", 1)
        for code in codes.split():
            table[code] = zone.strip()
    return table


def _country(raw: str | None) -> str | None:
    if not isinstance(raw, str):
        return None
    code = raw.strip().upper()
    return code if _COUNTRY.fullmatch(code) else None


def _province(country: str, raw: str | None) -> str | None:
    if not isinstance(raw, str):
        return None
    code = re.sub(r"[\s.]", "", raw).upper()
    code = code.removeprefix(f"{country}-")
    return code or None


def _parse_phone(raw: str | None, region: str | None) -> phonenumbers.PhoneNumber | None:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 64:
        return None
    # Imported by the callers that have a number to read (sending, SMS feedback, erasure),
    # not by every function that reads a zone or merely imports this module.
    import phonenumbers

    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


__all__ = [
    "PRINCIPAL_ZONES",
    "PROVINCE_COUNTRIES",
    "address_zone",
    "country_zones",
    "customer_zone",
    "normalise_phone",
    "phone_zone",
    "province_zones",
    "zone_of_customer",
]
