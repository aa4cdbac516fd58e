"""Jinja2 for pages: operator overrides first, built-in templates second, HTML autoescaped."""

from __future__ import annotations

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.templating import Jinja2Templates

from portal import i18n
from portal.core.text import shown_text
from portal.resources import data_dir
from portal.settings import Settings

BRAND_CSS_PATH = "/static-brand.css"  # served by portal.web.brand: the brand colour, CSP-safe


def make_templates(settings: Settings) -> Jinja2Templates:
    loaders = [FileSystemLoader(str(settings.templates_dir))] if settings.templates_dir else []
    loaders.append(FileSystemLoader(str(data_dir("templates"))))
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(["html", "htm", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=shown_text,
    )
    env.globals.update(
        company_name=settings.company_name,
        logo_url=settings.logo_url,
        support_phone=settings.support_phone,
        support_email=settings.support_email,
        brand_css=BRAND_CSS_PATH,
    )
    # ``t()`` and the date, time and distance filters read the page's ``i18n`` Localizer
    # (the customer's language on customer pages); without one they read English.
    i18n.install(env)
    return Jinja2Templates(env=env)
