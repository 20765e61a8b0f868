"""Money as integer minor units of an ISO 4217 currency; never floats."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from babel.numbers import get_currency_precision, is_currency

# Stripe's own exponents differ from ISO 4217 / CLDR for a few currencies
# (https://docs.stripe.com/currencies#zero-decimal and #special-cases).
_STRIPE_ZERO_DECIMAL = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
_STRIPE_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
# ISK is zero-decimal in ISO but Stripe still represents it with two decimals.
_STRIPE_TWO_DECIMAL_OVERRIDES = frozenset({"ISK"})


# The largest amount a webhook may state: 10^12 major units of any currency (a trillion
# dollars, yen or dinars). In minor units that is at most 10^15 (three-decimal currencies),
# below 2^53, so every accepted amount is also exact as a JavaScript number on the admin page
# and well within DynamoDB's 38 digits; no real order comes near it, even in VND or IDR.
MAX_MAJOR_UNITS = 10**12
# Parsing refuses longer decimals before any arithmetic: an amount has at most 15 integer
# digits and 3 decimals, and "1e999999999" must not become a billion-digit integer.
_MAX_DIGITS = 40
_MAX_ADJUSTED_EXPONENT = 30


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly."""


@cache
def currency_exponent(currency: str) -> int:
    """Number of minor-unit digits of an ISO 4217 currency (USD 2, JPY 0, KWD 3)."""
    code = normalise_currency(currency)
    return int(get_currency_precision(code))


def normalise_currency(currency: str) -> str:
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise MoneyError(f"currency must be a three-letter ISO 4217 code, got {currency!r}")
    code = currency.upper()
    if not is_currency(code):
        raise MoneyError(f"unknown currency {code!r}")
    return code


def stripe_exponent(currency: str) -> int:
    code = normalise_currency(currency)
    if code in _STRIPE_ZERO_DECIMAL:
        return 0
    if code in _STRIPE_THREE_DECIMAL:
        return 3
    return 2  # including _STRIPE_TWO_DECIMAL_OVERRIDES


def max_minor(currency: str) -> int:
    """MAX_MAJOR_UNITS in minor units of `currency` (USD 10^14, JPY 10^12, KWD 10^15)."""
    scale: int = 10 ** currency_exponent(currency)
    return MAX_MAJOR_UNITS * scale


def _shown(amount: object) -> str:
    """An amount for an error message, shortened: messages name the value, not all of it."""
    text = repr(amount)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An exact amount: `minor` units of `currency` (ISO 4217, upper case)."""

    currency: str
    minor: int

    def __post_init__(self) -> None:
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise MoneyError(f"minor units must be an integer, got {self.minor!r}")
        object.__setattr__(self, "currency", normalise_currency(self.currency))

    @classmethod
    def of(cls, minor: int, currency: str) -> Money:
        return cls(currency=currency, minor=minor)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(currency=currency, minor=0)

    @classmethod
    def parse(cls, amount: str | int, currency: str) -> Money:
        """Parse a decimal amount as Shopify sends it ("1899.00", "129800")."""
        if isinstance(amount, bool | float):
            raise MoneyError(f"amount must be a decimal string, got {amount!r}")
        try:
            value = Decimal(str(amount).strip())
        except InvalidOperation:
            raise MoneyError(f"amount {_shown(amount)} is not a decimal number") from None
        if not value.is_finite():
            raise MoneyError(f"amount {_shown(amount)} is not finite")
        sign, digits, exp = value.as_tuple()
        if len(digits) > _MAX_DIGITS or value.adjusted() > _MAX_ADJUSTED_EXPONENT:
            raise MoneyError(f"amount {_shown(amount)} is too large or too long")
        assert isinstance(exp, int)  # finite, so never 'n', 'N' or 'F'
        exponent = currency_exponent(currency)
        # Exact integer arithmetic: Decimal.scaleb would round to the context's 28 digits.
        coefficient = int("".join(map(str, digits)))
        shift = exp + exponent
        if shift >= 0:
            minor = coefficient * 10**shift
        elif coefficient == 0:
            minor = 0
        elif -shift >= len(digits) or coefficient % 10**-shift:
            raise MoneyError(
                f"amount {_shown(amount)} has more decimals than {currency.upper()} allows "
                f"({exponent})"
            )
        else:
            minor = coefficient // 10**-shift
        return cls(currency=currency, minor=-minor if sign else minor)

    @classmethod
    def from_stripe(cls, amount: int, currency: str) -> Money:
        """Convert a Stripe amount (Stripe's minor units) to ISO minor units."""
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise MoneyError(f"Stripe amount must be an integer, got {_shown(amount)}")
        if abs(amount) >= 10**_MAX_ADJUSTED_EXPONENT:
            raise MoneyError(f"Stripe amount {_shown(amount)} is too large")
        shift = stripe_exponent(currency) - currency_exponent(currency)
        if shift <= 0:
            return cls(currency=currency, minor=amount * 10 ** (-shift))
        factor = 10**shift
        if amount % factor:
            raise MoneyError(f"Stripe amount {amount} {currency.upper()} is not a whole unit")
        return cls(currency=currency, minor=amount // factor)

    def within_bounds(self) -> bool:
        """Whether an amount a partner states is one Recoup accepts: not negative and at
        most MAX_MAJOR_UNITS of its currency."""
        return 0 <= self.minor <= max_minor(self.currency)

    def to_stripe(self) -> int:
        """This amount in Stripe's minor units (ISK: two decimals, as Stripe wants)."""
        shift = stripe_exponent(self.currency) - currency_exponent(self.currency)
        factor: int = 10 ** abs(shift)
        return self.minor * factor if shift >= 0 else self.minor // factor

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.currency, self.minor + other.minor)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.currency, self.minor - other.minor)

    @property
    def decimal(self) -> Decimal:
        return Decimal(self.minor).scaleb(-currency_exponent(self.currency))

    def __str__(self) -> str:
        exponent = currency_exponent(self.currency)
        return f"{self.currency} {self.decimal:,.{exponent}f}"

    def to_dict(self) -> dict[str, Any]:
        return {"minor": self.minor, "currency": self.currency}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Money:
        return cls(currency=data["currency"], minor=data["minor"])
