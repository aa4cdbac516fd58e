"""All signing with the portal's secret keys: tracking links, page-form tokens, staff sessions.

Each purpose signs with its own salt, so a token made for one is never accepted as another
(a link token is never a session, a form token never a link). Every signer lists the secret
keys the same way: itsdangerous signs with the last key, and ``PORTAL_SECRET_KEY`` lists the
signing key first, so the list is reversed; the others still verify during a rotation.

Tracking links are ``/t/{token}`` where the token is a signed, random per-job link key. The
key is random (not the field system's job id) so that revoking a link is rotating the key,
and short so that the whole link fits an SMS: 12 characters of key, a dot and a 27-character
HMAC.
"""

from __future__ import annotations

import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from itsdangerous import BadSignature, Signer, URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode

LINK_SALT = "portal.link"
FORM_SALT = "portal.tracking-form"
SESSION_SALT = "portal.staff.session"
LINK_KEY_BYTES = 9  # 12 URL-safe characters: 72 random bits, unguessable and short for SMS
# The only spelling of a token: key, dot, signature, all in the URL-safe alphabet. itsdangerous
# skips characters outside it when decoding, which would give one token many spellings.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{20,64}")
# A page left open for a week still submits; the link itself is the longer-lived credential.
FORM_TOKEN_MAX_AGE = 7 * 24 * 3600
FORM_TOKEN_REUSE_SECONDS = 60.0  # a token signed this recently is handed out again (``FormTokens.issue``)
FORM_TOKENS_KEPT = 10_000  # links whose newest token is remembered: about a megabyte
GENUINE_TOKENS_KEPT = 10_000  # link tokens remembered as verified (``LinkSigner.link_key``)

V = TypeVar("V")


def new_link_key() -> str:
    """A fresh random link key; every store issues its keys with this."""
    return secrets.token_urlsafe(LINK_KEY_BYTES)


def _keys(secret_keys: tuple[str, ...]) -> list[str]:
    """The keys in itsdangerous's order: the signing key last."""
    if not secret_keys:
        raise ValueError("at least one secret key is needed to sign links, forms and sessions")
    return list(reversed(secret_keys))


class LinkSigner:
    """The token of a tracking link: the link key and its HMAC."""

    def __init__(self, secret_keys: tuple[str, ...]) -> None:
        self._signer = Signer(_keys(secret_keys), salt=LINK_SALT)
        # Tokens found genuine lately: a page, its state and its stream each present the same
        # one. Only genuine ones are kept, so nobody without the key can fill this.
        self._genuine: OrderedDict[str, str] = OrderedDict()

    def token(self, link_key: str) -> str:
        return self._signer.sign(link_key).decode()

    def link_key(self, token: str) -> str | None:
        """The link key inside a genuine token, or None for a forged, tampered or respelled one."""
        known = self._genuine.get(token)
        if known is not None:
            return known
        if not TOKEN_PATTERN.fullmatch(token) or not _canonical(token.rpartition(".")[2]):
            return None
        try:
            link_key = self._signer.unsign(token).decode()
        except (BadSignature, UnicodeError):
            return None
        _keep(self._genuine, token, link_key, GENUINE_TOKENS_KEPT)
        return link_key

    def url(self, public_url: str, link_key: str) -> str:
        return f"{public_url.rstrip('/')}/t/{self.token(link_key)}"


class FormTokens:
    """CSRF tokens for the tracking page's forms, bound to the job's current link key.

    A revoked link's key no longer matches, so its old pages cannot submit either.
    """

    def __init__(self, secret_keys: tuple[str, ...], clock: Callable[[], float] = time.monotonic) -> None:
        self._serializer = URLSafeTimedSerializer(_keys(secret_keys), salt=FORM_SALT)
        self._clock = clock
        self._issued: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def issue(self, link_key: str) -> str:
        """A token for the link's forms. One is signed per link per ``FORM_TOKEN_REUSE_SECONDS``
        and handed to every page view meanwhile: signing was a tenth of a page's CPU, and a
        token a minute older expires a minute sooner out of seven days. It says no more than
        the link in the page's own address does."""
        now = self._clock()
        kept = self._issued.get(link_key)
        if kept is not None and now - kept[0] < FORM_TOKEN_REUSE_SECONDS:
            return kept[1]
        token = str(self._serializer.dumps(link_key))
        _keep(self._issued, link_key, (now, token), FORM_TOKENS_KEPT)
        return token

    def valid(self, link_key: str, token: object) -> bool:
        if not isinstance(token, str) or not token:
            return False
        try:
            return bool(self._serializer.loads(token, max_age=FORM_TOKEN_MAX_AGE) == link_key)
        except BadSignature:  # SignatureExpired is a BadSignature too
            return False


class SessionSigner:
    """The staff session cookie's signed payload (see ``portal/staff/auth.py`` for its fields)."""

    def __init__(self, secret_keys: tuple[str, ...]) -> None:
        self._serializer = URLSafeSerializer(_keys(secret_keys), salt=SESSION_SALT)

    def dumps(self, data: dict[str, Any]) -> str:
        return str(self._serializer.dumps(data))

    def loads(self, raw: str) -> Any | None:
        """The payload of a genuine cookie, or None for a forged, tampered or garbled one."""
        try:
            return self._serializer.loads(raw)
        except (BadSignature, UnicodeError, ValueError):
            return None


def _keep(kept: OrderedDict[str, V], key: str, value: V, limit: int) -> None:
    """Remember ``value`` as the newest entry, forgetting the oldest beyond ``limit``."""
    kept[key] = value
    kept.move_to_end(key)
    if len(kept) > limit:
        kept.popitem(last=False)


def _canonical(signature: str) -> bool:
    """True when the signature is spelled as it is encoded: its last character's spare bits zero."""
    return base64_encode(base64_decode(signature)).decode() == signature
