"""Text from the field system as shown to people: without bidirectional control characters.

A name such as ``"Dana \\u202egnp.exe"`` would display reversed ("Dana exe.png"): the explicit
embedding, override and isolate controls let a sender reorder what a reader sees. Names and
other field text never need them (right-to-left scripts display correctly without them), so
they are removed wherever text is shown: pages, messages and the public state.
"""

from __future__ import annotations

import re
from typing import Any

# LRE, RLE, PDF, LRO, RLO and LRI, RLI, FSI, PDI. The marks (LRM, RLM, ALM) are kept: they
# only nudge neutral characters and cannot reorder a run of text.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def without_bidi_controls(text: str) -> str:
    # ASCII text holds no control to remove, and most text (every time, every code) is ASCII.
    return text if text.isascii() else BIDI_CONTROLS.sub("", text)


# Values that hold no text: taken as they are without a call per number (a trail is many).
PLAIN = frozenset({int, float, bool, type(None)})


def clean(value: Any) -> Any:
    """``value`` with every string in it (through dicts and lists) free of bidi controls."""
    if isinstance(value, str):
        return without_bidi_controls(value)
    if isinstance(value, dict):
        return {k: v if type(v) in PLAIN else clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [v if type(v) in PLAIN else clean(v) for v in value]
    return value


def shown_text(value: Any) -> Any:
    """Jinja's ``finalize``: every ``{{ value }}`` in a page or message, before escaping."""
    if isinstance(value, str):
        if value.isascii():  # most of a page: no control character to remove, nothing to copy
            return value
        # Markup (a str subclass marked safe by ``__html__``) stays Markup: removing controls keeps it safe.
        return type(value)(without_bidi_controls(value)) if hasattr(value, "__html__") else without_bidi_controls(value)
    return value
