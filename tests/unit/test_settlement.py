"""Settlement offers: when one opens and closes, its discount, its cap, and the terms'
bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recoup.domain.dunning import Dunning, DunningStatus, SentMessage
from recoup.domain.instalments import TermsError
from recoup.domain.money import Money
from recoup.domain.settlement import discount_for, open_offer, parse_terms, terms_to_dict

SENT = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
OWED = Money.of(90000, "USD")


def _sent(*steps: int) -> Dunning:
    messages = tuple(
        SentMessage(step, "email", SENT + timedelta(days=i), "id", "firm", 90000, "USD")
        for i, step in enumerate(steps)
    )
    return Dunning(DunningStatus.SCHEDULED, next_step=len(steps), sent=messages)


def test_terms_round_trip_and_refuse_values_outside_their_bounds() -> None:
    terms = parse_terms(
        {"enabled": True, "percent": 20, "max_discount": {"usd": 5000}, "from_step": 2}, 3
    )
    assert parse_terms(terms_to_dict(terms), 3) == terms
    for raw, field in (
        ({"percent": 0}, "percent"),
        ({"percent": 51}, "percent"),
        ({"pay_within_days": 31}, "pay_within_days"),
        ({"from_step": 4}, "from_step"),
        ({"max_discount": {"USD": -5}}, "max_discount.USD"),
        ({"enabled": 1}, "enabled"),
    ):
        with pytest.raises(TermsError) as caught:
            parse_terms(raw, 3)
        assert caught.value.field == field
    parse_terms({"percent": 50, "pay_within_days": 30, "from_step": 3}, 3)


def test_the_offer_opens_with_its_step_and_lasts_its_days() -> None:
    terms = parse_terms({"enabled": True, "percent": 10, "pay_within_days": 7, "from_step": 2}, 3)
    assert open_offer(terms, 3, _sent(0), OWED, SENT) is None  # step 2 not sent yet
    dunning = _sent(0, 1)
    step_two_at = SENT + timedelta(days=1)
    offer = open_offer(terms, 3, dunning, OWED, step_two_at + timedelta(days=6, hours=23))
    assert offer is not None
    assert (offer.discount, offer.pay) == (Money.of(9000, "USD"), Money.of(81000, "USD"))
    assert offer.expires_at == step_two_at + timedelta(days=7)
    assert open_offer(terms, 3, dunning, OWED, step_two_at + timedelta(days=7)) is None


def test_with_the_final_notice_by_default_and_never_when_disabled() -> None:
    final = parse_terms({"enabled": True}, 3)
    assert open_offer(final, 3, _sent(0, 1), OWED, SENT + timedelta(days=2)) is None
    assert open_offer(final, 3, _sent(0, 1, 2), OWED, SENT + timedelta(days=3)) is not None
    off = parse_terms({"enabled": False}, 3)
    assert open_offer(off, 3, _sent(0, 1, 2), OWED, SENT + timedelta(days=3)) is None


def test_the_discount_is_rounded_down_and_never_above_the_cap() -> None:
    terms = parse_terms({"enabled": True, "percent": 15, "max_discount": {"USD": 5000}}, 3)
    assert discount_for(terms, Money.of(999, "USD")) == Money.of(149, "USD")
    assert discount_for(terms, OWED) == Money.of(5000, "USD")  # 13,500 capped
    assert discount_for(terms, Money.of(90000, "EUR")) == Money.of(13500, "EUR")  # no EUR cap
