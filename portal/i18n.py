"""Languages: gettext catalogues of page strings, and dates, times and distances in the reader's locale.

A language is one gettext catalogue, ``templates/locales/<language>.po``, plus a directory of
message templates per channel, ``templates/messages/{sms,email}/<language>/``. The catalogues
are monolingual: each ``msgid`` is a key (``tracking.minutes_away``) and ``en.po`` holds the
reference text, so templates name what they say and translators' tools (Weblate's
"monolingual gettext") show the English beside each entry. Counted phrases have a
``msgid_plural`` and one ``msgstr[i]`` per plural form of the language: the ``Plural-Forms``
rule is CLDR's, as Babel writes it, and ``ngettext`` picks the form ("1 minute", "2 minutes").
The ``.po`` files are compiled to ``.mo`` in memory when the portal starts, so an edited
catalogue needs no build step.

Adding a language is adding those files, in the package or under ``PORTAL_TEMPLATES_DIR``
(an operator's catalogue is laid over the built-in one of the same name, key by key; a
``<language>.json`` object of key to text, the format before gettext, is still read). A
customer's ``locale`` (``es-MX``) picks the catalogue of its language (``es``); anything
unknown reads English.

Dates and times are formatted with Babel from patterns the catalogue itself carries
(``format.*`` keys), so a translator decides "9:00 AM" or "9:00" and the word order of a
window, and Babel supplies the month and weekday names of the customer's locale.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from datetime import datetime
from functools import cached_property, lru_cache
from gettext import GNUTranslations, NullTranslations
from pathlib import Path
from string import Formatter
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import DateTimeFormat, tokenize_pattern
from babel.dates import parse_pattern as parse_date_pattern
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import parse_pattern
from jinja2 import pass_context, pass_eval_context
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup, escape

from portal.clock import utc_now
from portal.resources import data_dir

log = logging.getLogger("portal.i18n")

FALLBACK_LANGUAGE = "en"
CATALOGUE_DIR = "locales"
METRES_PER_MILE = 1609.344
KM = 1000  # below a kilometre, distances read better in metres
METRE_STEP = 10  # GPS is not better than this: "850 m", not "847 m"
ONE_DECIMAL = parse_pattern("0.0")  # kilometres and miles: "3.2 km (2.0 mi)"
MINUTE = 60
CONTEXT_KEY = "i18n"  # the template variable holding the reader's Localizer
# Counted phrases the page's script re-words itself as numbers change (with Intl.PluralRules).
JS_PLURALS = ("tracking.minutes_away",)
# Numbers that between them reach every CLDR plural category of the languages we know
# (one, two, few, many, other; Spanish "many" is a million), to hand the script one form per category.
PLURAL_SAMPLES = (0, 1, 2, 3, 5, 7, 11, 21, 22, 101, 111, 1_000_000)

Text = str | tuple[str, ...]  # a phrase, or the plural forms of a counted one


def language_of(locale: str | None) -> str:
    """``es-MX`` / ``es_MX`` -> ``es``; empty -> the fallback."""
    return (locale or "").replace("_", "-").split("-")[0].strip().lower() or FALLBACK_LANGUAGE


def _parse(raw: str) -> datetime:
    return datetime.fromisoformat(raw)


# -- date patterns, prepared once per locale ---------------------------------------------
#
# A catalogue's date and time patterns, prepared once per locale instead of on every page.
#
# Babel formats a pattern field by field, looking up the locale's names for each field of each
# call: a tracking page formats a dozen times and dates, and that lookup was a third of its
# rendering. Most fields depend on one part of the moment only (``h`` and ``a`` on the hour,
# ``EEEE`` on the weekday, ``MMMM`` on the month), so for those Babel itself is asked once for
# every value of that part and the answers are kept in a table; a moment is then formatted by
# reading its parts from the tables. Fields that depend on more (years, time zones, weeks) are
# still asked of Babel each time. The text is Babel's either way.

# A Monday: weekday samples are this date plus 0..6 days.
SAMPLE_MONDAY = datetime(2001, 1, 1)

# The part of the moment each field letter reads, with every value that part can take.
Part = tuple[Callable[[datetime], int], Callable[[int], datetime], range]
HOUR_PART: Part = (lambda d: d.hour, lambda v: SAMPLE_MONDAY.replace(hour=v), range(24))
MINUTE_PART: Part = (lambda d: d.minute, lambda v: SAMPLE_MONDAY.replace(minute=v), range(60))
SECOND_PART: Part = (lambda d: d.second, lambda v: SAMPLE_MONDAY.replace(second=v), range(60))
DAY_PART: Part = (lambda d: d.day, lambda v: SAMPLE_MONDAY.replace(day=v), range(1, 32))
MONTH_PART: Part = (lambda d: d.month, lambda v: SAMPLE_MONDAY.replace(month=v), range(1, 13))
WEEKDAY_PART: Part = (lambda d: d.weekday(), lambda v: SAMPLE_MONDAY.replace(day=1 + v), range(7))
PARTS: dict[str, Part] = {
    "a": HOUR_PART,  # am or pm
    "h": HOUR_PART,
    "H": HOUR_PART,
    "K": HOUR_PART,
    "k": HOUR_PART,
    "m": MINUTE_PART,
    "s": SECOND_PART,
    "d": DAY_PART,
    "M": MONTH_PART,
    "L": MONTH_PART,
    "E": WEEKDAY_PART,
    "e": WEEKDAY_PART,  # numbered from the locale's first day of the week: still the weekday alone
    "c": WEEKDAY_PART,
}


class DatePattern:
    """One pattern (``h:mm a``) in one locale: ``apply(moment)`` is ``format_datetime``'s text."""

    def __init__(self, pattern: str, locale: Locale) -> None:
        self.locale = locale
        # ``%(h)s:%(mm)s %(a)s``, as Babel applies it (its annotation says DateTimeFormat; it is this text)
        self.format = str(parse_date_pattern(pattern).format)
        self.tabled: list[tuple[str, Callable[[datetime], int], dict[int, str]]] = []
        self.asked: list[str] = []  # fields Babel formats on every call
        for kind, value in tokenize_pattern(pattern):
            if kind != "field" or not isinstance(value, tuple):
                continue
            char, count = value
            name = char * count
            part = PARTS.get(char)
            if part is None:
                self.asked.append(name)
                continue
            read, sample, values = part
            self.tabled.append((name, read, {v: DateTimeFormat(sample(v), locale)[name] for v in values}))

    def apply(self, moment: datetime) -> str:
        """The pattern for ``moment`` in its own time zone (as ``format_datetime(..., tzinfo=moment.tzinfo)``)."""
        fields = {name: table[read(moment)] for name, read, table in self.tabled}
        if self.asked:
            babel = DateTimeFormat(moment, self.locale)
            for name in self.asked:
                fields[name] = babel[name]
        return self.format % fields


