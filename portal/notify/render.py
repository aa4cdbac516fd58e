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
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape

from portal import i18n
from portal.core.gsm7 import to_gsm7
from portal.core.text import shown_text
from portal.resources import data_dir
from portal.settings import Settings

FALLBACK_LOCALE = "en"
SUBJECT_PREFIX = "Subject:"


class RenderError(Exception):
    """A template is missing or broken: the message cannot be sent until it is fixed."""


@dataclass(frozen=True)
class Rendered:
    body: str
    subject: str | None = None
    html: str | None = None


def short_day(raw: str | None) -> str:
    """``Tue Mar 3``: short, for SMS (in English; templates get the customer's language)."""
    return i18n.english().short_day(raw)


def short_window(window: dict[str, str] | None) -> str:
    """``Tue Mar 3, 9:00-11:00 AM`` (a plain hyphen, not a dash: GSM-7)."""
    return i18n.english().short_window(window)


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
            finalize=shown_text,
        )
        self.translations = i18n.Translations(settings.templates_dir, settings.company_name)
        i18n.install(self.env)
        self.env.globals.update(
            brand_color=settings.brand_color,
            logo_url=settings.logo_url,
            support_phone=settings.support_phone,
            support_email=settings.support_email,
        )

    def _render(self, channel: str, locale: str | None, name: str, context: dict[str, Any]) -> str:
        paths = [f"messages/{channel}/{loc}/{name}" for loc in locales(locale)]
        localizer = self.translations.localizer(locale)
        context = {**context, i18n.CONTEXT_KEY: localizer, "company_name": localizer.company_name}
        try:
            return self.env.select_template(paths).render(context).strip()
        except TemplateError as exc:
            raise RenderError(f"template {paths[0]}: {exc}") from exc

    def render(self, channel: str, message: str, locale: str | None, context: dict[str, Any]) -> Rendered:
        if channel == "sms":
            # Stand-ins for accents and curly quotes keep a Spanish text at 160 characters a segment.
            return Rendered(body=to_gsm7(self._render("sms", locale, f"{message}.txt", context)))
        text = self._render("email", locale, f"{message}.txt", context)
        first, _, rest = text.partition("\n")
        if not first.startswith(SUBJECT_PREFIX):
            raise RenderError(f"template messages/email/{locale}/{message}.txt must start with 'Subject: '")
        html = self._render("email", locale, f"{message}.html", context)
        return Rendered(body=rest.strip() + "\n", subject=first.removeprefix(SUBJECT_PREFIX).strip(), html=html + "\n")


def context_for(payload: dict[str, Any], link: str) -> dict[str, Any]:
    """The template variables of a queued message."""
    return {**payload.get("vars", {}), "link": link}
