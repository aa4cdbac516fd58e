"""The parts of a setting: its row, and the parsers that turn a variable's text into a value.

A parser takes the variable's name and its text (stripped) and returns the value, or raises
``ConfigError`` with a message that starts with the name and says what to fix.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time
from email.headerregistry import Address
from email.policy import SMTP as SMTP_POLICY
from email.utils import parseaddr
from pathlib import Path
from typing import Any, TypeVar, overload
from urllib.parse import urlsplit

import phonenumbers

log = logging.getLogger("portal.settings")

T = TypeVar("T")
N = TypeVar("N", int, float)
Parser = Callable[[str, str], T]  # (variable name, its text) -> value, or ConfigError naming it

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
ROW = "portal.setting"  # the key of a field's metadata that holds its Setting row


class ConfigError(Exception):
    """A setting is invalid; the message names the variable and what to fix."""


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, default text, parser and help for the docs."""

    name: str
    default: str | None
    help: str
    parse: Parser[Any]
    shown: str | None = None
    blank: bool = False

    @property
    def documented_default(self) -> str:
        """The default as the docs table shows it."""
        if self.shown is not None:
            return self.shown
        return "none" if not self.default else f"`{self.default}`"

    def read(self, env: Mapping[str, str], unset: object) -> Any:
        """The variable's value in ``env``; ``unset`` (the field's default) when it is not set."""
        text = env.get(self.name, "").strip()
        if text or (self.blank and self.name in env):
            return self.parse(self.name, text)
        return unset


def text(name: str, raw: str) -> str:
    return raw


SQLITE_PREFIX = "sqlite:///"  # then a relative path, or (a fourth slash) an absolute one


def sqlite_path_of(url: str) -> Path | None:
    """SQLAlchemy's convention: ``sqlite:///portal.db`` is relative, ``sqlite:////srv/portal.db`` absolute."""
    if not url.startswith(SQLITE_PREFIX):
        return None
    return Path(url.removeprefix(SQLITE_PREFIX))


def store_address(name: str, raw: str) -> str:
    if raw.startswith(SQLITE_PREFIX) and len(raw) > len(SQLITE_PREFIX):
        _check_sqlite_path(name, raw)
        return raw
    if raw.startswith(("redis://", "rediss://")):
        return raw
    shown = raw.split("@")[-1]  # never echo a password given in the URL
    raise ConfigError(
        f"{name} must look like sqlite:///relative/file.db, sqlite:////absolute/file.db or redis://host:port/db;"
        f" got {shown!r}"
    )


def _check_sqlite_path(name: str, url: str) -> None:
    """Refuse a relative path that is surely an absolute one missing its fourth slash; warn when it may be."""
    path = sqlite_path_of(url)
    if path is None or path.is_absolute() or path.parent == Path("."):
        return
    top, absolute = Path(path.parts[0]), Path("/") / path
    if not (Path("/") / top).is_dir():
        return  # srv/ at the root of the disk would hint at an absolute path; there is none
    four = f"{SQLITE_PREFIX}{absolute}"
    if not top.exists():
        raise ConfigError(
            f"{name} {url} is the relative path {path} (three slashes), and there is no {top}/ here;"
            f" for the absolute path {absolute} write {four} (four slashes)"
        )
    if top.resolve() != (Path("/") / top).resolve():
        log.warning("%s %s is the relative path %s; for %s write %s", name, url, path, absolute, four)


@dataclass(frozen=True)
class Sender:
    """``SMTP_FROM``, parsed once: the envelope sender and the display name the operator gave (if any)."""

    address: str
    name: str | None = None


def sender(name: str, raw: str) -> Sender:
    """One address, as operators write it: bare, ``Name <addr>``, a quoted name, or ``addr (Name)``.

    Anything a mail server would refuse as an envelope sender stops start-up, so no email can
    fail on it later.
    """
    example = "noreply@acme.example or Acme Heating <noreply@acme.example>"
    header = None if "\r" in raw or "\n" in raw else SMTP_POLICY.header_factory("From", raw)
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    if header is None or len(addresses) != 1:
        raise ConfigError(f"{name} must be one address such as {example}; got {raw!r}")
    found = addresses[0]
    if header.defects or not found.domain or "." not in found.domain or not found.addr_spec.isascii():
        raise ConfigError(f"{name} must be one address such as {example}; got {raw!r}")
    display = found.display_name or parseaddr(raw)[0]
    return Sender(found.addr_spec, display.strip() or None)


