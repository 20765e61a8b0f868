"""SMS length and segments: GSM-7 septets (the extension table counts two), else UCS-2 in
UTF-16 code units; 160/153 and 70/67 at the boundaries."""

from __future__ import annotations

import pytest

from recoup.channels.sms_segments import SmsSize, measure


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SmsSize("GSM-7", 0, 0, 160)),
        ("a" * 160, SmsSize("GSM-7", 160, 1, 160)),
        ("a" * 161, SmsSize("GSM-7", 161, 2, 153)),
        ("a" * 306, SmsSize("GSM-7", 306, 2, 153)),
        ("a" * 307, SmsSize("GSM-7", 307, 3, 153)),
        ("€", SmsSize("GSM-7", 2, 1, 160)),
        ("a" * 158 + "€", SmsSize("GSM-7", 160, 1, 160)),
        ("a" * 159 + "€", SmsSize("GSM-7", 161, 2, 153)),
        ("Ä" * 160, SmsSize("GSM-7", 160, 1, 160)),  # in the basic set
        ("ж" * 70, SmsSize("UCS-2", 70, 1, 70)),
        ("ж" * 71, SmsSize("UCS-2", 71, 2, 67)),
        ("😀", SmsSize("UCS-2", 2, 1, 70)),
        ("a" * 68 + "😀", SmsSize("UCS-2", 70, 1, 70)),
        ("a" * 69 + "😀", SmsSize("UCS-2", 71, 2, 67)),
    ],
)
def test_length_and_segments_at_the_boundaries(text: str, expected: SmsSize) -> None:
    # Given a text / When measured / Then its encoding, units and segments are the standard's
    assert measure(text) == expected


def test_a_two_unit_character_is_never_split_across_segments() -> None:
    # Given 152 septets then "€" (2 septets): 154 in all, over one 153-septet segment
    text = "a" * 152 + "€" + "a" * 10
    # When measured / Then the escape pair moves whole to the second segment: 164 septets, 2
    assert measure(text) == SmsSize("GSM-7", 164, 2, 153)
    # Given 66 units, an emoji (a surrogate pair), 66 units: 134 in all
    emoji = "ж" * 66 + "😀" + "ж" * 66
    # Then the pair starts segment 2 (66 + 2 > 67), which fills at 67: three segments
    assert measure(emoji) == SmsSize("UCS-2", 134, 3, 67)


def test_one_character_outside_gsm_makes_the_whole_text_ucs2() -> None:
    # Given a GSM text with one curly quote / Then all of it is UCS-2 (70 per message)
    assert measure("It’s paid").encoding == "UCS-2"
    assert measure("It's paid {ok} [1] ~ | ^ \\").encoding == "GSM-7"
    # 26 characters, 8 of them from the extension table (two septets each)
    assert measure("It's paid {ok} [1] ~ | ^ \\").length == 26 + 8
