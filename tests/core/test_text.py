"""Field text as shown to people: bidi controls removed everywhere, nothing else touched."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from portal.core.text import clean

CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def plain_clean(value: Any) -> Any:
    """The rule in its plainest words: what ``clean`` must do, however it is made faster."""
    if isinstance(value, str):
        return re.sub(f"[{CONTROLS}]", "", value)
    if isinstance(value, dict):
        return {k: plain_clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_clean(v) for v in value]
    return value


TEXT = st.text(alphabet=st.sampled_from(["a", "Z", " ", "é", "\u200e", *CONTROLS, "ن"]), max_size=12)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=30,
)


@given(JSON)
def test_clean_removes_exactly_the_controls_through_dicts_and_lists(value: Any) -> None:
    assert clean(value) == plain_clean(value)


def test_numbers_and_ascii_come_through_as_they_are_and_marks_stay() -> None:
    state = {"trail": [{"lat": 41.5, "lon": -87}], "n": 3, "ok": True, "at": "2030-03-03T09:00:00-06:00"}
    assert clean(state) == state
    assert clean("Dana\u202e gnp.exe\u2066 \u200e") == "Dana gnp.exe \u200e"
