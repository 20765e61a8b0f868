"""What an inbound SMS asks for: the carrier keywords as the whole message, a message that
begins with one, and opt-outs in the customer's own words (five languages), told apart from
questions, time preferences, requests for another channel and other text; each reading with
its reason and the language it was said in."""

from __future__ import annotations

import pytest

from recoup.domain.opt_out_text import Intent, Reading, asks_to_stop, read


def assert_free_text_opt_out(reading: Reading, keyword: str | None = None) -> None:
    """An opt-out said in the customer's words (Recoup confirms it), with its reason."""
    assert (reading.intent, reading.said_as, reading.keyword) == (
        Intent.OPT_OUT,
        "free_text",
        keyword,
    )
    assert reading.reason


@pytest.mark.parametrize(
    ("message", "keyword"),
    [
        ("STOP", "STOP"),
        ("stop", "STOP"),
        ("  Stop. ", "STOP"),
        ("STOP!!!", "STOP"),
        ('"stop"', "STOP"),
        ("StopAll", "STOPALL"),
        ("end", "END"),
        ("Cancel", "CANCEL"),
        ("unsubscribe", "UNSUBSCRIBE"),
        ("QUIT", "QUIT"),
        ("revoke", "REVOKE"),
        ("opt out", "OPT OUT"),
        ("Opt-Out!", "OPT OUT"),
        ("OPT  OUT", "OPT OUT"),
        ("optout", "OPTOUT"),
        ("\uff33\uff34\uff2f\uff30", "STOP"),  # full-width, as a Japanese keyboard types it
        ("Arr\u00eat", "ARRET"),
        ("remove", "REMOVE"),  # the sending number's own list holds REMOVE and TD
        ("TD", "TD"),
    ],
)
def test_an_opt_out_keyword_is_the_whole_message_in_any_case(message: str, keyword: str) -> None:
    # Given a keyword with any case, spacing or punctuation around it / When read
    reading = read(message)
    # Then an opt-out said as that keyword (the sending number answers it), saying why
    assert (reading.intent, reading.said_as, reading.keyword) == (
        Intent.OPT_OUT,
        "keyword",
        keyword,
    )
    assert reading.reason == f"the whole message is the keyword {keyword}"


@pytest.mark.parametrize(
    ("message", "intent", "keyword"),
    [
        ("START", Intent.OPT_IN, "START"),
        ("unstop", Intent.OPT_IN, "UNSTOP"),
        ("Yes", Intent.OPT_IN, "YES"),
        ("yes!", Intent.OPT_IN, "YES"),
        ("HELP", Intent.HELP, "HELP"),
        ("help?", Intent.HELP, "HELP"),
        ("Info", Intent.HELP, "INFO"),
    ],
)
def test_opt_in_and_help_keywords(message: str, intent: Intent, keyword: str) -> None:
    reading = read(message)
    assert (reading.intent, reading.said_as, reading.keyword) == (intent, "keyword", keyword)