class Localizer:
    """One reader's language: its strings, and dates and numbers formatted for its locale."""

    def __init__(
        self,
        language: str,
        strings: dict[str, str],
        locale: Locale,
        company_name: str | None = None,
        translations: NullTranslations | None = None,
    ) -> None:
        self.language = language
        self.strings = strings  # every singular phrase, English filling the gaps: for listing by prefix
        self.locale = locale
        self.translations = translations or _compile(FALLBACK_LANGUAGE, dict(strings))
        # An operator's name is a name, used as given; the default one is words, so it is translated.
        self.company_name = company_name or self.t("company.default")
        # The escaped text of each phrase read without a count: a page asks for dozens of them
        # and a catalogue never changes while the portal runs.
        self._html: dict[str, Markup] = {}
        self._date_patterns: dict[str, DatePattern] = {}  # by catalogue key (``format.clock``)

    def text(self, key: str, count: int | None = None) -> str:
        """The catalogue text of ``key`` (the plural form for ``count`` when given), or the key itself."""
        found = self.translations.gettext(key) if count is None else self.translations.ngettext(key, key, count)
        if found == key:
            log.warning("no text for %r in any catalogue", key)
        return found

    def t(self, key: str, /, **values: Any) -> str:
        """The text of ``key`` with ``{name}`` placeholders filled in (plain text: for SMS, JSON)."""
        text = self.text(key)
        return text.format(**values) if values else text

    def tn(self, key: str, count: int, /, **values: Any) -> str:
        """The form of ``key`` for ``count`` (CLDR plural rules of the language), placeholders filled in."""
        return self.text(key, count).format(**values)

    def markup(self, key: str, /, count: int | None = None, **values: Any) -> Markup:
        """The text of ``key`` for HTML: the catalogue text and plain values are escaped, Markup is kept."""
        text = self._html.get(key) if count is None else None
        if text is None:
            found = self.text(key, count)
            text = Markup(escape(found))
            if count is None and found != key:  # a missing key stays uncached, so it is logged each time
                self._html[key] = text
        return html_format(text, values) if values else text

    def plural_forms(self, key: str) -> dict[str, str]:
        """The forms of a counted phrase by CLDR category (``one``, ``other``...), for ``Intl.PluralRules``."""
        forms: dict[str, str] = {}
        for n in PLURAL_SAMPLES:
            forms.setdefault(str(self.locale.plural_form(n)), self.text(key, n))
        return forms

    def status_label(self, status: str) -> str:
        return self.strings.get(f"status.{status}", status)

    def status_labels(self) -> dict[str, str]:
        return dict(self._status_labels)

    @cached_property
    def _status_labels(self) -> dict[str, str]:
        prefix = "status."
        return {k.removeprefix(prefix): v for k, v in self.strings.items() if k.startswith(prefix)}

    def js_strings(self) -> dict[str, str | dict[str, str]]:
        """What the tracking page's script needs to say things itself: phrases, and counted ones by category."""
        return {k: dict(v) if isinstance(v, dict) else v for k, v in self._js_strings.items()}

    @cached_property
    def _js_strings(self) -> dict[str, str | dict[str, str]]:
        # Every page carries them: listing the catalogue and trying a dozen plural samples once
        # per language, not once per page.
        found: dict[str, str | dict[str, str]] = {
            k.removeprefix("js."): v for k, v in self.strings.items() if k.startswith("js.")
        }
        for key in JS_PLURALS:
            found[key.rpartition(".")[2]] = self.plural_forms(key)
        return found

    @cached_property
    def status_labels_json(self) -> Markup:
        """``status_labels() | tojson``, for the tracking page's script: written once per reader, not per page."""
        return htmlsafe_json_dumps(self._status_labels, sort_keys=True)  # Jinja's tojson, with its sort_keys

    @cached_property
    def js_strings_json(self) -> Markup:
        """``js_strings() | tojson``, likewise."""
        return htmlsafe_json_dumps(self._js_strings, sort_keys=True)

    @cached_property
    def template_functions(self) -> dict[str, Any]:
        """``t()`` and ``tn()`` bound to this reader, for a page's render context.

        They say the same as the environment's ``translate`` and ``translate_count``, but need
        only the evaluation context (is this HTML?), not the render context: Jinja copies the
        whole render context for each call of a context function made after a ``{% set %}``,
        which on the tracking page cost more than the translations themselves.
        """

        @pass_eval_context
        def t(eval_ctx: EvalContext, key: str, /, **values: Any) -> str | Markup:
            return self.markup(key, **values) if eval_ctx.autoescape else self.t(key, **values)

        @pass_eval_context
        def tn(eval_ctx: EvalContext, key: str, count: int, /, **values: Any) -> str | Markup:
            return self.markup(key, count, **values) if eval_ctx.autoescape else self.tn(key, count, **values)

        return {"t": t, "tn": tn}

    # -- dates and times ---------------------------------------------------------------

    def _format(self, moment: datetime, pattern_key: str) -> str:
        pattern = self._date_patterns.get(pattern_key)
        if pattern is None:
            pattern = self._date_patterns[pattern_key] = DatePattern(self.strings[pattern_key], self.locale)
        text = pattern.apply(moment)
        return text.replace("\u202f", " ").replace("\xa0", " ")  # CLDR's narrow spaces read as plain ones

    def clock(self, raw: str | None) -> str:
        """``9:05 AM`` / ``9:05``."""
        return self._format(_parse(raw), "format.clock") if raw else ""

    def day(self, raw: str | None) -> str:
        """``Tuesday, March 3`` / ``martes 3 de marzo``."""
        return self._format(_parse(raw), "format.day") if raw else ""

    def span(self, window: dict[str, Any] | None) -> str:
        """A window: its day and both times, or both days when it spans midnight."""
        if not window:
            return ""
        start, end = window["start"], window["end"]
        values = {"start": self.clock(start), "end": self.clock(end)}
        if _parse(start).date() == _parse(end).date():
            return self.t("format.span", day=self.day(start), **values)
        return self.t("format.span_overnight", start_day=self.day(start), end_day=self.day(end), **values)

    def clock_range(self, span: dict[str, Any] | None) -> str:
        if not span:
            return ""
        return self.t("format.clock_range", start=self.clock(span["start"]), end=self.clock(span["end"]))

    def short_day(self, raw: str | None) -> str:
        """``Tue Mar 3`` / ``mar 3 mar``: short, for SMS."""
        return self._format(_parse(raw), "format.short_day") if raw else ""

    def short_window(self, window: dict[str, str] | None) -> str:
        """``Tue Mar 3, 9:00-11:00 AM``: the period is said once when both ends share it."""
        if not window:
            return ""
        start, end = _parse(window["start"]), _parse(window["end"])
        if start.date() != end.date():
            return self.t(
                "format.short_window_overnight",
                start_day=self.short_day(window["start"]),
                start=self.clock(window["start"]),
                end_day=self.short_day(window["end"]),
                end=self.clock(window["end"]),
            )
        same_period = self._format(start, "format.period") == self._format(end, "format.period")
        first = self._format(start, "format.clock_no_period") if same_period else self.clock(window["start"])
        return self.t(
            "format.short_window", day=self.short_day(window["start"]), start=first, end=self.clock(window["end"])
        )

    # -- numbers -----------------------------------------------------------------------

    def distance(self, metres: float | None) -> str:
        """``850 m`` or ``3.2 km (2.0 mi)``: both units, since customers read either."""
        if metres is None:
            return ""
        if metres < KM:
            return self.t("format.metres", n=round(metres / METRE_STEP) * METRE_STEP)
        km = ONE_DECIMAL.apply(metres / KM, self.locale)  # ``format_decimal(..., "0.0")`` without re-parsing it
        miles = ONE_DECIMAL.apply(metres / METRES_PER_MILE, self.locale)
        return self.t("format.km", km=km, mi=miles)

    def ago(self, raw: str | None, now: datetime | None = None) -> str:
        """``20 s ago`` or ``4 min ago``, from now (the page was rendered just now)."""
        if not raw:
            return ""
        seconds = max(0, round(((now or utc_now()) - _parse(raw)).total_seconds()))
        if seconds < MINUTE:
            return self.t("js.ago_seconds", n=seconds)
        return self.t("js.ago_minutes", n=seconds // MINUTE)


@lru_cache(maxsize=4096)
def _named_fields_only(text: str) -> bool:
    """True when every placeholder in ``text`` is a bare ``{name}``: no index, spec or conversion."""
    try:
        fields = list(Formatter().parse(text))
    except ValueError:
        return False
    return all(name is None or (name.isidentifier() and not spec and conv is None) for _, name, spec, conv in fields)


def _html_field(value: Any) -> str:
    """One value as ``Markup.format`` puts it in HTML (``markupsafe.EscapeFormatter`` without a spec)."""
    if hasattr(value, "__html_format__"):
        shown = value.__html_format__("")
    elif hasattr(value, "__html__"):
        shown = value.__html__()
    else:
        shown = format(value, "")
    return str(escape(shown))


def html_format(text: Markup, values: dict[str, Any]) -> Markup:
    """``text.format(**values)``, escaping the values, as ``Markup.format`` does.

    ``Markup.format`` parses the text in Python on every call; a catalogue phrase with only
    ``{name}`` placeholders (all of ours) is filled by ``str.format`` from values escaped
    the same way, which is several times quicker. Anything else goes to ``Markup.format``.
    """
    if not _named_fields_only(text):
        return text.format(**values)
    return Markup(str.format(text, **{name: _html_field(value) for name, value in values.items()}))


class Translations:
    """Every catalogue, built-in and the operator's, and a Localizer per locale."""

    def __init__(self, templates_dir: Path | None = None, company_name: str | None = None) -> None:
        self.catalogues, self.plural_rules = _load(templates_dir)
        self.company_name = company_name
        self._compiled: dict[str, NullTranslations] = {}
        self._localizers: dict[str, Localizer] = {}

    def compiled(self, language: str) -> NullTranslations:
        """The language's catalogue as gettext translations, English behind it for what it lacks."""
        found = self._compiled.get(language)
        if found is None:
            found = _compile(language, self.catalogues[language], self.plural_rules.get(language))
            if language != FALLBACK_LANGUAGE:
                found.add_fallback(self.compiled(FALLBACK_LANGUAGE))
            self._compiled[language] = found
        return found

    @cached_property
    def languages(self) -> list[str]:
        return sorted(self.catalogues)

    def language(self, locale: str | None) -> str:
        """The catalogue for ``locale``: its full tag if one exists (``pt-BR``), else its language."""
        tag = (locale or "").replace("_", "-").strip()
        for candidate in (tag, tag.lower(), language_of(tag)):
            if candidate in self.catalogues:
                return candidate
        return FALLBACK_LANGUAGE

    def localizer(self, locale: str | None) -> Localizer:
        key = (locale or "").strip()
        found = self._localizers.get(key)
        if found is None:
            language = self.language(locale)
            # Missing keys read English, so a partial operator catalogue never breaks a page.
            strings = {
                k: v
                for k, v in {**self.catalogues[FALLBACK_LANGUAGE], **self.catalogues[language]}.items()
                if isinstance(v, str)
            }
            found = Localizer(
                language, strings, _babel_locale(locale, language), self.company_name, self.compiled(language)
            )
            self._localizers[key] = found
        return found

    def negotiate(self, accept_language: str | None) -> Localizer:
        """The best catalogue for an ``Accept-Language`` header (pages that know no customer)."""
        ranked: list[tuple[float, int, str]] = []
        for index, part in enumerate((accept_language or "").split(",")):
            tag, _, params = part.strip().partition(";")
            quality = 1.0
            if params.strip().startswith("q="):
                try:
                    quality = float(params.strip()[2:])
                except ValueError:
                    quality = 0.0
            if tag and tag != "*" and quality > 0:
                ranked.append((-quality, index, tag))
        for _, _, tag in sorted(ranked):
            if self.language(tag) != FALLBACK_LANGUAGE or language_of(tag) == FALLBACK_LANGUAGE:
                return self.localizer(tag)
        return self.localizer(FALLBACK_LANGUAGE)


def _babel_locale(locale: str | None, language: str) -> Locale:
    """The customer's own locale for names and numbers when its catalogue is of that language.

    ``es-MX`` formats as Mexico does; ``fr`` without a French catalogue reads English throughout,
    never English words around French month names.
    """
    own = (locale or "").replace("-", "_") if language_of(locale) == language_of(language) else ""
    for candidate in (own, language, FALLBACK_LANGUAGE):
        try:
            if candidate:
                return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse(FALLBACK_LANGUAGE)


def catalogue_dirs(templates_dir: Path | None) -> list[Path]:
    """Where catalogues live, the operator's first."""
    dirs = [templates_dir / CATALOGUE_DIR] if templates_dir else []
    dirs.append(data_dir("templates") / CATALOGUE_DIR)
    return [d for d in dirs if d.is_dir()]


def read_catalogue(path: Path) -> dict[str, Text]:
    """Key to text (or plural forms) of one ``.po`` catalogue, or of a ``.json`` one (the older format).

    Entries without a translation are left out, so a partial catalogue leaves the rest as it was.
    """
    return _read(path)[0]


def _read(path: Path) -> tuple[dict[str, Text], str | None]:
    """``read_catalogue``, and the catalogue's own ``Plural-Forms`` header (None for JSON or none).

    The header is what the translator wrote the ``msgstr[i]`` forms against, so it, not the CLDR
    rule of the installed Babel, decides which form a count reads: CLDR adds categories between
    releases (Babel 2.19 gave Spanish and French a third form, for millions), and a catalogue
    written for two forms must keep reading "2 minutos".
    """
    if path.suffix == ".json":
        strings = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(strings, dict) or not all(isinstance(v, str) for v in strings.values()):
            raise ValueError(f"{path}: a catalogue must be a JSON object of strings")
        return dict(strings), None
    with path.open("rb") as f:
        catalogue = read_po(f, abort_invalid=True)
    found: dict[str, Text] = {}
    for message in catalogue:
        key = str(message.id if isinstance(message.id, str) else message.id[0])
        text = message.string
        if not key or not text or message.fuzzy:
            continue
        if isinstance(text, str):
            found[key] = text
            continue
        forms = list(text)
        while forms and not forms[-1]:  # forms a newer CLDR rule added that nobody has filled in yet
            forms.pop()
        if all(forms) and len(forms) >= min(2, catalogue.num_plurals):  # else: untranslated, read English
            found[key] = tuple(forms)
    return found, dict(catalogue.mime_headers).get("Plural-Forms")


def _load(templates_dir: Path | None) -> tuple[dict[str, dict[str, Text]], dict[str, str]]:
    """Every language's strings, and each ``.po`` catalogue's plural rule: the operator's over the built-in."""
    found: dict[str, dict[str, Text]] = {}
    rules: dict[str, str] = {}
    for directory in reversed(catalogue_dirs(templates_dir)):  # built-in first, the operator's on top
        for path in sorted([*directory.glob("*.po"), *directory.glob("*.json")]):
            strings, rule = _read(path)
            found[path.stem] = {**found.get(path.stem, {}), **strings}
            if rule:
                rules[path.stem] = rule
    if FALLBACK_LANGUAGE not in found:
        raise FileNotFoundError(f"the {FALLBACK_LANGUAGE} catalogue is missing from {CATALOGUE_DIR}/")
    return found, rules


def _compile(language: str, strings: dict[str, Text], plural_rule: str | None = None) -> GNUTranslations:
    """A ``.mo`` of ``strings``, built in memory, with the catalogue's plural rule (else Babel's CLDR one)."""
    try:
        catalogue = Catalog(locale=language.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        catalogue = Catalog(locale=FALLBACK_LANGUAGE)
    if plural_rule:
        catalogue.mime_headers = [("Plural-Forms", plural_rule)]
    forms = catalogue.num_plurals
    for key, text in strings.items():
        if isinstance(text, tuple):
            # A catalogue with fewer forms than its rule names reads its last ("other") form for
            # the rest, in its own language, rather than falling back to English mid-sentence.
            catalogue.add((key, key), text + (text[-1],) * (forms - len(text)))
        else:
            catalogue.add(key, text)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue)
    buffer.seek(0)
    return GNUTranslations(buffer)


_ENGLISH: Localizer | None = None


def english() -> Localizer:
    """The built-in English localizer, for callers that know no reader (and for staff pages)."""
    global _ENGLISH
    if _ENGLISH is None:
        _ENGLISH = Translations().localizer(FALLBACK_LANGUAGE)
    return _ENGLISH


def localizer_in(ctx: Context) -> Localizer:
    found = ctx.get(CONTEXT_KEY)
    return found if isinstance(found, Localizer) else english()


@pass_context
def translate(ctx: Context, key: str, /, **values: Any) -> str | Markup:
    """``{{ t("key", name=...) }}``: escaped in HTML templates, plain in SMS and email text."""
    loc = localizer_in(ctx)
    return loc.markup(key, **values) if ctx.eval_ctx.autoescape else loc.t(key, **values)


@pass_context
def translate_count(ctx: Context, key: str, count: int, /, **values: Any) -> str | Markup:
    """``{{ tn("key", n, minutes=...) }}``: the plural form for ``n``, escaped in HTML templates."""
    loc = localizer_in(ctx)
    return loc.markup(key, count, **values) if ctx.eval_ctx.autoescape else loc.tn(key, count, **values)


def _filter(name: str) -> Any:
    @pass_context
    def apply(ctx: Context, value: Any) -> str:
        method = getattr(localizer_in(ctx), name)
        result: str = method(value)
        return result

    return apply


FILTERS = ("clock", "day", "span", "clock_range", "short_day", "short_window", "distance", "ago")


def install(env: Any) -> None:
    """Give a Jinja environment ``t()`` and the locale-aware date, time and distance filters.

    Each reads the ``i18n`` Localizer of the render context, English when there is none.
    ``company_name`` is the English default unless the environment or the render says otherwise.
    """
    env.globals["t"] = translate
    env.globals["tn"] = translate_count
    env.globals.setdefault("company_name", english().company_name)
    for name in FILTERS:
        env.filters[name] = _filter(name)
