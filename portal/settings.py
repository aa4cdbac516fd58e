"""Settings, read once from the environment and validated before anything starts.

Every setting is listed in ``SETTINGS`` with its default and help text; a test fails when
the README does not document one of them.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import math
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from pathlib import Path
from urllib.parse import urlsplit

import phonenumbers

log = logging.getLogger("portal.settings")

DEFAULT_STORE = "sqlite:///portal.db"
DEFAULT_BRAND_COLOR = "#0b5cad"  # a blue with 6.4:1 contrast against white text
COLOR_PATTERN = re.compile(r"#[0-9a-fA-F]{6}")
EMAIL_PATTERN = re.compile(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+")
SMTP_DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
# The customer messages of the notification policy (portal/core/policy.py), all on by default.
NOTIFICATION_MESSAGES = frozenset(
    {
        "booking_confirmed",
        "reminder",
        "technician_assigned",
        "en_route",
        "completed",
        "cancelled",
        "on_hold",
        "running_late",
        "arriving",
    }
)
# Messages sent only when PORTAL_NOTIFICATIONS names them (or says ``all``): a text as the van
# turns into the street is welcome to some customers and noise to others.
OPT_IN_MESSAGES = frozenset({"arriving"})
DEFAULT_MESSAGES = NOTIFICATION_MESSAGES - OPT_IN_MESSAGES
# The map: OpenStreetMap's own tiles, fine for light use under its tile usage policy; busy
# deployments point this at a tile provider of their own.
DEFAULT_MAP_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_MAP_ATTRIBUTION = "© OpenStreetMap contributors"
# A claimed outbox row is reserved this long; provider calls are bounded well inside it, and a
# crashed worker's rows come back after it, inside the 60 s promised in CONTRACT §8.
DEFAULT_LEASE_SECONDS = 30
# Below this a lease could expire while a healthy provider call is still running.
MIN_LEASE_SECONDS = 3
# A proxy on the same host is believed by default; one on another host must be named.
DEFAULT_TRUSTED_PROXIES = "127.0.0.1,::1"
# A household has a few phones and tabs open; 20 streams leaves room for a shared office address
# while one client can no longer hold thousands of connections (each costs a socket and memory).
DEFAULT_MAX_STREAMS = 20
MIN_METRICS_TOKEN_LENGTH = 16  # a bearer token short enough to guess is no protection


class ConfigError(Exception):
    """A setting is invalid; the message names the variable and what to fix."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("PORTAL_STORE", DEFAULT_STORE, "`sqlite:///path/to/file.db` or `redis://host:port/db`."),
    Setting(
        "PORTAL_SECRET_KEY",
        "generated beside the SQLite file (dev only)",
        "Keys for signed links and sessions, comma-separated: the first signs, all verify.",
    ),
    Setting("PORTAL_PUBLIC_URL", "the address `serve` listens on", "Public base URL for links and Twilio signatures."),
    Setting(
        "PORTAL_WEBHOOK_SECRET",
        "none (field webhooks answer 503)",
        "Standard Webhooks secret(s) `whsec_...` for inbound field webhooks, space-separated.",
    ),
    Setting("PORTAL_CALLBACK_URL", "none (callbacks recorded, not sent)", "Field-system endpoint for callbacks."),
    Setting("PORTAL_CALLBACK_SECRET", "required with the URL", "`whsec_...` used to sign callbacks."),
    Setting("PORTAL_DEFAULT_REGION", "US", "Region for phone numbers without a country code."),
    Setting("PORTAL_LINK_TTL_DAYS", "14", "Days a tracking link works after completion or cancellation."),
    Setting(
        "PORTAL_RETENTION_DAYS",
        "90",
        "Days after completion or cancellation before a job's personal data is deleted (`portal purge`).",
    ),
    Setting("PORTAL_QUIET_HOURS", "21:00-08:00", "Local hours in which non-urgent SMS wait; empty for none."),
    Setting("PORTAL_COMPANY_NAME", "Your service team", "The name shown in messages and pages."),
    Setting("PORTAL_TEMPLATES_DIR", "none", "Directory whose templates override the built-in ones."),
    Setting("PORTAL_LOGO_URL", "none (the company name as text)", "Logo shown on pages and emails (https URL)."),
    Setting("PORTAL_BRAND_COLOR", DEFAULT_BRAND_COLOR, "Brand colour of pages and emails, `#rrggbb`."),
    Setting("PORTAL_SUPPORT_PHONE", "none", "Phone number customers may call, shown on pages and emails."),
    Setting("PORTAL_SUPPORT_EMAIL", "none", "Address customers may write to, shown on pages and emails."),
    Setting(
        "PORTAL_NOTIFICATIONS",
        "all but `arriving`",
        "Customer messages to send, comma-separated (see the notification policy); `none` for none.",
    ),
    Setting("PORTAL_REMINDER_TIME", "18:00", "Local time, the day before the visit, of the reminder."),
    Setting(
        "PORTAL_REMINDER_LEAD_HOURS", "2", "Hours before the visit of the reminder when booked after the usual time."
    ),
    Setting(
        "PORTAL_WORKER_LEASE_SECONDS",
        "30",
        "How long a claimed outbox row stays reserved; a crashed worker's rows are retried after it.",
    ),
    Setting("PORTAL_STAFF_IDLE_MINUTES", "30", "Minutes without activity after which a staff session ends."),
    Setting(
        "PORTAL_MAP_TILES", DEFAULT_MAP_TILES, "Map tile URL template with `{z}`, `{x}`, `{y}`; `none` for no map."
    ),
    Setting("PORTAL_MAP_ATTRIBUTION", DEFAULT_MAP_ATTRIBUTION, "Attribution shown under the map, as plain text."),
    Setting("PORTAL_ETA_DETOUR_FACTOR", "1.35", "Road distance over straight-line distance, for the ETA (1 or more)."),
    Setting("PORTAL_ETA_URBAN_SPEED_KMH", "30", "Typical driving speed, km/h, blended with the measured speed."),
    Setting("PORTAL_LOCATION_STALE_SECONDS", "180", "Seconds without a position after which it is shown as stale."),
    Setting("PORTAL_ARRIVAL_RADIUS_M", "150", "Metres from the address within which the technician is arriving."),
    Setting(
        "PORTAL_REVIEW_URL",
        "none",
        "Public review page (e.g. your Google or Yelp listing) offered to every customer after they rate a visit.",
    ),
    Setting(
        "PORTAL_RESCHEDULE_SLOTS",
        "none (customers are asked to call)",
        "Local windows such as `09:00-11:00,13:00-15:00` offered, Monday to Friday from tomorrow in the job's"
        " time zone, the first 3, when the field system sends no `reschedule_slots`.",
    ),
    Setting(
        "PORTAL_TRUSTED_PROXIES",
        DEFAULT_TRUSTED_PROXIES,
        "Addresses or CIDR ranges of reverse proxies whose `X-Forwarded-For`/`-Proto` are believed, comma-separated;"
        " empty for none.",
    ),
    Setting(
        "PORTAL_MAX_STREAMS_PER_CLIENT",
        str(DEFAULT_MAX_STREAMS),
        "Open live-event streams one client address may hold (per process); more answer 429.",
    ),
    Setting(
        "PORTAL_METRICS_TOKEN",
        "none (`/metrics` is open)",
        "When set, `/metrics` needs `Authorization: Bearer <token>`.",
    ),
    Setting("TWILIO_ACCOUNT_SID", "none (SMS recorded as not sent)", "Twilio account SID."),
    Setting("TWILIO_AUTH_TOKEN", "none", "Twilio auth token (also validates Twilio's webhooks)."),
    Setting("TWILIO_FROM", "none", "Sender phone number or Messaging Service SID (`MG...`)."),
    Setting("TWILIO_API_URL", "Twilio's own", "Base URL of a Twilio-compatible API."),
    Setting("SMTP_HOST", "none (email recorded as not sent)", "Outgoing mail server."),
    Setting("SMTP_PORT", "25 / 587 / 465 by SMTP_TLS", "Outgoing mail server port."),
    Setting("SMTP_USERNAME", "none", "SMTP login name."),
    Setting("SMTP_PASSWORD", "none", "SMTP password."),
    Setting("SMTP_TLS", "starttls", "`none`, `starttls` or `tls`."),
    Setting("SMTP_FROM", "none (required with SMTP_HOST)", "Sender address of emails."),
)


