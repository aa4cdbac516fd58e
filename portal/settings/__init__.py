"""Settings, read once from the environment and validated before anything starts.

Never imports another part of the portal: everything else reads its settings from here.

Each setting is one row, a field of ``Settings`` made by ``setting(VARIABLE, parser, default,
help)``. That row is the field's typed default (the parser applied to the default text), what
``from_env`` reads and how, and the setting's line in docs/configuration.md. So the dataclass,
the parsing and the documentation cannot drift apart: a test fails when the generated table in
the docs is out of date, and another when the README or docs miss a setting.

To add a setting:
1. Add one field to ``Settings``:
   ``routing_url: str | None = setting("PORTAL_ROUTING_URL", url, None, "what it does, for the docs")``.
   The parser takes the variable's name and its text and returns the value, or raises
   ``ConfigError`` starting with the name (``PORTAL_X must be ...``); reuse one from
   portal/settings/parsers.py or write one there. The default is the text an unset variable
   stands for (``None``: not set).
   ``secret=True`` keeps the value out of ``repr``; ``shown=`` is the default as the docs say
   it, when the text alone would not explain it; ``blank=True`` passes an empty value to the
   parser instead of taking the default.
2. Run ``python docs/generate.py`` to rewrite the table in docs/configuration.md.
3. A rule between two settings goes in ``_check_pairs``.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import time
from pathlib import Path

from portal.settings.parsers import (
    DEFAULT_MESSAGES,
    NOTIFICATION_MESSAGES,
    OPT_IN_MESSAGES,
    ROW,
    SMTP_DEFAULT_PORTS,
    ConfigError,
    Sender,
    Setting,
    at_least,
    bearer_token,
    clock,
    color,
    directory,
    email,
    hour_range,
    key_list,
    message_names,
    number,
    positive_int,
    proxies,
    region,
    sender,
    setting,
    slot_windows,
    sqlite_path_of,
    store_address,
    text,
    tiles,
    tls_mode,
    url,
    whsec_text,
    whsecs,
)

__all__ = [
    "NOTIFICATION_MESSAGES",
    "OPT_IN_MESSAGES",
    "SETTINGS",
    "ConfigError",
    "Sender",
    "Setting",
    "Settings",
    "docs_table",
    "from_env",
    "sqlite_path_of",
]

log = logging.getLogger("portal.settings")

# Below this a lease could expire while a healthy provider call is still running.
MIN_LEASE_SECONDS = 3
# A proxy on the same host is believed by default; one on another host must be named.
DEFAULT_TRUSTED_PROXIES = "127.0.0.1,::1"
# A household has a few phones and tabs open; 20 streams leaves room for a shared office address
# while one client can no longer hold thousands of connections (each costs a socket and memory).
DEFAULT_MAX_STREAMS = 20


@dataclass(frozen=True)
class Settings:
    store_url: str = setting(
        "PORTAL_STORE",
        store_address,
        "sqlite:///portal.db",
        "`sqlite:///relative/file.db` or `sqlite:////absolute/file.db` (embedded; SQLAlchemy's convention: three"
        " slashes then a path from the current folder, four for an absolute one), or `redis://host:port/db`. A"
        " relative path whose first folder exists only at the root of the disk (`sqlite:///srv/portal/p.db` run"
        " outside `/`) stops start-up naming the four-slash form; one that exists in both places warns",
        secret=True,  # a Redis URL may carry its password
    )
    secret_keys: tuple[str, ...] = setting(
        "PORTAL_SECRET_KEY",
        key_list,
        "",
        "keys for signed links, comma-separated: the first signs, all verify (rotation); at least 16 characters"
        " each; required for non-SQLite stores",
        shown="dev only: generated into `<db file>.secret` with a warning",
        secret=True,
    )
    public_url: str | None = setting(
        "PORTAL_PUBLIC_URL",
        url,
        None,
        "public base URL used in links (and for Twilio signatures behind a proxy)",
        shown="the address `serve` listens on",
    )
    webhook_secrets: tuple[str, ...] = setting(
        "PORTAL_WEBHOOK_SECRET",
        whsecs,
        "",
        "Standard Webhooks secret(s) `whsec_...`, space-separated for rotation",
        shown="none: `/webhooks/field` answers 503",
        secret=True,
    )
    callback_url: str | None = setting(
        "PORTAL_CALLBACK_URL",
        url,
        None,
        "the field system's endpoint for events the portal sends back",
        shown="none: callbacks recorded, not sent",
    )
    callback_secret: str | None = setting(
        "PORTAL_CALLBACK_SECRET",
        whsec_text,
        None,
        "`whsec_...` that signs those callbacks",
        shown="required with the URL",
        secret=True,
    )
    default_region: str = setting(
        "PORTAL_DEFAULT_REGION", region, "US", "region for phone numbers without a country code"
    )
    link_ttl_days: int = setting(
        "PORTAL_LINK_TTL_DAYS",
        positive_int,
        "14",
        "a tracking link stops working this many days after completion or cancellation",
    )
    retention_days: int = setting(
        "PORTAL_RETENTION_DAYS",
        positive_int,
        "90",
        "this many days after a job is completed or cancelled its personal data is deleted (`portal purge`, and"
        " hourly by every process); at least `PORTAL_LINK_TTL_DAYS`",
    )
    quiet_hours: tuple[time, time] | None = setting(
        "PORTAL_QUIET_HOURS",
        hour_range,
        "21:00-08:00",
        "local hours in which non-urgent SMS wait; empty for none",
        blank=True,
    )
    company_name: str | None = setting(
        "PORTAL_COMPANY_NAME",
        text,
        None,
        "the name in messages and pages, used as given in every language",
        shown="`Your service team`, in the reader's language (the catalogue's `company.default`)",
    )
    templates_dir: Path | None = setting(
        "PORTAL_TEMPLATES_DIR",
        directory,
        None,
        "a directory whose templates override the built-in ones (same relative paths)",
    )
    logo_url: str | None = setting(
        "PORTAL_LOGO_URL",
        url,
        None,
        "an `http(s)` URL of a logo shown in the header of pages and emails (its origin is allowed in the tracking"
        " page's `img-src`)",
        shown="none: the company name as text",
    )
    brand_color: str = setting(
        "PORTAL_BRAND_COLOR",
        color,
        "#0b5cad",  # a blue with 6.4:1 contrast against white text
        "the brand colour of headers, buttons and links in pages and emails, written `#rrggbb` (anything else stops"
        " start-up)",
    )
    support_phone: str | None = setting(
        "PORTAL_SUPPORT_PHONE",
        text,
        None,
        "a phone number customers may call, shown at the foot of pages (as a `tel:` link) and emails",
    )
    support_email: str | None = setting(
        "PORTAL_SUPPORT_EMAIL",
        email,
        None,
        "an address customers may write to, shown at the foot of pages and emails",
    )
    notifications: frozenset[str] = setting(
        "PORTAL_NOTIFICATIONS",
        message_names,
        ",".join(sorted(DEFAULT_MESSAGES)),
        "the customer messages to send, comma-separated names from the [notification policy](notifications.md)"
        " (`all`, or `none` for none)",
        shown="all but `arriving`",
    )
    reminder_time: time = setting(
        "PORTAL_REMINDER_TIME", clock, "18:00", "local time, the evening before the visit, of the reminder"
    )
    reminder_lead_hours: int = setting(
        "PORTAL_REMINDER_LEAD_HOURS",
        positive_int,
        "2",
        "for bookings made after that time: the reminder comes this many hours before the visit",
    )
    worker_lease_seconds: int = setting(
        "PORTAL_WORKER_LEASE_SECONDS",
        at_least(MIN_LEASE_SECONDS, positive_int),
        # A claimed outbox row is reserved this long; provider calls are bounded well inside it,
        # and a crashed worker's rows come back after it, inside the 60 s promised in CONTRACT §8.
        "30",
        "how long a worker holds a message it is sending (at least 3); a crashed worker's messages go out again"
        " after it",
    )
    staff_idle_minutes: int = setting(
        "PORTAL_STAFF_IDLE_MINUTES",
        positive_int,
        "30",
        "a staff console session ends after this many minutes without a request (and after 12 hours in any case)",
    )
    map_tiles: str | None = setting(
        "PORTAL_MAP_TILES",
        tiles,
        # OpenStreetMap's own tiles, fine for light use under its tile usage policy; busy
        # deployments point this at a tile provider of their own.
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "map tile URL template for the tracking page (its host is allowed in the page's `img-src`); `none` for no"
        " map: the page still says how far away and when",
    )
    map_attribution: str = setting(
        "PORTAL_MAP_ATTRIBUTION",
        text,
        "© OpenStreetMap contributors",
        "the tiles' attribution, shown under the map as plain text",
    )
    eta_detour_factor: float = setting(
        "PORTAL_ETA_DETOUR_FACTOR",
        at_least(1.0, number),
        "1.35",
        "road distance over straight-line distance used by the ETA estimate (at least 1)",
    )
    eta_urban_speed_kmh: float = setting(
        "PORTAL_ETA_URBAN_SPEED_KMH",
        number,
        "30",
        "typical driving speed in km/h, blended with the speed measured from recent pings",
    )
    location_stale_seconds: int = setting(
        "PORTAL_LOCATION_STALE_SECONDS",
        positive_int,
        "180",
        "without a new position for this long, the position and its ETA are shown as stale, never as live",
    )
    arrival_radius_m: float = setting(
        "PORTAL_ARRIVAL_RADIUS_M",
        number,
        "150",
        "within this many metres of the address the page says the technician is arriving",
    )
    eta_calibration_min_arrivals: int = setting(
        "PORTAL_ETA_CALIBRATION_MIN_ARRIVALS",
        positive_int,
        "50",
        "once this many arrivals were recorded in the last 90 days, the ETA range shown is the 10th-90th"
        " percentile of how past estimates of the same source and lead time turned out; until then, a fifth of"
        " the time left (at least 2 minutes) either side",
    )
    routing_url: str | None = setting(
        "PORTAL_ROUTING_URL",
        url,
        None,
        "base URL of an OSRM-compatible routing API (`{url}/route/v1/driving/...`) for road ETAs and the route"
        " line on the tracking page; at most one request per job every 30 s, 2 s timeout",
        shown="none: straight-line estimate",
    )
    review_url: str | None = setting(
        "PORTAL_REVIEW_URL",
        url,
        None,
        "a public review page (your Google, Yelp or other listing); after rating a visit, whatever the score, every"
        " customer is offered it on the page and in the SMS reply",
    )
    reschedule_slots: tuple[tuple[time, time], ...] = setting(
        "PORTAL_RESCHEDULE_SLOTS",
        slot_windows,
        "",
        "local windows offered for a new time when the field system sends no `reschedule_slots`, e.g."
        " `09:00-11:00,13:00-15:00`: Monday to Friday from tomorrow, in the job's time zone (DST-correct), the"
        " first 3, never the visit's current window",
        shown="none: customers are asked to call",
    )
    trusted_proxies: tuple[str, ...] = setting(
        "PORTAL_TRUSTED_PROXIES",
        proxies,
        DEFAULT_TRUSTED_PROXIES,
        "addresses or CIDR ranges (comma-separated, spaces allowed) of the reverse proxies whose `X-Forwarded-For`"
        " and `X-Forwarded-Proto` are believed; the client is the right-most address that is not one of them."
        " Throttles, stream caps, the audit log and logs use that address. Empty: no proxy is believed. See"
        " [security](security.md#client-addresses)",
        blank=True,
    )
    max_streams_per_client: int = setting(
        "PORTAL_MAX_STREAMS_PER_CLIENT",
        positive_int,
        str(DEFAULT_MAX_STREAMS),
        "live-event streams (`/t/{token}/events`) one client address may hold open at once; more answer `429`."
        " Counted per process (several `serve` processes on Redis each allow this many)",
    )
    metrics_token: str | None = setting(
        "PORTAL_METRICS_TOKEN",
        bearer_token,
        None,
        "when set (at least 16 characters), `/metrics` answers only requests carrying `Authorization: Bearer"
        " <token>`, others get `401`",
        shown="none: `/metrics` is open",
        secret=True,
    )
    twilio_account_sid: str | None = setting(
        "TWILIO_ACCOUNT_SID", text, None, "Twilio account", shown="none: SMS recorded as not sent"
    )
    twilio_auth_token: str | None = setting("TWILIO_AUTH_TOKEN", text, None, "Twilio auth token", secret=True)
    twilio_from: str | None = setting("TWILIO_FROM", text, None, "sender number or Messaging Service SID (`MG...`)")
    twilio_api_url: str | None = setting(
        "TWILIO_API_URL", url, None, "base URL of a Twilio-compatible API", shown="Twilio's own"
    )
    smtp_host: str | None = setting(
        "SMTP_HOST", text, None, "outgoing mail server", shown="none: email recorded as not sent"
    )
    # Unset, the port follows SMTP_TLS (see from_env); 587 goes with the default, starttls.
    smtp_port: int = setting("SMTP_PORT", positive_int, "587", "its port", shown="25 / 587 / 465 by `SMTP_TLS`")
    smtp_username: str | None = setting("SMTP_USERNAME", text, None, "login")
    smtp_password: str | None = setting("SMTP_PASSWORD", text, None, "password", secret=True)
    smtp_tls: str = setting("SMTP_TLS", tls_mode, "starttls", "`none`, `starttls` or `tls`")
    smtp_from: Sender | None = setting(
        "SMTP_FROM",
        sender,
        None,
        "sender: `noreply@acme.example` or `Acme Heating <noreply@acme.example>`; the address is the envelope"
        " sender, the name (else the company name) is shown in `From`; anything but one address stops start-up",
        shown="none (required with `SMTP_HOST`)",
    )
    demo: bool = False  # set by ``portal demo``, never from the environment

    @property
    def sqlite_path(self) -> Path | None:
        """The database file for a ``sqlite:///`` store, else None."""
        return sqlite_path_of(self.store_url)

    def with_public_url(self, url: str) -> Settings:
        """A copy whose public URL is ``url`` unless one was configured."""
        if self.public_url:
            return self
        return replace(self, public_url=url.rstrip("/"))


