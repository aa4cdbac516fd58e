"""Jinja2 for pages: operator overrides first, built-in templates second, HTML autoescaped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.templating import Jinja2Templates, _TemplateResponse

from portal import i18n
from portal.core.text import shown_text
from portal.resources import data_dir
from portal.settings import Settings
from portal.web.assets import Assets, static_assets
from portal.web.brand import brand_style

_DICT_ATTRIBUTES = frozenset(dir(dict))


class PageEnvironment(Environment):
    """Jinja's environment with a quicker ``a.b`` on plain dicts, which is what pages are given.

    Jinja tries the attribute first and the key second, so every ``state.status`` raised and
    caught an AttributeError before reading the key. A plain dict has no attributes beyond
    those of ``dict`` itself, so for any other name the key is the answer, as before.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


class PageTemplates(Jinja2Templates):
    """Pages with a reader's Localizer name the company in that reader's language (when it is the default)."""

    def TemplateResponse(
        self,
        request: Request,
        name: str,
        context: dict[str, Any] | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> _TemplateResponse:
        context = dict(context or {})
        reader = context.get(i18n.CONTEXT_KEY)
        if isinstance(reader, i18n.Localizer):
            context.setdefault("company_name", reader.company_name)
            for function_name, function in reader.template_functions.items():
                context.setdefault(function_name, function)
        return super().TemplateResponse(request, name, context, status_code, headers, media_type, background)


def make_templates(settings: Settings, assets: Assets | None = None) -> Jinja2Templates:
    loaders = [FileSystemLoader(str(settings.templates_dir))] if settings.templates_dir else []
    loaders.append(FileSystemLoader(str(data_dir("templates"))))
    env = PageEnvironment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(["html", "htm", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=shown_text,
    )
    env.globals.update(
        company_name=settings.company_name or i18n.english().company_name,  # staff pages: English
        logo_url=settings.logo_url,
        support_phone=settings.support_phone,
        support_email=settings.support_email,
        brand_style=brand_style(settings.brand_color),
        asset=(assets or static_assets()).url,
    )
    # ``t()`` and the date, time and distance filters read the page's ``i18n`` Localizer
    # (the customer's language on customer pages); without one they read English.
    i18n.install(env)
    return PageTemplates(env=env)