@dataclass(frozen=True)
class Settings:
    store_url: str = field(default=DEFAULT_STORE, repr=False)  # a Redis URL may carry its password
    secret_keys: tuple[str, ...] = field(default=(), repr=False)
    public_url: str | None = None
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    callback_url: str | None = None
    callback_secret: str | None = field(default=None, repr=False)
    default_region: str = "US"
    link_ttl_days: int = 14
    retention_days: int = 90
    quiet_hours: tuple[time, time] | None = (time(21, 0), time(8, 0))
    company_name: str = "Your service team"
    templates_dir: Path | None = None
    logo_url: str | None = None
    brand_color: str = DEFAULT_BRAND_COLOR
    support_phone: str | None = None
    support_email: str | None = None
    notifications: frozenset[str] = DEFAULT_MESSAGES
    reminder_time: time = time(18, 0)
    reminder_lead_hours: int = 2
    worker_lease_seconds: int = DEFAULT_LEASE_SECONDS
    staff_idle_minutes: int = 30
    map_tiles: str | None = DEFAULT_MAP_TILES
    map_attribution: str = DEFAULT_MAP_ATTRIBUTION
    eta_detour_factor: float = 1.35
    eta_urban_speed_kmh: float = 30.0
    location_stale_seconds: int = 180
    arrival_radius_m: float = 150.0
    review_url: str | None = None
    reschedule_slots: tuple[tuple[time, time], ...] = ()
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)
    twilio_from: str | None = None
    twilio_api_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_tls: str = "starttls"
    smtp_from: str | None = None
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    max_streams_per_client: int = DEFAULT_MAX_STREAMS
    metrics_token: str | None = field(default=None, repr=False)
    demo: bool = False

    @property
    def sqlite_path(self) -> Path | None:
        """The database file for a ``sqlite:///`` store, else None."""
        if not self.store_url.startswith("sqlite:///"):
            return None
        return Path(self.store_url.removeprefix("sqlite:///"))

    def with_public_url(self, url: str) -> Settings:
        """A copy whose public URL is ``url`` unless one was configured."""
        if self.public_url:
            return self
        return replace(self, public_url=url.rstrip("/"))


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raise ConfigError naming the first bad variable."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    store_url = get("PORTAL_STORE") or DEFAULT_STORE
    _check_store(store_url)
    smtp_tls = (get("SMTP_TLS") or "starttls").lower()
    if smtp_tls not in SMTP_DEFAULT_PORTS:
        raise ConfigError(f"SMTP_TLS must be one of none, starttls, tls; got {smtp_tls!r}")
    settings = Settings(
        store_url=store_url,
        secret_keys=_secret_keys(get("PORTAL_SECRET_KEY"), store_url),
        public_url=_url("PORTAL_PUBLIC_URL", get("PORTAL_PUBLIC_URL")),
        webhook_secrets=_whsecs("PORTAL_WEBHOOK_SECRET", get("PORTAL_WEBHOOK_SECRET")),
        callback_url=_url("PORTAL_CALLBACK_URL", get("PORTAL_CALLBACK_URL")),
        callback_secret=get("PORTAL_CALLBACK_SECRET"),
        default_region=_region(get("PORTAL_DEFAULT_REGION") or "US"),
        link_ttl_days=_positive_int("PORTAL_LINK_TTL_DAYS", get("PORTAL_LINK_TTL_DAYS") or "14"),
        retention_days=_positive_int("PORTAL_RETENTION_DAYS", get("PORTAL_RETENTION_DAYS") or "90"),
        quiet_hours=parse_quiet_hours(env.get("PORTAL_QUIET_HOURS", "21:00-08:00")),
        company_name=get("PORTAL_COMPANY_NAME") or "Your service team",
        templates_dir=_directory("PORTAL_TEMPLATES_DIR", get("PORTAL_TEMPLATES_DIR")),
        logo_url=_url("PORTAL_LOGO_URL", get("PORTAL_LOGO_URL")),
        brand_color=_color("PORTAL_BRAND_COLOR", get("PORTAL_BRAND_COLOR") or DEFAULT_BRAND_COLOR),
        support_phone=get("PORTAL_SUPPORT_PHONE"),
        support_email=_email("PORTAL_SUPPORT_EMAIL", get("PORTAL_SUPPORT_EMAIL")),
        notifications=_notifications(get("PORTAL_NOTIFICATIONS")),
        reminder_time=_clock("PORTAL_REMINDER_TIME", get("PORTAL_REMINDER_TIME") or "18:00"),
        reminder_lead_hours=_positive_int("PORTAL_REMINDER_LEAD_HOURS", get("PORTAL_REMINDER_LEAD_HOURS") or "2"),
        worker_lease_seconds=_lease(get("PORTAL_WORKER_LEASE_SECONDS")),
        staff_idle_minutes=_positive_int("PORTAL_STAFF_IDLE_MINUTES", get("PORTAL_STAFF_IDLE_MINUTES") or "30"),
        map_tiles=_tiles(get("PORTAL_MAP_TILES")),
        map_attribution=get("PORTAL_MAP_ATTRIBUTION") or DEFAULT_MAP_ATTRIBUTION,
        eta_detour_factor=_number("PORTAL_ETA_DETOUR_FACTOR", get("PORTAL_ETA_DETOUR_FACTOR") or "1.35", minimum=1.0),
        eta_urban_speed_kmh=_number("PORTAL_ETA_URBAN_SPEED_KMH", get("PORTAL_ETA_URBAN_SPEED_KMH") or "30"),
        location_stale_seconds=_positive_int(
            "PORTAL_LOCATION_STALE_SECONDS", get("PORTAL_LOCATION_STALE_SECONDS") or "180"
        ),
        arrival_radius_m=_number("PORTAL_ARRIVAL_RADIUS_M", get("PORTAL_ARRIVAL_RADIUS_M") or "150"),
        review_url=_url("PORTAL_REVIEW_URL", get("PORTAL_REVIEW_URL")),
        reschedule_slots=parse_slot_windows(env.get("PORTAL_RESCHEDULE_SLOTS", "")),
        twilio_account_sid=get("TWILIO_ACCOUNT_SID"),
        twilio_auth_token=get("TWILIO_AUTH_TOKEN"),
        twilio_from=get("TWILIO_FROM"),
        twilio_api_url=_url("TWILIO_API_URL", get("TWILIO_API_URL")),
        smtp_host=get("SMTP_HOST"),
        smtp_port=_positive_int("SMTP_PORT", get("SMTP_PORT") or str(SMTP_DEFAULT_PORTS[smtp_tls])),
        smtp_username=get("SMTP_USERNAME"),
        smtp_password=get("SMTP_PASSWORD"),
        smtp_tls=smtp_tls,
        smtp_from=get("SMTP_FROM"),
        trusted_proxies=parse_trusted_proxies(env.get("PORTAL_TRUSTED_PROXIES", DEFAULT_TRUSTED_PROXIES)),
        max_streams_per_client=_positive_int(
            "PORTAL_MAX_STREAMS_PER_CLIENT", get("PORTAL_MAX_STREAMS_PER_CLIENT") or str(DEFAULT_MAX_STREAMS)
        ),
        metrics_token=_metrics_token(get("PORTAL_METRICS_TOKEN")),
    )
    _check_pairs(settings)
    return settings


