"""What an inbound SMS asks for: to stop (a carrier keyword or the customer's own words), to
start again, help, or nothing we act on. Each `Reading` says why, in the rules' words (never
the message's), so a decision can be explained to the customer or a regulator.

Keywords count as the whole message, in any case, with the punctuation and spaces around
them ignored: STOP, STOPALL, END, CANCEL, UNSUBSCRIBE, QUIT, REVOKE, OPT OUT, OPTOUT (the
words the FCC's 2024 rule on revoking consent names), ARRET, REMOVE and TD (the sending
number's own opt-out list holds these too); START, UNSTOP, YES; HELP, INFO. They are said as
a `keyword`: the sending number answers them itself.

Everything else that asks to stop is said as `free_text`, and Recoup confirms it:
- a message that begins with STOP, STOPALL, UNSUBSCRIBE, OPT OUT, OPTOUT, REVOKE, ARRET or
  STOPP ("STOP I paid", "Stop wrong number", "Arrêt svp", "STOP bitte"), as carriers read
  it; except where STOP plainly means something else (`_OTHER_MEANING`: "stop by the store",
  "stop sign", "stop charging my card twice", another verb in -ing that is not aimed at
  "me"), and a first sentence that is a question not about the messages ("Stop? what is
  this");
- a clause that is one of those words alone ("Wrong number, stop", "Unsubscribe, thanks");
- END, CANCEL, QUIT, REMOVE and the languages' own words (Arrête, BAJA, PARA, ALTO, BASTA,
  CANCELAR) only with nothing after them but courtesy or the messages ("END please",
  "cancel these texts"): each has an everyday meaning in a reply about an order ("cancel my
  order", "end of the month I can pay", "para mañana");
- a request in so many words, in English, German, French, Spanish or Japanese ("please stop
  texting me", "remove me from your list", "Bitte keine SMS mehr", "ne plus m'envoyer de
  messages", "no me envíen más mensajes", "配信停止"), including asking how to unsubscribe
  ("¿Cómo me doy de baja?").

Not an opt-out of texts, though a keyword or phrase appears: a message asking to be texted
instead ("Don't email me, text me instead"); a limit on when ("Don't text me after 9pm",
"Do not contact me until Friday": the customer sets that on their page, it is not a
revocation); a question asking whether rather than asking to stop ("Is there no more
messages?"); a question or other text that merely holds a keyword ("when will my plan
end?", "how do I stop paying twice?", "can I cancel the order instead?", "remove me from
the waitlist", "take me off the hook"). Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, TypeAlias

SaidAs: TypeAlias = Literal["keyword", "free_text"]
Language: TypeAlias = Literal["en", "de", "fr", "es", "ja"]

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "END", "CANCEL", "UNSUBSCRIBE", "QUIT", "REVOKE", "OPT OUT", "OPTOUT"}
    | {"ARRET", "REMOVE", "TD"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
# Words that ask to stop wherever they begin a message or stand alone as a clause (they have
# no everyday meaning in a reply about an order, STOP's aside: `_OTHER_MEANING`), with the
# language each belongs to.
_STRONG: dict[str, Language] = {
    "stop": "en",
    "stopall": "en",
    "unsubscribe": "en",
    "opt out": "en",
    "optout": "en",
    "revoke": "en",
    "arret": "fr",
    "stopp": "de",
}
# Words that ask to stop only with nothing after them but courtesy or the messages.
_WEAK: dict[str, Language] = {
    "end": "en",
    "cancel": "en",
    "quit": "en",
    "remove": "en",
    "td": "fr",
    "arrete": "fr",
    "arretez": "fr",
    "baja": "es",
    "para": "es",
    "alto": "es",
    "basta": "es",
    "cancelar": "es",
}
LANGUAGE_NAMES: dict[Language, str] = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "ja": "Japanese",
}
# Longer messages are not read for free-text opt-outs (an SMS concatenates to ~1,600).
MAX_READ = 2000


class Intent(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Reading:
    """What a message asks for; `said_as` how (a keyword the sending number answers itself,
    or free text, which Recoup confirms); the keyword it rests on in its normal form (e.g.
    "OPT OUT"), if any; the language it was said in, when the reading tells; and `reason`,
    why it reads so, in the rules' words, never the message's."""

    intent: Intent
    said_as: SaidAs | None = None
    keyword: str | None = None
    language: Language | None = None
    reason: str = ""


NOTHING = Reading(Intent.NONE, reason="neither a keyword nor a request to stop")
_TIME_REASON = "limits when to be contacted: a preference, not a revocation"

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
# A sentence and what ends it; a clause and what ends it (a spaced dash ends one too).
_SENTENCE = re.compile(r"([^.!?\n\u3002]+)([.!?\n\u3002]*)")
_CLAUSE = re.compile(r"([^,;:.!?\n\u3002]+)([,;:.!?\n\u3002]*)")
_DASH = re.compile(r"\s[-\u2013\u2014]+\s")

_SMS_NOUNS = r"(texts?|txts?|messages?|msgs?|sms|reminders?|notifications?|alerts?)"
_MESSAGES_EN = r"(texts?|messages?|sms|reminders?|(e ?)?mails?|notifications?|spam|calls?)"
_MESSAGING_VERBS = (
    r"(texting|txting|messaging|msging|sending|contacting|emailing|mailing|calling|bothering"
    r"|spamming|harassing|pestering|hounding|writing|reminding|notifying)"
)
_KEYWORD_WORDS = "|".join(re.escape(w) for w in sorted({*_STRONG, *_WEAK}, key=len, reverse=True))
# A message (or clause) beginning with a keyword, after a greeting or "please".
_LEADING = re.compile(
    r"^((please|pls|plz|just|ok|okay|so|oh|now|hey|hi|hello) )*"
    rf"(?P<kw>{_KEYWORD_WORDS})(?P<sep>[.!]+ ?| |$)(?P<rest>.*)$",
    re.DOTALL,
)
# What may follow a keyword without changing what it asks: courtesy, or the messages.
_COURTESY = re.compile(
    rf"\b(((these|those|the|your|all|all the|all your|any|my|this) )?{_SMS_NOUNS}"
    r"|please|pls|plz|now|right now|at once|thanks|thank you|thx|ty|asap|already"
    r"|svp|stp|s'il vous plait|s'il te plait|merci|bitte|danke|jetzt|sofort|por favor|porfa"
    r"|gracias|ya)\b"
)
# What may follow a strong keyword as well ("stop it", "stop all", "stop stop"), which after
# CANCEL or END would be about the order ("cancel it").
_STOP_OBJECTS = re.compile(rf"\b(it|this|that|all|everything|{_KEYWORD_WORDS})\b")
# STOP in another sense: to visit ("stop by the store"), a noun ("stop sign"), or to stop
# doing something that is not messaging ("stop charging my card twice", "stop worrying"),
# unless aimed at the customer ("stop bugging me" is about the messages).
_OTHER_MEANING = re.compile(
    r"^(by|in|over|round|around|past|off|sign|signs|light|lights)\b"
    r"|^at (the|my|your|our|a|his|her)\b"
    rf"|^(?!{_MESSAGING_VERBS}\b)(?!\w*thing\b)\w+ing\b(?! (me|us)\b)"
)
# The rest of a keyword that is about the messages ("stop texting me", "stop these texts").
_ABOUT_MESSAGES = re.compile(
    r"^((all|the|these|those|your|this|any|sending|send|me|us) )*"
    rf"({_MESSAGING_VERBS}|{_SMS_NOUNS}|(e ?)?mails?|calls?)\b"
)
# Asking to be texted: "text me instead", "..., text it", "just text me".
_ASKS_FOR_TEXTS = re.compile(
    r"\b(text|sms|message)( me| it| us| them)? instead\b"
    r"|(^|[,;.] *|\band |\bbut |\bjust |\bonly )(text|sms) (me|it|us)\b"
)
_WHEN = (
    r"(\d{1,2}([.h]\d\d)? ?(am|pm|a m|p m|h|uhr|o'?clock)?|noon|midnight|nights?|work|lunch"
    r"|the (morning|afternoon|evening|night|weekend|day)|weekends?"
    r"|(mon|tues|wednes|thurs|fri|satur|sun)days?|tomorrow|tonight|next (week|month)|payday)"
)
# A limit on when, not a revocation: "after 9pm", "until Friday", "at night", "nach 21 Uhr".
_TIME_LIMIT = re.compile(
    rf"\b(after|before|until|till|til|between|at|on|during) {_WHEN}\b"
    r"|\b(today|tonight|this (morning|afternoon|evening|week|weekend)|so (early|late)"
    r"|in the (morning|afternoon|evening|night))\b"
    r"|\b(nach|vor|bis|ab|zwischen) \d{1,2}\b|\b(nachts|am wochenende)\b"
    r"|\b(apres|avant|jusqu'a|entre) \d{1,2}\b|\b(la nuit|le week end)\b"
    r"|\b(despues de|antes de|hasta) (las )?\d{1,2}\b|\b(por la noche|el fin de semana)\b"
    r"|\d{1,2}時(以降|以後|より前|前|まで)|(夜|朝|夜間|早朝)(は|に)"
)
# A question asking whether, not asking to stop ("Is there no more messages?").
_INQUIRY = re.compile(
    r"^(is|are|was|were|isn't|aren't|isnt|arent) (there|it|this|that|these|those)\b"
    r"|^(will|won't|wont) there\b"
    r"|^(do|does|did|will|would|can|could|should) (i|we) (still |ever |then )?(get|receive|keep)\b"
    r"|^(what|which|who|where)\b"
)
# Words that tell the language of a message that rests on an English keyword ("STOP bitte").
_LANGUAGE_MARKERS: tuple[tuple[Language, re.Pattern[str]], ...] = (
    ("de", re.compile(r"\b(bitte|danke|nicht|keine|ich|falsche)\b")),
    ("fr", re.compile(r"\b(svp|stp|s'il|merci|je|vous)\b")),
    ("es", re.compile(r"\b(por favor|porfa|gracias|equivocado|ya no)\b")),
)

_ENGLISH = [
    r"\bstop (texting|messaging|contacting|emailing|calling|bothering|spamming|harassing"
    r"|pestering|hounding)( me| us| this number| my number)?\b",
    rf"\bstop (sending|send) (me |us )?((any|these|those|this|your|the) )?(more )?{_MESSAGES_EN}",
    rf"\bstop (receiving|getting) ((any|these|those|this|your|the) )?{_MESSAGES_EN}",
    r"\b(don'?t|do not|never|dont) (ever )?(text|message|contact|email|e-mail|call|sms|bother"
    r"|msg) (me|us|this number|my number)\b",
    # off a list of messages, not any list ("remove me from the waitlist", "take me off the
    # hook" are not)
    r"\b(remove|delete|take) (me|my (phone )?number|this number) (from|off) (your |the |this "
    r"|that |all |these |those |any |my )*((mailing|texting|text|sms|message|messaging|contact"
    r"|marketing|reminder|distribution|notification|call|calling) )?(list|lists|database"
    r"|system|texts|messages|reminders|notifications)\b",
    r"^(please )?(take me off|remove me)( please| now| thanks| thank you)*$",
    rf"\bno more {_MESSAGES_EN}\b",
    r"\bleave me alone\b",
    r"\bunsubscribe (me|this number|my number)\b",
    r"\b(want|wish|like|need) to (unsubscribe|opt out|opt-out)\b",
    r"\bopt me out\b",
    r"\bplease (unsubscribe|opt out)\b",
    r"\b(revoke|withdraw)\w* (my |all )?consent\b",
    rf"\b(don'?t|do not|dont) want (any more |anymore |these |those |your |any )*{_MESSAGES_EN}",
    r"\b(quit|cease) (texting|messaging|contacting)\b",
    rf"\bhow (do|can|could|would) (i|we) (unsubscribe|opt out|stop (getting |receiving )?(these "
    rf"|those |the |your |all )?{_MESSAGES_EN})\b",
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
    r"\b(dar|da|den|denme|darme|dame|doy|damos)( me)? de baja\b",
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
_PHRASES: dict[Language, list[re.Pattern[str]]] = {
    "en": [re.compile(p) for p in _ENGLISH],
    "de": [re.compile(p) for p in _GERMAN],
    "fr": [re.compile(p) for p in _FRENCH],
    "es": [re.compile(p) for p in _SPANISH],
    "ja": [re.compile(p) for p in _JAPANESE],
}


def read(message: str) -> Reading:
    """What one inbound SMS asks for, and why."""
    text = unicodedata.normalize("NFKC", message or "")[:MAX_READ]
    keyword = _keyword(text)
    whole = f"the whole message is the keyword {keyword}"
    if keyword in OPT_OUT_KEYWORDS:
        return Reading(Intent.OPT_OUT, "keyword", keyword, _keyword_language(keyword), whole)
    if keyword in OPT_IN_KEYWORDS:
        return Reading(Intent.OPT_IN, "keyword", keyword, reason=whole)
    if keyword in HELP_KEYWORDS:
        return Reading(Intent.HELP, "keyword", keyword, reason=whole)
    return _free_text(text)


def asks_to_stop(text: str) -> bool:
    """Whether a message that is not a keyword asks, in the customer's words, to stop."""
    normal = unicodedata.normalize("NFKC", text or "")[:MAX_READ]
    return _free_text(normal).intent is Intent.OPT_OUT


