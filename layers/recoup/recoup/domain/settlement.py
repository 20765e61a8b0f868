"""Settlement offers: a discount for paying the rest in full within a number of days, when
the shop enables it, from a chosen step of the sequence (or with the final notice).

Pure. The offer opens when that step's message was sent in the current round and lasts
`pay_within_days`; the discount is `percent` of what is owed, rounded down to a whole minor
unit and never above the shop's cap in that currency. Accounting: a case paid under an
offer recovered what was paid; the discount is written off, never counted as recovered
(`domain/case.py`, `Case.settlement`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from recoup.domain.dunning import Dunning
from recoup.domain.fields import is_int, show
from recoup.domain.instalments import TermsError, minor_amounts
from recoup.domain.money import Money

MIN_PERCENT = 1
MAX_PERCENT = 50
DEFAULT_PERCENT = 10
MIN_DAYS = 1
MAX_DAYS = 30
DEFAULT_DAYS = 7
FINAL_NOTICE = 0  # `from_step`: with the sequence's last step


@dataclass(frozen=True, slots=True)
class SettlementTerms:
    enabled: bool = False
    percent: int = DEFAULT_PERCENT
    max_discount: dict[str, int] = field(default_factory=dict, hash=False)  # per currency
    pay_within_days: int = DEFAULT_DAYS
    from_step: int = FINAL_NOTICE  # 1-based step number; 0: the last step (final notice)


_KEYS = ("enabled", "percent", "max_discount", "pay_within_days", "from_step")


def parse_terms(raw: object, steps: int) -> SettlementTerms:
    """The terms as stored; TermsError naming the field. `steps`: the sequence's length,
    which `from_step` must fall within."""
    if not isinstance(raw, Mapping):
        raise TermsError("", f"must be an object, got {show(raw)}")
    unknown = sorted(str(k) for k in raw if k not in _KEYS)
    if unknown:
        raise TermsError(unknown[0], f"unknown key; allowed keys are {', '.join(sorted(_KEYS))}")
    enabled = raw.get("enabled", False)
    if not isinstance(enabled, bool):
        raise TermsError("enabled", f"must be true or false, got {show(enabled)}")
    percent = _int(raw, "percent", DEFAULT_PERCENT, MIN_PERCENT, MAX_PERCENT)
    days = _int(raw, "pay_within_days", DEFAULT_DAYS, MIN_DAYS, MAX_DAYS)
    from_step = _int(raw, "from_step", FINAL_NOTICE, 0, max(steps, 1))
    return SettlementTerms(
        enabled=enabled,
        percent=percent,
        max_discount=minor_amounts(raw.get("max_discount", {}), "max_discount"),
        pay_within_days=days,
        from_step=from_step,
    )


def terms_to_dict(terms: SettlementTerms) -> dict[str, Any]:
    return {
        "enabled": terms.enabled,
        "percent": terms.percent,
        "max_discount": dict(sorted(terms.max_discount.items())),
        "pay_within_days": terms.pay_within_days,
        "from_step": terms.from_step,
    }


@dataclass(frozen=True, slots=True)
class Offer:
    """An offer open now: pay `pay` (what is owed less `discount`) by `expires_at`."""

    offer_id: str
    owed: Money
    discount: Money
    pay: Money
    percent: int
    opened_at: datetime
    expires_at: datetime


def discount_for(terms: SettlementTerms, owed: Money) -> Money:
    discount = owed.minor * terms.percent // 100
    cap = terms.max_discount.get(owed.currency)
    if cap is not None:
        discount = min(discount, cap)
    return Money.of(discount, owed.currency)


def open_offer(
    terms: SettlementTerms, steps: int, dunning: Dunning | None, owed: Money | None, now: datetime
) -> Offer | None:
    """The offer open for this case now, if any: its step's message went in this round, and
    its days have not run out."""
    if not terms.enabled or dunning is None or owed is None or owed.minor <= 0:
        return None
    index = (terms.from_step or steps) - 1
    sent = next((m for m in dunning.this_round if m.step == index), None)
    if sent is None:
        return None
    expires = sent.at + timedelta(days=terms.pay_within_days)
    if now >= expires:
        return None
    discount = discount_for(terms, owed)
    if discount.minor <= 0:
        return None
    return Offer(
        offer_id=f"s{index + 1}-{dunning.round_from}",
        owed=owed,
        discount=discount,
        pay=owed - discount,
        percent=terms.percent,
        opened_at=sent.at,
        expires_at=expires,
    )


def _int(data: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = data.get(key, default)
    if not is_int(value) or not low <= value <= high:
        raise TermsError(key, f"must be an integer between {low} and {high}, got {show(value)}")
    return int(value)
