"""Jinja2 for pages: operator overrides first, built-in templates second, HTML autoescaped."""

from __future__ import annotations

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.templating import Jinja2Templates

from portal.resources import data_dir
from portal.settings import Settings
from portal.web import humanize


def make_templates(settings: Settings) -> Jinja2Templates:
    loaders = [FileSystemLoader(str(settings.templates_dir))] if settings.templates_dir else []
    loaders.append(FileSystemLoader(str(data_dir("templates"))))
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(["html", "htm", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["company_name"] = settings.company_name
    env.filters["clock"] = humanize.clock
    env.filters["day"] = humanize.day
    env.filters["span"] = humanize.span
    env.filters["distance"] = humanize.distance
    env.filters["clock_range"] = humanize.clock_range
    env.filters["ago"] = humanize.ago
    return Jinja2Templates(env=env)