def _free_text(text: str) -> Reading:
    """A message that is not a keyword: the first rule that reads it as an opt-out, else
    why none does."""
    if _ASKS_FOR_TEXTS.search(_lower(text)):
        return Reading(Intent.NONE, reason="asks to be texted instead: not a revocation of texts")
    declined: list[str] = []
    reading = (
        _keyword_clause(text, declined)
        or _leading_keyword(text, declined)
        or _request(text, declined)
    )
    if reading is not None:
        return reading
    return Reading(Intent.NONE, reason=declined[0]) if declined else NOTHING


def _keyword_clause(text: str, declined: list[str]) -> Reading | None:
    """A clause that is a strong keyword alone, courtesy aside ("Wrong number, stop"); not
    one asked as a question ("Stop? what is this")."""
    for clause, end in _CLAUSE.findall(_DASH.sub(", ", text)):
        found = _LEADING.match(_plain(clause))
        if not found or found["kw"] not in _STRONG or not _only_courtesy(found["rest"], True):
            continue
        if "?" in end:
            declined.append(f"{found['kw'].upper()} asked as a question, not a request")
            continue
        return _said_in_words(found["kw"], text, "a clause that is only the keyword {}")
    return None


def _leading_keyword(text: str, declined: list[str]) -> Reading | None:
    """A message that begins with a keyword: a strong one unless it means something else, a
    weak one only with nothing after it but courtesy or the messages."""
    found = _LEADING.match(_plain(text))
    if not found:
        return None
    word, rest = found["kw"], found["rest"]
    if word in _WEAK:
        if _only_courtesy(rest, False):
            return _said_in_words(word, text, "begins with {}, with only courtesy after it")
        declined.append(
            f"{word.upper()} followed by more than courtesy: it has everyday meanings too"
        )
        return None
    why_not = _why_not_leading(word, rest, text)
    if why_not:
        declined.append(why_not)
        return None
    return _said_in_words(word, text, "begins with the keyword {}")


