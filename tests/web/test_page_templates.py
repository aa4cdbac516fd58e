"""Page templates: the page environment reads ``a.b`` of a plain dict by its key directly.

It may not change a character of a page: these compare it with Jinja's own environment.
"""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import DictLoader, Environment, select_autoescape
from markupsafe import Markup

from portal import i18n
from portal.core.text import shown_text
from portal.web.templating import PageEnvironment, PageTemplates


def environment(templates: dict[str, str]) -> PageTemplates:
    env = PageEnvironment(
        loader=DictLoader(templates), autoescape=select_autoescape(["html"]), finalize=shown_text, trim_blocks=True
    )
    env.globals["asset"] = lambda name: f"/static/{name}?v=1"
    i18n.install(env)
    return PageTemplates(env=env)


class Box:
    status = "attribute"

    def __init__(self) -> None:
        self.name = "boxed"


class Keyed(dict[str, Any]):
    pass


@pytest.mark.parametrize(
    "expression",
    [
        "d.status",
        "d.missing is undefined",
        "d.items is callable",
        "d['items']",
        "d.get('status')",
        "d.keys is callable",
        "d.__class__.__name__",
        "k.status",
        "k.items is callable",
        "b.status",
        "b.name",
        "b.missing is undefined",
        "l.append is callable",
        "s.upper is callable",
        "n.real",
        "(d.missing or 'default')",
    ],
)
def test_dict_attributes_read_as_jinja_reads_them(expression: str) -> None:
    """``a.b`` on a plain dict reads the key, unless ``dict`` itself has that attribute."""
    values = {
        "d": {"status": "key", "items": "a key named items", "keys": 3},
        "k": Keyed(status="subclass key", items="x"),
        "b": Box(),
        "l": [1],
        "s": "text",
        "n": 5,
    }
    source = "{{ " + expression + " }}"
    ours = environment({"x.html": source}).env.get_template("x.html").render(values)
    jinja = Environment(autoescape=True, finalize=shown_text).from_string(source).render(values)
    assert ours == jinja


def test_shown_text_keeps_markup_and_plain_text_as_they_are() -> None:
    assert shown_text("plain") == "plain" and type(shown_text("plain")) is str
    safe = shown_text(Markup("<b>ok</b>"))
    assert safe == Markup("<b>ok</b>") and isinstance(safe, Markup)
    assert shown_text("Dana\u202e gnp.exe\u2066") == "Dana gnp.exe"
    cleaned = shown_text(Markup("<b>Dana\u202e</b>"))
    assert cleaned == Markup("<b>Dana</b>") and isinstance(cleaned, Markup)
    assert shown_text(5) == 5