def _check_store(url: str) -> None:
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return
    if url.startswith(("redis://", "rediss://")):
        return
    shown = url.split("@")[-1]  # never echo a password given in the URL
    raise ConfigError(f"PORTAL_STORE must look like sqlite:///path/to/file.db or redis://host:port/db; got {shown!r}")


def _secret_keys(raw: str | None, store_url: str) -> tuple[str, ...]:
    if raw:
        keys = tuple(k.strip() for k in raw.split(",") if k.strip())
        if any(len(k) < 16 for k in keys):
            raise ConfigError("PORTAL_SECRET_KEY: each key must be at least 16 characters long")
        return keys
    if not store_url.startswith("sqlite:///"):
        raise ConfigError("PORTAL_SECRET_KEY is required when PORTAL_STORE is not SQLite")
    path = Path(store_url.removeprefix("sqlite:///") + ".secret")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
        log.warning("PORTAL_SECRET_KEY is not set: generated a development key in %s", path)
    else:
        log.warning("PORTAL_SECRET_KEY is not set: using the development key in %s", path)
    return (path.read_text().strip(),)


def _url(name: str, raw: str | None) -> str | None:
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http:// or https:// URL; got {raw!r}")
    return raw.rstrip("/")


def _whsecs(name: str, raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    found = tuple(raw.split())
    for secret in found:
        if not secret.startswith("whsec_"):
            raise ConfigError(f"{name}: each secret must start with whsec_")
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{name}: the part after whsec_ must be base64") from None
        if len(key) < 16:
            raise ConfigError(f"{name}: each secret must hold at least 16 bytes of key")
    return found


def _color(name: str, raw: str) -> str:
    """``#rrggbb``, lower-cased: it goes into CSS and email styles, so nothing else is let through."""
    if not COLOR_PATTERN.fullmatch(raw):
        raise ConfigError(f"{name} must be a colour written #rrggbb, such as #0b5cad; got {raw!r}")
    return raw.lower()


def _email(name: str, raw: str | None) -> str | None:
    if raw is None:
        return None
    if not EMAIL_PATTERN.fullmatch(raw):
        raise ConfigError(f"{name} must be an email address such as help@example.com; got {raw!r}")
    return raw


def _region(raw: str) -> str:
    region = raw.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(f"PORTAL_DEFAULT_REGION must be a region code such as US or GB; got {raw!r}")
    return region


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number; got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be greater than zero; got {raw!r}")
    return value


def _number(name: str, raw: str, minimum: float | None = None) -> float:
    """A finite number above zero (and at least ``minimum`` when given)."""
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number; got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be greater than zero; got {raw!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}; got {raw!r}")
    return value


def _tiles(raw: str | None) -> str | None:
    """The tile URL template; ``none`` turns the map off (the page still gives ETA and distance)."""
    if raw is None:
        return DEFAULT_MAP_TILES
    if raw.lower() == "none":
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"PORTAL_MAP_TILES must be an http:// or https:// URL template or none; got {raw!r}")
    if not all(part in raw for part in ("{z}", "{x}", "{y}")):
        raise ConfigError(f"PORTAL_MAP_TILES must contain {{z}}, {{x}} and {{y}}; got {raw!r}")
    return raw