def _why_not_leading(word: str, rest: str, text: str) -> str | None:
    """Why a message beginning with a strong keyword does not ask to stop, if it does not."""
    if word == "stop" and _OTHER_MEANING.match(rest):
        return "STOP in another sense (stop by, a stop sign, stop doing something else)"
    about_messages = bool(_ABOUT_MESSAGES.match(rest))
    first = _SENTENCE.search(text.strip())
    if first and "?" in first.group(2) and not about_messages:
        return f"a question beginning with {word.upper()} that does not ask to stop the messages"
    if about_messages and _limited_in_time(text):
        return _TIME_REASON
    return None


def _request(text: str, declined: list[str]) -> Reading | None:
    """A sentence asking to stop in so many words; not one asking whether, nor one that
    limits when."""
    for sentence, end in _SENTENCE.findall(text):
        plain = _plain(sentence)
        language = _phrase_language(plain)
        if language is None:
            continue
        if "?" in end and _INQUIRY.match(plain):
            declined.append("a question asking whether, not a request to stop")
        elif _limited_in_time(sentence):
            declined.append(_TIME_REASON)
        else:
            reason = f"asks to stop in so many words ({LANGUAGE_NAMES[language]})"
            return Reading(Intent.OPT_OUT, "free_text", None, language, reason)
    return None


