"""A case without its customer: what a privacy request matches, what erasure removes and
keeps, and the scrubbing of free text. Pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from recoup.domain.case import Case, apply, new_case
from recoup.domain.erasure import (
    ERASED,
    Identifiers,
    Subject,
    erase_customer,
    holds_personal_data,
    personal_values,
    scrub,
)
from recoup.domain.events import (
    Customer,
    DomainEvent,
    Fact,
    OrderSnapshot,
    PaymentAttempt,
    Source,
)
from recoup.domain.money import Money

AT = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)
RYAN = Customer(
    customer_id="7412591852369470583",
    email="Ryan.Mitchell@example.com",
    phone="(317) 555-0187",
    first_name="Ryan",
    last_name="Mitchell",
    locale="en-US",
    country="US",
    province="IN",
    zip="46205",
    address1="5120 N College Ave",
    city="Indianapolis",
)
SIGNALS = {
    "billing_name": "ryan mitchell",
    "shipping_postcode": "46205",
    "browser_ip": "203.0.113.118",
    "email": "ryan.mitchell@example.com",
    "billing_country": "US",
    "stripe_risk_score": 12,
}


def ryans_case(case_id: str = "5960362711234567891") -> Case:
    opened = DomainEvent(
        event_id="wh-1",
        source=Source.SHOPIFY,
        kind="orders/create",
        shop="demo.myshopify.com",
        case_id=case_id,
        occurred_at=AT,
        fact=Fact.UNPAID,
        snapshot=OrderSnapshot(
            amount_owed=Money.parse("1442.36", "USD"),
            order_total=Money.parse("1442.36", "USD"),
            order_name="#1044",
            customer=RYAN,
            pay_url="https://demo.myshopify.com/84736291015/orders/e7a1/authenticate?key=0f2e",
        ),
        signals=SIGNALS,
    )
    failed = DomainEvent(
        event_id="evt-2",
        source=Source.STRIPE,
        kind="charge.failed",
        shop="demo.myshopify.com",
        case_id=case_id,
        occurred_at=AT,
        fact=Fact.PAYMENT_FAILED,
        attempt=PaymentAttempt(
            "ch_1",
            Source.STRIPE,
            False,
            AT,
            Money.parse("1442.36", "USD"),
            "card_declined",
            "Declined",
            "fp_9",
        ),
    )
    return apply(apply(new_case("demo.myshopify.com", case_id), opened).case, failed).case


def test_erasure_removes_the_person_and_keeps_the_books() -> None:
    # Given Ryan's case, with his customer record, personal signals, a card and a pay link
    case = ryans_case()
    assert holds_personal_data(case)
    # When his data is erased
    erased = erase_customer(case)
    # Then no customer, pay link, personal signal or card fingerprint is left
    assert erased.snapshot is not None
    assert erased.snapshot.customer is None and erased.snapshot.pay_url is None
    assert erased.signal_values() == {"billing_country": "US", "stripe_risk_score": 12}
    assert [a.card_fingerprint for a in erased.attempts] == [None]
    assert not holds_personal_data(erased)
    # and ids, amounts, the attempt and its code, the status and the events stay
    assert (erased.case_id, erased.status, erased.event_ids) == (
        case.case_id,
        case.status,
        case.event_ids,
    )
    assert erased.amount_owed == Money.parse("1442.36", "USD")
    assert erased.snapshot.order_name == "#1044"
    assert [(a.attempt_id, a.code) for a in erased.attempts] == [("ch_1", "card_declined")]
    # and nothing personal is left to find in the stored document
    stored = str(Case.from_dict(erased.to_dict()).to_dict()).casefold()
    assert [v for v in personal_values(case) if v.casefold() in stored] == []
    # and erasing again changes nothing
    assert erase_customer(erased) == erased


@pytest.mark.parametrize(
    ("subject", "matches"),
    [
        (Subject("7412591852369470583", None, None), True),
        (Subject("1", "ryan.mitchell@EXAMPLE.com ", None), True),
        (Subject("1", None, "+13175550187"), True),  # the same number, written otherwise
        (Subject("1", None, None, frozenset({"5960362711234567891"})), True),
        (Subject("1", "daniel.okafor@example.com", "+15035550142"), False),
        (Subject("1", None, None, frozenset({"5960359936123456789"})), False),
    ],
)
def test_a_request_matches_the_customers_cases_by_id_email_phone_or_order(
    subject: Subject, matches: bool
) -> None:
    # Given Ryan's case / When a request's subject is compared / Then it matches only him
    assert subject.matches(ryans_case()) is matches


def test_identifiers_gather_every_form_the_customer_may_be_keyed_by() -> None:
    # Given a request naming Ryan by id and email, and his case
    subject = Subject("7412591852369470583", "ryan.mitchell@example.com", None)
    # When the identifiers are gathered
    who = Identifiers.of(subject, [ryans_case()])
    # Then ids, lower-case emails, and phones as written and as E.164 are all there
    assert who.customer_ids == {"7412591852369470583"}
    assert who.emails == {"ryan.mitchell@example.com"}
    assert who.phones == {"(317) 555-0187", "+13175550187"}


def test_scrub_replaces_only_the_strings_that_quote_the_customer() -> None:
    # Given fraud notes, some quoting Ryan's values
    notes = {
        "notes": ["browser_ip: '203.0.113.118' is not public", "shipping_country: 'USA'"],
        "reasons": [{"text": "Ryan Mitchell ships far away", "weight": 10}],
        "score": 40,
    }
    # When they are scrubbed with his values
    scrubbed = scrub(notes, personal_values(ryans_case()))
    # Then only the quoting strings are replaced; other values stay as they were
    assert scrubbed == {
        "notes": [ERASED, "shipping_country: 'USA'"],
        "reasons": [{"text": ERASED, "weight": 10}],
        "score": 40,
    }
