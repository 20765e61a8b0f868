"""Personal data is taken out of text bound for the logs; ids an operator needs stay."""

from __future__ import annotations

import pytest

from recoup.redaction import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "The email address is not valid: josé@example.com",
            "The email address is not valid: [email]",
        ),
        ("to <Jane.Doe+billing@mail.example.co.uk>", "to <[email]>"),
        ("phone +13175550187 refused", "phone [phone] refused"),
        ("call +44 20 7946 0958.", "call [phone]."),
        ("(317) 555-0187 and 317-555-0187 and 317.555.0187", "[phone] and [phone] and [phone]"),
        ("from 203.0.113.118 via 2001:db8::8a2e:370:7334", "from [ip] via [ip]"),
        ("client ::ffff:203.0.113.9 connected", "client [ip] connected"),
        ("last seen at fe80::1.", "last seen at [ip]."),
    ],
)
def test_emails_phones_and_addresses_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order 5960359936123456789 for case 5960362711234567891",  # ids beyond 2**53
        "at 2026-11-02T15:15:00+00:00 (15:15:00)",  # times are not IPv6 addresses
        "version 1.2.3.4567 of the SDK, 999.1.1.1",  # not addresses
        "ValidationException: injected fault on TransactWriteItems",
        "pi_3QDemoFailed01 ch_3QDemo acct_1DemoElectronics",
    ],
)
def test_ids_times_and_words_are_kept(text: str) -> None:
    assert redact(text) == text
