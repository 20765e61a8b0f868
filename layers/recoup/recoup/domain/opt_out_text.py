"""What an inbound SMS asks for: to stop (a carrier keyword or the customer's own words), to
start again, help, or nothing we act on.

The keywords count only as the whole message, in any case, with the punctuation and spaces
around them ignored: STOP, STOPALL, END, CANCEL, UNSUBSCRIBE, QUIT, REVOKE, OPT OUT, OPTOUT
(the words the FCC's 2025 rule names as revoking consent, and the carriers' own), ARRET
(Canada's French one); START, UNSTOP, YES; HELP, INFO. A message that is not a keyword is
an opt-out only when it asks to stop being contacted in so many words ("please stop texting
me", "remove me from your list", "Bitte keine SMS mehr", "ne plus m'envoyer de messages",
"no me envíen más mensajes", "配信停止"): the phrases are precise rather than broad, so a
question or other text that merely contains a keyword ("when will my plan end?", "can I stop
by the store?", "how do I cancel my order?") is not one. Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, TypeAlias

SaidAs: TypeAlias = Literal["keyword", "free_text"]

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "END", "CANCEL", "UNSUBSCRIBE", "QUIT", "REVOKE", "OPT OUT", "OPTOUT"}
    | {"ARRET"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
# Keywords that also end a message's first sentence as an opt-out ("STOP. I paid already"):
# only those with no everyday meaning in a reply about an order ("Cancel. I want a refund"
# is about the order).
_LEADING_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "OPT OUT", "OPTOUT", "REVOKE"})
# Longer messages are not read for free-text opt-outs (an SMS concatenates to ~1,600).
MAX_READ = 2000


class Intent(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Reading:
    """What a message asks for; `said_as` how (a keyword, or free text for an opt-out), and
    the keyword in its normal form (e.g. "OPT OUT"), never the message's words."""

    intent: Intent
    said_as: SaidAs | None = None
    keyword: str | None = None


NOTHING = Reading(Intent.NONE)

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_SENTENCE_END = re.compile(r"[.!?\n\u3002\uff01\uff1f]")

_MESSAGES_EN = r"(texts?|messages?|sms|reminders?|(e ?)?mails?|notifications?|spam|calls?)"
_ENGLISH = [
    r"^(please |pls |plz )?stop( (it|this|that|now|please|pls|thanks|thank you|all|stop))*$",
    r"\bstop (texting|messaging|contacting|emailing|calling|bothering|spamming|harassing"
    r"|pestering|hounding)( me| us| this number| my number)?\b",
    rf"\bstop (sending|send) (me |us )?((any|these|those|this|your|the) )?(more )?{_MESSAGES_EN}",
    rf"\bstop (receiving|getting) ((any|these|those|this|your|the) )?{_MESSAGES_EN}",
    r"\b(don'?t|do not|never|dont) (ever )?(text|message|contact|email|e-mail|call|sms|bother"
    r"|msg) (me|us|this number|my number)\b",
    r"\b(remove|delete|take) (me|my (phone )?number|this number) (from|off)\b",
    r"\btake me off\b",
    r"^remove me$",
    rf"\bno more {_MESSAGES_EN}\b",
    r"\bleave me alone\b",
    r"\bunsubscribe (me|this number|my number)\b",
    r"\b(want|wish|like|need) to (unsubscribe|opt out|opt-out)\b",
    r"\bopt me out\b",
    r"\bplease (unsubscribe|opt out)\b",
    r"\b(revoke|withdraw)\w* (my |all )?consent\b",
    rf"\b(don'?t|do not|dont) want (any more |anymore |these |those |your |any )*{_MESSAGES_EN}",
    r"\b(quit|cease) (texting|messaging|contacting)\b",
]
_GERMAN = [
    r"\bkeine (weiteren |weitere )?(sms|nachrichten|mails|e mails|emails|textnachrichten"
    r"|erinnerungen|mahnungen|kurznachrichten) mehr\b",
    r"\bkeine weiteren (sms|nachrichten|mails|e mails|emails|erinnerungen|mahnungen)\b",
    r"\b(hor|horen sie|hort) auf,? mi(r|ch) (zu schreiben|nachrichten|sms|zu kontaktieren"
    r"|anzuschreiben)",
    r"\b(kontaktieren|schreiben|simsen|anrufen|benachrichtigen)( sie)? mich nicht mehr\b",
    r"\bmich nicht mehr (kontaktieren|anschreiben|anrufen|benachrichtigen)\b",
    r"\bnicht mehr (kontaktieren|anschreiben|schreiben) bitte\b",
    r"\b(lass|lasst|lassen sie) mich in ruhe\b",
    r"^(bitte )?(abmelden|abbestellen|austragen)( bitte)?$",
    r"\b(mich|meine nummer) (abmelden|austragen|entfernen|loschen)\b",
    r"\b(entfernen|loschen|streichen) sie (mich|meine nummer)\b",
]
_FRENCH_VERBS = r"(envoy|ecri|contact|appel|text|harcel|relanc)\w*"
_FRENCH = [
    rf"\bne (plus m'{_FRENCH_VERBS}|m'{_FRENCH_VERBS} plus|me {_FRENCH_VERBS} plus"
    rf"|plus me {_FRENCH_VERBS})\b",
    rf"\barrete[rz]? de (m'|me ){_FRENCH_VERBS}",
    r"^(svp |merci )?plus de (messages?|sms|textos?|rappels?)\b",
    r"\blaisse[rz]? moi tranquille\b",
    r"\bfoutez moi la paix\b",
    r"\b(me )?desabonner\b",
    r"\bme desinscrire\b",
    r"\b(desinscri|desabonn|retir|supprim)\w* moi\b",
]
_SPANISH_VERBS = r"(envi|mand|escrib|contact|llam|text)\w*"
_SPANISH = [
    rf"\bno (me |nos )?{_SPANISH_VERBS} (mas|nunca)\b",
    rf"\bno (me |nos )?{_SPANISH_VERBS} (mas )?(mensajes|sms|textos|recordatorios)\b",
    rf"\b(deje[ns]?|deja|dejar) de ({_SPANISH_VERBS}|molestar\w*)",
    r"\b(ya )?no quiero (recibir )?(mas )?(mensajes|sms|textos|recordatorios)\b",
    r"^no mas (mensajes|sms|textos|recordatorios)\b",
    r"\b(borr|saqu|elimin|quit)\w*me de (su|la|tu|esta|sus) lista",
    r"\b(dejenme|dejame|dejeme) en paz\b",
    r"\b(dar|da|den|denme|darme|dame)( me)? de baja\b",
    r"\bcancelar (mi )?suscripcion\b",
]
_JAPANESE = [
    r"(配信|送信|通知|メール|ＳＭＳ|SMS|sms)(を)?(停止|解除)",
    r"(登録|購読)解除",
    r"(連絡|メッセージ|メール|ショートメール|sms|通知)(を|は)?(もう)?(送らないで|しないで|やめて"
    r"|いらない|不要)",
    r"もう(連絡|メッセージ|メール|sms)?(しないで|送らないで|いらない)",
    r"^(停止|ストップ|やめて|配信不要)(ください|下さい)?$",
]
_PHRASES = [re.compile(p) for p in (*_ENGLISH, *_GERMAN, *_FRENCH, *_SPANISH, *_JAPANESE)]


