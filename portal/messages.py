"""Rendering customer messages from templates, at send time.

Templates live in ``templates/messages/sms/<locale>/<message>.txt`` and
``templates/messages/email/<locale>/<message>.{txt,html}`` (the first line of an email's
``.txt`` is ``Subject: ...``). A file of the same relative path under ``PORTAL_TEMPLATES_DIR``
wins. A locale without its own file falls back to its language, then to English.

Messages are rendered by the worker when it sends them, from the values captured when they
were queued (the outbox payload) plus the job's current tracking link: edited templates apply
to messages still waiting, and a revoked link is never sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape

from portal.resources import data_dir
from portal.settings import Settings
from portal.web import humanize

FALLBACK_LOCALE = "en"
SUBJECT_PREFIX = "Subject:"


class RenderError(Exception):
    """A template is missing or broken: the message cannot be sent until it is fixed."""


@dataclass(frozen=True)
class Rendered:
    body: str
    subject: str | None = None
    html: str | None = None


def _parse(raw: str) -> datetime:
    return datetime.fromisoformat(raw)


def short_day(raw: str | None) -> str:
    """``Tue Mar 3``: GSM-7 only and short, for SMS."""
    if not raw:
        return ""
    moment = _parse(raw)
    return f"{moment.strftime('%a %b')} {moment.day}"


def short_clock(moment: datetime, meridiem: bool = True) -> str:
    text = f"{moment.hour % 12 or 12}:{moment.minute:02d}"
    return f"{text} {moment.strftime('%p')}" if meridiem else text


def short_window(window: dict[str, str] | None) -> str:
    """``Tue Mar 3, 9:00-11:00 AM`` (GSM-7 only: a plain hyphen, not a dash)."""
    if not window:
        return ""
    start, end = _parse(window["start"]), _parse(window["end"])
    if start.date() != end.date():
        return f"{short_day(window['start'])} {short_clock(start)}-{short_day(window['end'])} {short_clock(end)}"
    same_half = start.strftime("%p") == end.strftime("%p")
    return f"{short_day(window['start'])}, {short_clock(start, not same_half)}-{short_clock(end)}"


def locales(locale: str | None) -> list[str]:
    """``es-MX`` -> ``es-MX``, ``es``, ``en``."""
    found: list[str] = []
    for candidate in (locale, (locale or "").replace("_", "-").split("-")[0], FALLBACK_LOCALE):
        if candidate and candidate not in found:
            found.append(candidate)
    return found


class MessageRenderer:
    def __init__(self, settings: Settings) -> None:
        loaders = [FileSystemLoader(str(settings.templates_dir))] if settings.templates_dir else []
        loaders.append(FileSystemLoader(str(data_dir("templates"))))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(["html", "htm"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals["company_name"] = settings.company_name
        self.env.filters.update(
            short_day=short_day, short_window=short_window, day=humanize.day, span=humanize.span, clock=humanize.clock
        )

    def _render(self, channel: str, locale: str | None, name: str, context: dict[str, Any]) -> str:
        paths = [f"messages/{channel}/{loc}/{name}" for loc in locales(locale)]
        try:
            return self.env.select_template(paths).render(context).strip()
        except TemplateError as exc:
            raise RenderError(f"template {paths[0]}: {exc}") from exc

    def render(self, channel: str, message: str, locale: str | None, context: dict[str, Any]) -> Rendered:
        if channel == "sms":
            return Rendered(body=self._render("sms", locale, f"{message}.txt", context))
        text = self._render("email", locale, f"{message}.txt", context)
        first, _, rest = text.partition("\n")
        if not first.startswith(SUBJECT_PREFIX):
            raise RenderError(f"template messages/email/{locale}/{message}.txt must start with 'Subject: '")
        html = self._render("email", locale, f"{message}.html", context)
        return Rendered(body=rest.strip() + "\n", subject=first.removeprefix(SUBJECT_PREFIX).strip(), html=html + "\n")


def context_for(payload: dict[str, Any], link: str) -> dict[str, Any]:
    """The template variables of a queued message."""
    return {**payload.get("vars", {}), "link": link}
