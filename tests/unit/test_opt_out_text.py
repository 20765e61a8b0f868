"""What an inbound SMS asks for: the carrier keywords as the whole message, and opt-outs in
the customer's own words (five languages), told apart from questions and other text."""

from __future__ import annotations

import pytest

from recoup.domain.opt_out_text import Intent, Reading, asks_to_stop, read


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
    ],
)
def test_an_opt_out_keyword_is_the_whole_message_in_any_case(message: str, keyword: str) -> None:
    # Given a keyword with any case, spacing or punctuation around it / When read
    # Then an opt-out said as that keyword
    assert read(message) == Reading(Intent.OPT_OUT, "keyword", keyword)


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
    assert read(message) == Reading(intent, "keyword", keyword)


OPT_OUTS = [
    # English
    "please stop texting me",
    "Stop texting me!",
    "Please STOP sending me messages",
    "stop sending these texts",
    "can you stop messaging me?",
    "STOP please",
    "stop it",
    "STOP. I already paid",
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
    "unsubscribe me",
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
    # Then an opt-out said as free text, with no keyword
    assert read(message) == Reading(Intent.OPT_OUT, "free_text")


NOT_OPT_OUTS = [
    # English
    "when will my plan end?",
    "can I stop by the store?",
    "stop sign",
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
    assert read(message) == Reading(Intent.NONE)
    assert not asks_to_stop(message)


def test_the_tables_are_large_enough_each_way() -> None:
    # The brief asks for at least 30 phrases each way, keywords aside
    assert len(OPT_OUTS) >= 30
    assert len(NOT_OPT_OUTS) >= 30


def test_a_reading_never_carries_the_message() -> None:
    # Given a free-text opt-out naming a person / When read / Then the reading holds no words
    reading = read("This is Ada Lovelace, please stop texting me")
    assert reading == Reading(Intent.OPT_OUT, "free_text", None)
    assert "Ada" not in repr(reading)