def read(message: str) -> Reading:
    """What one inbound SMS asks for."""
    text = unicodedata.normalize("NFKC", message or "")[:MAX_READ]
    keyword = _keyword(text)
    if keyword in OPT_OUT_KEYWORDS:
        return Reading(Intent.OPT_OUT, "keyword", keyword)
    if keyword in OPT_IN_KEYWORDS:
        return Reading(Intent.OPT_IN, "keyword", keyword)
    if keyword in HELP_KEYWORDS:
        return Reading(Intent.HELP, "keyword", keyword)
    if asks_to_stop(text):
        return Reading(Intent.OPT_OUT, "free_text")
    return NOTHING


def asks_to_stop(text: str) -> bool:
    """Whether a message that is not a keyword asks, in the customer's words, to stop."""
    first = _SENTENCE_END.split(text.strip(), maxsplit=1)[0]
    if _keyword(first) in _LEADING_KEYWORDS:
        return True
    plain = _plain(text)
    return any(phrase.search(plain) for phrase in _PHRASES)


def _keyword(text: str) -> str:
    """The message as a keyword would be written: its words in capitals, single-spaced, with
    the punctuation, symbols and spaces around them dropped ("Opt-out!" -> "OPT OUT")."""
    words = re.sub(r"[\s\-_]+", " ", _unaccented(text)).strip()
    start, end = 0, len(words)
    while start < end and not words[start].isalnum():
        start += 1
    while end > start and not words[end - 1].isalnum():
        end -= 1
    return words[start:end].upper()


def _plain(text: str) -> str:
    """Lower case, one kind of apostrophe, Latin letters without accents, hyphens and runs
    of space as one space."""
    plain = _unaccented(text.translate(_APOSTROPHES).lower())
    plain = re.sub(r"[\u00bf\u00a1,;:()\"]", " ", plain)  # ¿ ¡ and the like, between words
    return re.sub(r"[\s\-]+", " ", plain).strip(" .!?")


def _unaccented(text: str) -> str:
    """Latin letters without their accents ("Arrêt" -> "Arret"); Japanese kana keep their
    marks (a voiced mark is part of the letter)."""
    kept: list[str] = []
    for char in unicodedata.normalize("NFD", text):
        if unicodedata.combining(char) and kept and kept[-1] < "\u0250":
            continue
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))


__all__ = [
    "HELP_KEYWORDS",
    "OPT_IN_KEYWORDS",
    "OPT_OUT_KEYWORDS",
    "Intent",
    "Reading",
    "asks_to_stop",
    "read",
]
