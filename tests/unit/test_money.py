from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recoup.domain.money import MAX_MAJOR_UNITS, Money, MoneyError, currency_exponent, max_minor


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("1899.00", "USD", 189900),
        ("0.5", "eur", 50),
        ("129800", "JPY", 129800),
        ("1.234", "KWD", 1234),
        ("0", "GBP", 0),
    ],
)
def test_parses_shopify_decimal_strings_exactly(amount: str, currency: str, minor: int) -> None:
    # Given a decimal string as Shopify sends it / When parsed / Then minor units are exact
    money = Money.parse(amount, currency)
    assert money.minor == minor
    assert money.currency == currency.upper()


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("1.001", "USD", "more decimals"),
        ("12.5", "JPY", "more decimals"),
        ("abc", "USD", "not a decimal"),
        ("NaN", "USD", "not finite"),
        ("1.00", "ZZZ", "unknown currency"),
        ("1.00", "US", "three-letter"),
    ],
)
def test_refuses_what_it_cannot_represent(amount: str, currency: str, message: str) -> None:
    with pytest.raises(MoneyError, match=message):
        Money.parse(amount, currency)


def test_refuses_floats_and_bools() -> None:
    with pytest.raises(MoneyError):
        Money.parse(19.99, "USD")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money(currency="USD", minor=True)


@pytest.mark.parametrize(
    ("stripe_amount", "currency", "minor"),
    [
        (189900, "usd", 189900),
        (129800, "jpy", 129800),
        (1234, "kwd", 1234),
        (50000, "isk", 500),
    ],  # Stripe still sends ISK with two decimals; ISO has none
)
def test_converts_stripe_minor_units(stripe_amount: int, currency: str, minor: int) -> None:
    assert Money.from_stripe(stripe_amount, currency).minor == minor


def test_stripe_isk_amount_that_is_not_whole_is_refused() -> None:
    with pytest.raises(MoneyError, match="whole unit"):
        Money.from_stripe(12345, "isk")


def test_arithmetic_refuses_mixed_currencies() -> None:
    with pytest.raises(MoneyError, match="cannot combine"):
        Money.of(100, "USD") + Money.of(100, "EUR")


def test_formats_with_the_currency_exponent() -> None:
    assert str(Money.of(189900, "USD")) == "USD 1,899.00"
    assert str(Money.of(129800, "JPY")) == "JPY 129,800"
    assert currency_exponent("BHD") == 3


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(["USD", "JPY", "KWD"]))
def test_round_trips_through_its_decimal_form(minor: int, currency: str) -> None:
    money = Money.of(minor, currency)
    assert Money.parse(str(money.decimal), currency) == money
    assert Money.from_dict(money.to_dict()) == money
    assert money.decimal == Decimal(minor).scaleb(-currency_exponent(currency))


@pytest.mark.parametrize(
    "amount",
    ["1e308", "1E+999999999999999999", "9" * 400, "-" + "9" * 41, "1e31"],
)
def test_absurd_magnitudes_are_refused_before_any_arithmetic(amount: str) -> None:
    # Decimal.scaleb used to overflow (decimal.Overflow, not a MoneyError) or build a
    # 300-digit integer; now they are a MoneyError at once.
    with pytest.raises(MoneyError, match="too large or too long"):
        Money.parse(amount, "USD")


def test_more_digits_than_decimal_precision_are_not_rounded_into_a_whole_amount() -> None:
    # 32 significant digits: scaleb at Decimal's 28-digit precision rounded this to 100 cents.
    with pytest.raises(MoneyError, match="more decimals"):
        Money.parse("1.0000000000000000000000000000001", "USD")
    assert Money.parse("1.000000000000000000000000000000", "USD") == Money.of(100, "USD")
    assert Money.parse("-0.00", "USD") == Money.zero("USD")
    assert Money.parse("1.5E+2", "JPY") == Money.of(150, "JPY")


@pytest.mark.parametrize(
    ("currency", "largest"),
    [("USD", 10**14), ("JPY", 10**12), ("KWD", 10**15), ("ISK", 10**12)],
)
def test_the_largest_accepted_amount_is_a_trillion_major_units(currency: str, largest: int) -> None:
    assert max_minor(currency) == largest == MAX_MAJOR_UNITS * 10 ** currency_exponent(currency)
    assert largest < 2**53  # exact as a JavaScript number on the admin page
    assert Money.of(largest, currency).within_bounds()
    assert not Money.of(largest + 1, currency).within_bounds()
    assert not Money.of(-1, currency).within_bounds()
    assert Money.of(0, currency).within_bounds()


def test_a_stripe_amount_of_absurd_size_is_refused() -> None:
    with pytest.raises(MoneyError, match="too large"):
        Money.from_stripe(10**400, "usd")
