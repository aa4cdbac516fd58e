"""GSM-7: which text fits an SMS segment of 160 characters, and how many segments it takes.

One character outside the GSM-7 alphabet (curly quotes, most emoji, many accented letters)
turns the whole message into UCS-2, where a segment holds only 70 characters.
"""

from __future__ import annotations

import math

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
