"""What an order charges besides its items: subtotal, taxes, shipping and discounts, as the
platform stated them (for the case file; nothing is computed from them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recoup.domain.money import Money


@dataclass(frozen=True, slots=True)
class ChargeLine:
    kind: str  # "tax", "shipping" or "discount"
    title: str
    amount: Money
    rate: str | None = None  # a tax line's rate as sent ("0.2")


@dataclass(frozen=True, slots=True)
class OrderCharges:
    subtotal: Money | None = None  # the items after discounts, before shipping and taxes
    total_tax: Money | None = None
    total_shipping: Money | None = None
    total_discounts: Money | None = None
    taxes_included: bool = False  # the item prices include the taxes
    lines: tuple[ChargeLine, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrderCharges:
        def money(value: Any) -> Money | None:
            return Money.from_dict(value) if value else None

        return cls(
            subtotal=money(data.get("subtotal")),
            total_tax=money(data.get("total_tax")),
            total_shipping=money(data.get("total_shipping")),
            total_discounts=money(data.get("total_discounts")),
            taxes_included=bool(data.get("taxes_included")),
            lines=tuple(
                ChargeLine(
                    str(line["kind"]),
                    str(line["title"]),
                    Money.from_dict(line["amount"]),
                    line.get("rate"),
                )
                for line in data.get("lines") or ()
            ),
        )


__all__ = ["ChargeLine", "OrderCharges"]
