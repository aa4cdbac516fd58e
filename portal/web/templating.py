"""Jinja2 for pages: operator overrides first, built-in templates second, HTML autoescaped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, nodes, select_autoescape
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.templating import Jinja2Templates, _TemplateResponse

from portal import i18n
from portal.core.text import shown_text
from portal.resources import data_dir
from portal.settings import Settings
from portal.web.assets import Assets, static_assets
from portal.web.brand import brand_style
from portal.web.translated_templates import env_asset, fold, folds

_DICT_ATTRIBUTES = frozenset(dir(dict))
MAX_LANGUAGE_COPIES = 32  # catalogues with their own compiled copy; more (never, in practice) use the plain one
LANGUAGE_CACHE_SIZE = 400  # Jinja's default: every page template of a language stays compiled


class PageEnvironment(Environment):
    """Jinja's environment for pages: quicker ``a.b`` on plain dicts, and a language's phrases written in.

    Jinja tries the attribute first and the key second, so every ``state.status`` raised and
    caught an AttributeError before reading the key. A plain dict has no attributes beyond
    those of ``dict`` itself, so for any other name the key is the answer, as before.

    An environment with a ``reader`` is one language's copy (``PageTemplates.for_reader``): it
    compiles each template with that language's fixed phrases written in
    (``portal/web/translated_templates.py``).
    """

    reader: i18n.Localizer | None = None

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def compile(
        self,
        source: str | nodes.Template,
        name: str | None = None,
        filename: str | None = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> Any:
        if self.reader is not None and isinstance(source, str):
            tree = self.parse(source, name, filename)
            autoescaped = self.autoescape(name) if callable(self.autoescape) else self.autoescape
            if folds(tree, bool(autoescaped)):
                fold(tree, self.reader, env_asset(self.globals))
            source = tree
        if raw:  # two calls: Jinja types ``compile`` by overloads on a literal ``raw``
            return super().compile(source, name, filename, True, defer_init)
        return super().compile(source, name, filename, False, defer_init)


class PageTemplates(Jinja2Templates):
    """Pages with a reader's Localizer: in the reader's language, from that language's copy of the templates.

    The company is named in the reader's language (when it is the default name), ``t()`` reads
    the reader's catalogue, and the template comes from the copy compiled for the reader's
    catalogue, its fixed phrases already in it.
    """

    def __init__(self, env: Environment) -> None:
        super().__init__(env=env)
        self._by_catalogue: dict[object, Environment] = {}

    def for_reader(self, reader: i18n.Localizer) -> Environment:
        """The environment compiling templates with ``reader``'s phrases written in (one per catalogue)."""
        env = self._by_catalogue.get(reader.translations)
        if env is None:
            if not isinstance(self.env, PageEnvironment) or len(self._by_catalogue) >= MAX_LANGUAGE_COPIES:
                return self.env
            env = self.env.overlay(cache_size=LANGUAGE_CACHE_SIZE)  # its own cache: never the unfolded templates
            env.reader = reader
            self._by_catalogue[reader.translations] = env
        return env

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
        env = self.env
        reader = context.get(i18n.CONTEXT_KEY)
        if isinstance(reader, i18n.Localizer):
            context.setdefault("company_name", reader.company_name)
            if "t" not in context and "asset" not in context:  # the copy's written-in phrases are the reader's
                env = self.for_reader(reader)
            for function_name, function in reader.template_functions.items():
                context.setdefault(function_name, function)
        # As Starlette's ``Jinja2Templates.TemplateResponse``, from the chosen environment.
        context.setdefault("request", request)
        for context_processor in self.context_processors:
            context.update(context_processor(request))
        return _TemplateResponse(
            env.get_template(name),
            context,
            status_code=status_code,
            headers=headers,
            media_type=media_type,
            background=background,
        )


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