@pytest.mark.parametrize(
    ("message", "keyword", "language"),
    [
        ("STOP I paid", "STOP", "en"),
        ("Stop texts", "STOP", "en"),
        ("stop these texts", "STOP", "en"),
        ("Stop wrong number", "STOP", "en"),
        ("Stop, wrong number", "STOP", "en"),
        ("STOP - wrong number", "STOP", "en"),
        ("Wrong number, stop", "STOP", "en"),
        ("I paid. STOP. Thanks", "STOP", "en"),
        ("Stop bugging me", "STOP", "en"),
        ("STOP please", "STOP", "en"),
        ("stop it", "STOP", "en"),
        ("STOP. I already paid", "STOP", "en"),
        ("unsubscribe me", "UNSUBSCRIBE", "en"),
        ("Unsubscribe, thanks", "UNSUBSCRIBE", "en"),
        ("opt out please", "OPT OUT", "en"),
        ("END please", "END", "en"),
        ("cancel these texts", "CANCEL", "en"),
        ("Arr\u00eat svp", "ARRET", "fr"),
        ("Arr\u00eate", "ARRETE", "fr"),
        ("STOP bitte", "STOP", "de"),
        ("Stopp", "STOPP", "de"),
        ("BAJA", "BAJA", "es"),
        ("PARA", "PARA", "es"),
        ("Stop texting me?", "STOP", "en"),  # a question, but about the messages
    ],
)
def test_a_message_beginning_with_a_keyword_or_a_keyword_clause_opts_out(
    message: str, keyword: str, language: str
) -> None:
    # Given a message that begins with an opt-out keyword, or holds one as a clause of its
    # own, or a language's own word for it, as the whole message / When read
    reading = read(message)
    # Then an opt-out that Recoup confirms (the number answers only its own keywords, alone),
    # resting on that keyword, in the language it was said in
    assert_free_text_opt_out(reading, keyword)
    assert reading.language == language


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ("Stop? what is this", "asked as a question"),
        ("stop sign", "another sense"),
        ("can I stop by the store?", "neither"),
        ("stop charging my card twice", "another sense"),
        ("cancel my order", "everyday meanings"),
        ("cancel it", "everyday meanings"),
        ("end of the month I can pay", "everyday meanings"),
        ("para ma\u00f1ana", "everyday meanings"),
        ("STOP what?", "does not ask to stop the messages"),
    ],
)
def test_a_keyword_in_another_sense_or_asked_about_is_not_an_opt_out(
    message: str, why: str
) -> None:
    # Given a keyword used for something else, or asked about / When read
    reading = read(message)
    # Then nothing we act on, and the reading says why
    assert reading.intent is Intent.NONE
    assert why in reading.reason


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ("Don't email me, text me instead", "texted instead"),
        ("don't email me the invoice, text it", "texted instead"),
        ("can you stop calling me at 7am and text instead", "texted instead"),
        ("Stop calling, just text me", "texted instead"),
        ("Don't text me after 9pm", "limits when"),
        ("Do not contact me until Friday", "limits when"),
        ("Please don't text me on weekends", "limits when"),
        ("Stop texting me after 9 p.m.", "limits when"),
        ("Bitte keine SMS mehr nach 21 Uhr", "limits when"),
        ("Is there no more messages?", "asking whether"),
        ("Stop? what is this", "question"),
        ("remove me from the waitlist", "everyday meanings"),
        ("take me off the hook", "neither"),
    ],
)
def test_another_channel_a_time_preference_or_an_inquiry_is_not_an_sms_opt_out(
    message: str, why: str
) -> None:
    # Given a message asking for texts rather than email or calls, limiting when, or asking
    # whether / When read
    reading = read(message)
    # Then no opt-out of texts (the customer sets times and channels on their page)
    assert reading.intent is Intent.NONE
    assert why in reading.reason
    assert not asks_to_stop(message)


@pytest.mark.parametrize(
    "message",
    [
        "Stop texting me, I'm at work",  # a time in another clause is context, not a limit
        "STOP texting me. I'm at work until 5",
        "Stop texting me, text my wife instead",
        "Don't text me, only email",
    ],
)
def test_a_time_or_channel_beside_the_request_does_not_undo_it(message: str) -> None:
    assert read(message).intent is Intent.OPT_OUT


OPT_OUTS = [
    # English
    "please stop texting me",
    "Stop texting me!",
    "Please STOP sending me messages",
    "stop sending these texts",
    "can you stop messaging me?",
    "how do I unsubscribe?",
    "don't contact me again",
    "Do not text me",
    "don\u2019t ever call me",
    "remove me from your list",
    "Remove my number from this list",
    "take me off",
    "Take me off your list please",
    "no more messages",
    "No more texts please",
    "leave me alone",
    "I want to opt out",
    "please opt me out",
    "I revoke my consent",
    "I don't want any more texts",
    "I want to stop receiving these messages",
    # German
    "Bitte keine SMS mehr",
    "keine Nachrichten mehr!",
    "Hören Sie auf, mir zu schreiben",
    "Kontaktieren Sie mich nicht mehr",
    "Lassen Sie mich in Ruhe",
    "abmelden",
    "Bitte meine Nummer löschen",
    # French
    "ne plus m'envoyer de messages",
    "Ne m\u2019envoyez plus de messages svp",
    "Arrêtez de m'envoyer des SMS",
    "ne me contactez plus",
    "laissez-moi tranquille",
    "je veux me désabonner",
    "Plus de SMS svp",
    # Spanish
    "no me envíen más mensajes",
    "No me escriban más",
    "dejen de enviarme mensajes",
    "¡Ya no quiero recibir mensajes!",
    "no más mensajes",
    "bórrenme de su lista",
    "déjenme en paz",
    "quiero darme de baja",
    "\u00bfC\u00f3mo me doy de baja?",
    # Japanese
    "配信停止",
    "配信停止してください",
    "もう連絡しないで",
    "メッセージを送らないでください",
    "登録解除",
    "停止",
    "ＳＭＳ停止",
]


