"""Page templates: each language's compiled copy says exactly what the plain templates say.

The copies have their fixed phrases and static file names written in at compile time
(``portal/web/translated_templates.py``), and the page environment reads ``a.b`` of a plain
dict by its key directly; neither may change a character of a page.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from jinja2 import DictLoader, Environment, select_autoescape
from markupsafe import Markup

from portal import i18n
from portal.core import actions
from portal.core.jobs import Job, iso_utc
from portal.core.public import public_state
from portal.core.text import shown_text
from portal.i18n import Translations
from portal.settings import Settings
from portal.web.templating import PageEnvironment, PageTemplates, make_templates

NOW = dt.datetime(2030, 3, 3, 20, 0, tzinfo=dt.UTC)
HOSTILE = '<script>alert("x")</script>&amp;\'"{name}{0}\u202eX'
SETTINGS = Settings(
    company_name=HOSTILE,
    support_phone="+1 312 555 0100",
    support_email="help@example.com",
    logo_url="https://l/x?a=<1>",
)


def hostile_job(status: str) -> Job:
    window = {"start": "2030-03-03T09:00:00-06:00", "end": "2030-03-03T11:00:00-06:00"}
    slots = [window, {"start": "2030-03-04T23:00:00-06:00", "end": "2030-03-05T01:00:00-06:00"}]
    values = {
        "status": status,
        "timezone": "America/Chicago",
        "service": HOSTILE,
        "reference": HOSTILE[:40],
        "window": window,
        "reschedule_slots": slots,
        "technician": {"id": "T-1", "name": HOSTILE, "vehicle": HOSTILE, "photo_url": "https://p/1.jpg?a=<b>"},
        "invoice_url": "https://pay.example.com/i?<x>",
        "eta": {"at": iso_utc(NOW + dt.timedelta(minutes=17)), "reported_at": iso_utc(NOW)},
        "location": {"lat": 41.9, "lon": -87.6, "recorded_at": iso_utc(NOW - dt.timedelta(seconds=40))},
        "progress": [{"id": "s1", "title": HOSTILE, "note": HOSTILE, "percent": 40, "recorded_at": iso_utc(NOW)}],
    }
    return Job(id="WO-1", values=values)


def page_context(subject: Job, loc: i18n.Localizer) -> dict[str, Any]:
    state = public_state(subject, NOW)
    return {
        "i18n": loc,
        "company_name": loc.company_name,
        "state": state,
        "labels": loc.status_labels(),
        "events_url": "/t/x/events",
        "map_tiles": "https://tile.example.org/{z}/{x}/{y}.png",
        "map_origin": "https://tile.example.org",
        "first_tile": "https://tile.example.org/15/1/2.png",
        "map_attribution": HOSTILE,
        "stale_after": 180,
        "token": "x",
        "actions": {
            "csrf_token": HOSTILE,
            "can_cancel": actions.can_cancel(subject),
            "cancel_request": {"reason": HOSTILE},
            "can_note": True,
            "notes": [{"text": HOSTILE}],
            "can_rate": True,
            "review_url": "https://g.page/r?<x>",
            "confirmation": None,
            "max_text": actions.MAX_TEXT,
        },
    }


@pytest.mark.parametrize("locale", ["en", "es", "es-MX", "fr"])
@pytest.mark.parametrize("status", ["scheduled", "en_route", "in_progress", "completed"])
def test_a_languages_copy_renders_the_tracking_page_as_the_plain_templates_do(locale: str, status: str) -> None:
    templates = make_templates(SETTINGS)
    assert isinstance(templates, PageTemplates)
    loc = Translations().localizer(locale)
    context = page_context(hostile_job(status), loc)
    plain = templates.env.get_template("pages/tracking.html").render(context)
    copy = templates.for_reader(loc)
    folded = copy.get_template("pages/tracking.html").render({**context, **loc.template_functions})
    assert folded == plain
    assert "<script>" not in folded and "\u202e" not in folded


def test_the_copy_has_the_phrases_and_file_names_written_in() -> None:
    templates = make_templates(Settings())
    assert isinstance(templates, PageTemplates)
    spanish = Translations().localizer("es")
    copy = templates.for_reader(spanish)
    source = copy.loader.get_source(copy, "pages/tracking.html")[0] if copy.loader else ""
    code = copy.compile(source, "pages/tracking.html", raw=True)
    plain = templates.env.compile(source, "pages/tracking.html", raw=True)
    assert spanish.text("tracking.appointment") in code and spanish.text("tracking.appointment") not in plain
    assert "/static/js/tracking." in code and "'tracking.appointment'" not in code
    assert code.count("context.call(") < plain.count("context.call(") / 2


def environment(templates: dict[str, str]) -> PageTemplates:
    env = PageEnvironment(
        loader=DictLoader(templates), autoescape=select_autoescape(["html"]), finalize=shown_text, trim_blocks=True
    )
    env.globals["asset"] = lambda name: f"/static/{name}?v=1"
    i18n.install(env)
    return PageTemplates(env=env)


SHADOWING = {
    "set.html": '{% set t = other %}{{ t("tracking.appointment") }}',
    "loop.html": '{% for t in [other] %}{{ t("tracking.appointment") }}{% endfor %}',
    "macro.html": '{% macro m(t) %}{{ t("tracking.appointment") }}{% endmacro %}{{ m(other) }}',
    "asset.html": '{% set asset = other %}{{ asset("tracking.appointment") }}',
    "autoescape.html": '{% autoescape false %}{{ t("tracking.stale") }}{% endautoescape %}',
    "text.txt": '{{ t("tracking.stale") }}',
}


@pytest.mark.parametrize("name", sorted(SHADOWING))
def test_a_template_that_binds_t_or_escapes_otherwise_is_left_as_written(name: str) -> None:
    templates = environment(SHADOWING)
    loc = Translations().localizer("en")
    context = {"i18n": loc, "other": lambda key: f"<{key}>"}
    plain = templates.env.get_template(name).render(context)
    folded = templates.for_reader(loc).get_template(name).render({**context, **loc.template_functions})
    assert folded == plain
    if name in ("set.html", "loop.html", "macro.html", "asset.html"):
        assert plain == "&lt;tracking.appointment&gt;"
    else:
        assert (
            plain
            == "We have not had news of the technician's position for a while, so this estimate may be out of date."
        )


def test_phrases_calls_with_values_and_missing_phrases_stay_calls(caplog: pytest.LogCaptureFixture) -> None:
    phrases = '{{ t("tracking.appointment") }}|{{ t("tracking.times_in", zone=z) }}|'
    source = phrases + '{{ t("no.such.key") }}|{{ asset("a.css") }}'
    templates = environment({"page.html": source})
    loc = Translations().localizer("es")
    copy = templates.for_reader(loc)
    context = {"i18n": loc, "z": "<b>", **loc.template_functions}
    with caplog.at_level(logging.WARNING, logger="portal.i18n"):
        first = copy.get_template("page.html").render(context)
        caplog.clear()
        second = copy.get_template("page.html").render(context)
    assert first == second == "Cita|Horas en &lt;b&gt;|no.such.key|/static/a.css?v=1"
    assert [r.getMessage() for r in caplog.records] == ["no text for 'no.such.key' in any catalogue"]


def test_one_copy_per_catalogue() -> None:
    templates = make_templates(Settings())
    assert isinstance(templates, PageTemplates)
    translations = Translations()
    spanish = translations.localizer("es")
    assert templates.for_reader(spanish) is templates.for_reader(translations.localizer("es-MX"))
    assert templates.for_reader(spanish) is not templates.for_reader(translations.localizer("en"))


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
