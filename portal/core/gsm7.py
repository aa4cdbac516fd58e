"""GSM-7: which text fits an SMS segment of 160 characters, and how many segments it takes.

One character outside the GSM-7 alphabet (curly quotes, most emoji, many accented letters)
turns the whole message into UCS-2, where a segment holds only 70 characters.
"""

from __future__ import annotations

import math
import unicodedata

# GSM 03.38 basic character set.
BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each costs two septets (an escape, then the character).
EXTENDED = frozenset("^{}\\[~]|€\f")
GSM_SINGLE = 160  # septets in a lone segment
GSM_PART = 153  # per segment of a split message (7 go to the concatenation header)
UCS2_SINGLE = 70
UCS2_PART = 67


def is_gsm7(text: str) -> bool:
    return all(char in BASIC or char in EXTENDED for char in text)


def septets(text: str) -> int:
    return sum(2 if char in EXTENDED else 1 for char in text)


def segments(text: str) -> int:
    """How many SMS segments ``text`` is billed as."""
    if is_gsm7(text):
        size, single, part = septets(text), GSM_SINGLE, GSM_PART
    else:
        size, single, part = len(text.encode("utf-16-le")) // 2, UCS2_SINGLE, UCS2_PART
    if size <= single:
        return 1
    return math.ceil(size / part)


# Close GSM-7 stand-ins for characters outside the alphabet that templates, names and dates
# commonly carry. Letters with accents not listed here lose the accent (see ``_plain``).
SUBSTITUTES = {
    "‘": "'",
    "’": "'",
    "‚": "'",
    "‛": "'",
    "′": "'",
    "´": "'",
    "`": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "″": '"',
    "«": '"',
    "»": '"',
    "–": "-",
    "—": "-",
    "‐": "-",
    "‑": "-",
    "−": "-",
    "…": "...",
    "•": "*",
    "·": ".",
    "\u00a0": " ",
    "\u202f": " ",
    "\u2009": " ",
    "\u2007": " ",
    "\u200b": "",
    "ç": "Ç",  # GSM 03.38 itself maps the lower-case cedilla to its capital
    "º": "o",
    "ª": "a",
}


def _plain(char: str) -> str:
    """``á`` -> ``a``: the letter without its accent, when that is a GSM-7 character."""
    base = "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c))
    return base if base and is_gsm7(base) else char


def to_gsm7(text: str) -> str:
    """``text`` with close GSM-7 stand-ins for characters that would force UCS-2.

    Spanish "mañana" keeps its ñ (GSM-7 has it), "sábado" becomes "sabado" and a curly quote
    a straight one, so the message keeps 160 characters a segment instead of 70. Nothing is
    changed when some character has no stand-in (an emoji, another script): the message is
    UCS-2 anyway, and then the accents may as well stay.
    """
    if is_gsm7(text):
        return text
    replaced = "".join(
        char if char in BASIC or char in EXTENDED else SUBSTITUTES.get(char, _plain(char)) for char in text
    )
    return replaced if is_gsm7(replaced) else text