def _limited_in_time(sentence: str) -> bool:
    """Whether the clause that asks to stop limits when ("Don't text me after 9pm"); a time
    in another clause is context ("Stop texting me, I'm at work")."""
    clauses = [_plain(c) for c, _ in _CLAUSE.findall(_DASH.sub(", ", sentence))]
    asking = [c for c in clauses if _phrase_language(c) or _LEADING.match(c)]
    return any(_TIME_LIMIT.search(c) for c in asking or [_plain(sentence)])


def _phrase_language(plain: str) -> Language | None:
    """The language of the first phrase asking to stop that the text holds, if any."""
    for language, phrases in _PHRASES.items():
        if any(phrase.search(plain) for phrase in phrases):
            return language
    return None


def _said_in_words(word: str, text: str, reason: str) -> Reading:
    """A free-text opt-out resting on `word`: in its language, or, for an English keyword,
    in the language the rest of the message is written in ("STOP bitte")."""
    keyword = word.upper()
    language = _STRONG.get(word) or _WEAK.get(word) or "en"
    if language == "en":
        lower = _lower(text)
        language = next((lang for lang, marker in _LANGUAGE_MARKERS if marker.search(lower)), "en")
    return Reading(Intent.OPT_OUT, "free_text", keyword, language, reason.format(keyword))


def _keyword_language(keyword: str) -> Language:
    word = keyword.lower()
    return _STRONG.get(word) or _WEAK.get(word) or "en"


def _only_courtesy(rest: str, strong: bool) -> bool:
    """Whether the words after a keyword are only courtesy or the messages (or, after a
    strong keyword, "it", "all" and the like)."""
    left = _COURTESY.sub(" ", rest)
    if strong:
        left = _STOP_OBJECTS.sub(" ", left)
    return not left.strip(" .!")


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


def _lower(text: str) -> str:
    """Lower case, one kind of apostrophe, Latin letters without accents, runs of space as
    one; punctuation kept (it tells "..., text it" from "don't text it")."""
    return re.sub(r"\s+", " ", _unaccented(text.translate(_APOSTROPHES).lower())).strip()


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
    "LANGUAGE_NAMES",
    "OPT_IN_KEYWORDS",
    "OPT_OUT_KEYWORDS",
    "Intent",
    "Language",
    "Reading",
    "asks_to_stop",
    "read",
]