def key_list(name: str, raw: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    if any(len(k) < 16 for k in keys):
        raise ConfigError(f"{name} must be keys of at least 16 characters each")
    return keys


def url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http:// or https:// URL; got {raw!r}")
    return raw.rstrip("/")


def whsecs(name: str, raw: str) -> tuple[str, ...]:
    """Standard Webhooks secrets, space-separated: ``whsec_`` and at least 16 bytes of base64 key."""
    found = tuple(raw.split())
    for secret in found:
        if not secret.startswith("whsec_"):
            raise ConfigError(f"{name} must be secrets that start with whsec_")
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{name} must be base64 after whsec_") from None
        if len(key) < 16:
            raise ConfigError(f"{name} must hold at least 16 bytes of key in each secret")
    return found


def whsec_text(name: str, raw: str) -> str:
    whsecs(name, raw)
    return raw


def color(name: str, raw: str) -> str:
    """``#rrggbb``, lower-cased: it goes into CSS and email styles, so nothing else is let through."""
    if not COLOR_PATTERN.fullmatch(raw):
        raise ConfigError(f"{name} must be a colour written #rrggbb, such as #0b5cad; got {raw!r}")
    return raw.lower()


def email(name: str, raw: str) -> str:
    if not EMAIL_PATTERN.fullmatch(raw):
        raise ConfigError(f"{name} must be an email address such as help@example.com; got {raw!r}")
    return raw


def region(name: str, raw: str) -> str:
    if raw.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(f"{name} must be a region code such as US or GB; got {raw!r}")
    return raw.upper()


def positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number; got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be greater than zero; got {raw!r}")
    return value


def number(name: str, raw: str) -> float:
    """A finite number above zero."""
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number; got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be greater than zero; got {raw!r}")
    return value


def at_least(minimum: N, parse: Parser[N]) -> Parser[N]:
    """``parse``, then refuse values below ``minimum``."""

    def bounded(name: str, raw: str) -> N:
        value = parse(name, raw)
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum:g}; got {raw!r}")
        return value

    return bounded


def tiles(name: str, raw: str) -> str | None:
    """The tile URL template; ``none`` turns the map off (the page still gives ETA and distance)."""
    if raw.lower() == "none":
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http:// or https:// URL template or none; got {raw!r}")
    if not all(part in raw for part in ("{z}", "{x}", "{y}")):
        raise ConfigError(f"{name} must contain {{z}}, {{x}} and {{y}}; got {raw!r}")
    return raw


def directory(name: str, raw: str) -> Path:
    if not Path(raw).is_dir():
        raise ConfigError(f"{name} must be an existing directory; got {raw!r}")
    return Path(raw)


def message_names(name: str, raw: str) -> frozenset[str]:
    if raw.lower() == "all":
        return NOTIFICATION_MESSAGES
    if raw.lower() == "none":
        return frozenset()
    names = frozenset(part.strip() for part in raw.split(",") if part.strip())
    unknown = sorted(names - NOTIFICATION_MESSAGES)
    if unknown:
        known = ", ".join(sorted(NOTIFICATION_MESSAGES))
        raise ConfigError(f"{name} must be all, none or some of {known}; got unknown message {unknown[0]!r}")
    return names


def clock(name: str, raw: str) -> time:
    try:
        return time.fromisoformat(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a local time such as 18:00; got {raw!r}") from None


def hour_range(name: str, raw: str) -> tuple[time, time] | None:
    """``HH:MM-HH:MM``; an empty value means no quiet hours."""
    if not raw:
        return None
    try:
        start, end = (time.fromisoformat(part.strip()) for part in raw.split("-"))
    except ValueError:
        raise ConfigError(f"{name} must look like 21:00-08:00 or be empty; got {raw!r}") from None
    if start == end:
        raise ConfigError(f"{name} must start and end at different times; got {raw!r}")
    return start, end


def slot_windows(name: str, raw: str) -> tuple[tuple[time, time], ...]:
    """``HH:MM-HH:MM,HH:MM-HH:MM``: same-day local windows; empty means none."""
    windows: list[tuple[time, time]] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            start, end = (time.fromisoformat(t.strip()) for t in part.split("-"))
        except ValueError:
            raise ConfigError(f"{name} must look like 09:00-11:00,13:00-15:00 or be empty; got {raw!r}") from None
        if end <= start:
            raise ConfigError(f"{name} must be windows that end after they start; got {part!r}")
        windows.append((start, end))
    return tuple(sorted(set(windows)))


def tls_mode(name: str, raw: str) -> str:
    mode = raw.lower()
    if mode not in SMTP_DEFAULT_PORTS:
        raise ConfigError(f"{name} must be one of none, starttls, tls; got {mode!r}")
    return mode


MIN_METRICS_TOKEN_LENGTH = 16  # a bearer token short enough to guess is no protection


def proxies(name: str, raw: str) -> tuple[str, ...]:
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
                f"{name} must list IP addresses or CIDR ranges such as 10.0.0.0/8; got {part!r}"
            ) from None
    return tuple(found)


def bearer_token(name: str, raw: str) -> str:
    if len(raw) < MIN_METRICS_TOKEN_LENGTH:
        raise ConfigError(f"{name} must be at least {MIN_METRICS_TOKEN_LENGTH} characters long")
    return raw


@overload
def setting(
    name: str,
    parse: Parser[T],
    default: str,
    help: str,
    *,
    shown: str | None = ...,
    secret: bool = ...,
    blank: bool = ...,
) -> T: ...


@overload
def setting(
    name: str,
    parse: Parser[T],
    default: None,
    help: str,
    *,
    shown: str | None = ...,
    secret: bool = ...,
    blank: bool = ...,
) -> T | None: ...


def setting(
    name: str,
    parse: Parser[T],
    default: str | None,
    help: str,
    *,
    shown: str | None = None,
    secret: bool = False,
    blank: bool = False,
) -> Any:
    """A ``Settings`` field read from the variable ``name`` (see the module docstring)."""
    row = Setting(name, default, help, parse, shown, blank)
    value = None if default is None else parse(name, default)
    return field(default=value, repr=not secret, metadata={ROW: row})