@pytest.mark.parametrize("message", OPT_OUTS)
def test_free_text_that_asks_to_stop_is_an_opt_out(message: str) -> None:
    # Given a message asking, in the customer's words, to stop / When read
    reading = read(message)
    # Then an opt-out said as free text (resting on a keyword it begins with, if any), with
    # its reason
    assert_free_text_opt_out(reading, reading.keyword)
    assert reading.language is not None


@pytest.mark.parametrize(
    ("message", "language"),
    [
        ("please stop texting me", "en"),
        ("Bitte keine SMS mehr", "de"),
        ("ne me contactez plus", "fr"),
        ("no m\u00e1s mensajes", "es"),
        ("\u914d\u4fe1\u505c\u6b62", "ja"),
    ],
)
def test_a_free_text_opt_out_tells_its_language(message: str, language: str) -> None:
    assert read(message).language == language


NOT_OPT_OUTS = [
    # English
    "when will my plan end?",
    "can I stop by the store?",
    "stop sign",
    "how do I stop paying twice?",
    "can I cancel the order instead?",
    "stop by the store later",
    "I paid, stop worrying",
    "how do I cancel my order?",
    "cancel my order",
    "I'll stop by tomorrow",
    "please don't cancel my order",
    "yes I will pay tomorrow",
    "the payment ended up failing",
    "stop charging my card twice",
    "end of the month I can pay",
    "can you send me the link again?",
    "text me the total please",
    "remove the cable from my order",
    "no more money until friday, sorry",
    "leave the package at the door",
    "who is this?",
    "I paid already",
    "STOP sign on the box was damaged",
    "Is there a help line?",
    "I quit my job, can I pay later?",
    "please call me back",
    "don't stop the delivery",
    "my bank will stop the payment",
    "",
    "   ",
    # German
    "Wann endet mein Ratenplan?",
    "Ich habe schon bezahlt, keine Sorge",
    "Bitte senden Sie mir die Rechnung",
    "Ich kann nicht mehr warten",
    # French
    "Quand se termine mon plan ?",
    "Pouvez-vous m'envoyer la facture ?",
    "Arrêtez de me facturer deux fois",
    "Je ne peux plus payer ce mois-ci",
    # Spanish
    "¿Cuándo termina mi plan?",
    "Ya pagué, no se preocupe",
    "¿Puedo pasar por la tienda?",
    "No me llegó el enlace",
    "¿Cómo cancelo mi pedido?",
    # Japanese
    "支払いはいつ終わりますか？",
    "もう払いました",
    "店に寄ってもいいですか？",
    "注文をキャンセルするには？",
    "停止したカードで払えますか",
]


@pytest.mark.parametrize("message", NOT_OPT_OUTS)
def test_questions_and_other_text_are_not_opt_outs(message: str) -> None:
    # Given a question or other text, even one holding a keyword / When read
    # Then nothing we act on
    assert read(message).intent is Intent.NONE
    assert not asks_to_stop(message)


def test_the_tables_are_large_enough_each_way() -> None:
    # At least 30 phrases each way, keywords aside
    assert len(OPT_OUTS) >= 30
    assert len(NOT_OPT_OUTS) >= 30


def test_a_reading_never_carries_the_message() -> None:
    # Given a free-text opt-out naming a person / When read / Then the reading holds no words
    for message in ("This is Ada Lovelace, please stop texting me", "STOP Ada Lovelace"):
        reading = read(message)
        assert reading.intent is Intent.OPT_OUT
        assert "Ada" not in repr(reading) and "Lovelace" not in repr(reading)