SETTINGS: tuple[Setting, ...] = tuple(f.metadata[ROW] for f in fields(Settings) if ROW in f.metadata)


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raise ConfigError naming the first bad variable."""
    env = os.environ if environ is None else environ
    values = {f.name: f.metadata[ROW].read(env, f.default) for f in fields(Settings) if ROW in f.metadata}
    if not env.get("SMTP_PORT", "").strip():
        values["smtp_port"] = SMTP_DEFAULT_PORTS[values["smtp_tls"]]
    if not env.get("PORTAL_SECRET_KEY", "").strip():
        values["secret_keys"] = _development_key(values["store_url"])
    settings = Settings(**values)
    _check_pairs(settings)
    return settings


def docs_table() -> str:
    """The settings table of docs/configuration.md, one line per setting."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{s.name}` | {s.documented_default} | {s.help} |" for s in SETTINGS]
    return "\n".join(lines) + "\n"


def _development_key(store: str) -> tuple[str, ...]:
    """The key kept beside a SQLite file, made on first use; other stores need PORTAL_SECRET_KEY."""
    if not store.startswith("sqlite:///"):
        raise ConfigError("PORTAL_SECRET_KEY is required when PORTAL_STORE is not SQLite")
    path = Path(store.removeprefix("sqlite:///") + ".secret")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
        log.warning("PORTAL_SECRET_KEY is not set: generated a development key in %s", path)
    else:
        log.warning("PORTAL_SECRET_KEY is not set: using the development key in %s", path)
    return (path.read_text().strip(),)


def _check_pairs(s: Settings) -> None:
    if s.retention_days < s.link_ttl_days:
        # A link must keep answering (and its job keep existing) for as long as it is valid.
        raise ConfigError(
            f"PORTAL_RETENTION_DAYS ({s.retention_days}) must be at least PORTAL_LINK_TTL_DAYS ({s.link_ttl_days})"
        )
    if s.callback_url and not s.callback_secret:
        raise ConfigError("PORTAL_CALLBACK_SECRET is required when PORTAL_CALLBACK_URL is set")
    if s.twilio_account_sid and not (s.twilio_auth_token and s.twilio_from):
        raise ConfigError("TWILIO_AUTH_TOKEN and TWILIO_FROM are required when TWILIO_ACCOUNT_SID is set")
    if s.smtp_host and not s.smtp_from:
        raise ConfigError("SMTP_FROM is required when SMTP_HOST is set")