def _directory(name: str, raw: str | None) -> Path | None:
    if raw is None:
        return None
    path = Path(raw)
    if not path.is_dir():
        raise ConfigError(f"{name} must be an existing directory; got {raw!r}")
    return path


def _notifications(raw: str | None) -> frozenset[str]:
    if raw is None:
        return DEFAULT_MESSAGES
    if raw.lower() == "all":
        return NOTIFICATION_MESSAGES
    if raw.lower() == "none":
        return frozenset()
    names = frozenset(name.strip() for name in raw.split(",") if name.strip())
    unknown = sorted(names - NOTIFICATION_MESSAGES)
    if unknown:
        known = ", ".join(sorted(NOTIFICATION_MESSAGES))
        raise ConfigError(f"PORTAL_NOTIFICATIONS: unknown message {unknown[0]!r}; use all, none or some of {known}")
    return names


def _clock(name: str, raw: str) -> time:
    try:
        return time.fromisoformat(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a local time such as 18:00; got {raw!r}") from None


def _lease(raw: str | None) -> int:
    seconds = _positive_int("PORTAL_WORKER_LEASE_SECONDS", raw or str(DEFAULT_LEASE_SECONDS))
    if seconds < MIN_LEASE_SECONDS:
        raise ConfigError(f"PORTAL_WORKER_LEASE_SECONDS must be at least {MIN_LEASE_SECONDS}; got {raw!r}")
    return seconds


def parse_trusted_proxies(raw: str) -> tuple[str, ...]:
    """Addresses and CIDR ranges, comma-separated (spaces allowed); empty trusts no proxy."""
    found: list[str] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            found.append(
                str(ipaddress.ip_network(part, strict=False)) if "/" in part else str(ipaddress.ip_address(part))
            )
        except ValueError:
            raise ConfigError(
                f"PORTAL_TRUSTED_PROXIES must list IP addresses or CIDR ranges such as 10.0.0.0/8; got {part!r}"
            ) from None
    return tuple(found)


def _metrics_token(raw: str | None) -> str | None:
    if raw is not None and len(raw) < MIN_METRICS_TOKEN_LENGTH:
        raise ConfigError(f"PORTAL_METRICS_TOKEN must be at least {MIN_METRICS_TOKEN_LENGTH} characters long")
    return raw


def parse_quiet_hours(raw: str) -> tuple[time, time] | None:
    """Parse ``HH:MM-HH:MM``; an empty value means no quiet hours."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        start, end = (time.fromisoformat(part.strip()) for part in raw.split("-"))
    except ValueError:
        raise ConfigError(f"PORTAL_QUIET_HOURS must look like 21:00-08:00 or be empty; got {raw!r}") from None
    if start == end:
        raise ConfigError("PORTAL_QUIET_HOURS: start and end must differ")
    return start, end


def parse_slot_windows(raw: str) -> tuple[tuple[time, time], ...]:
    """Parse ``HH:MM-HH:MM,HH:MM-HH:MM``: same-day local windows; empty means none."""
    windows: list[tuple[time, time]] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            start, end = (time.fromisoformat(t.strip()) for t in part.split("-"))
        except ValueError:
            raise ConfigError(
                f"PORTAL_RESCHEDULE_SLOTS must look like 09:00-11:00,13:00-15:00 or be empty; got {raw!r}"
            ) from None
        if end <= start:
            raise ConfigError(f"PORTAL_RESCHEDULE_SLOTS: each window must end after it starts; got {part!r}")
        windows.append((start, end))
    return tuple(sorted(set(windows)))


def _check_pairs(s: Settings) -> None:
    if s.retention_days < s.link_ttl_days:
        # A link must keep answering (and its job keep existing) for as long as it is valid.
        raise ConfigError(
            f"PORTAL_RETENTION_DAYS ({s.retention_days}) must be at least PORTAL_LINK_TTL_DAYS ({s.link_ttl_days})"
        )
    if s.callback_url and not s.callback_secret:
        raise ConfigError("PORTAL_CALLBACK_SECRET is required when PORTAL_CALLBACK_URL is set")
    if s.callback_secret:
        _whsecs("PORTAL_CALLBACK_SECRET", s.callback_secret)
    if s.twilio_account_sid and not (s.twilio_auth_token and s.twilio_from):
        raise ConfigError("TWILIO_AUTH_TOKEN and TWILIO_FROM are required when TWILIO_ACCOUNT_SID is set")
    if s.smtp_host and not s.smtp_from:
        raise ConfigError("SMTP_FROM is required when SMTP_HOST is set")
