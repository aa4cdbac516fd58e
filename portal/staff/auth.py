"""Staff sign-in: password checks, throttling, signed session cookies and CSRF tokens.

The cookie is signed by ``links.SessionSigner`` under the portal's secret keys (the first signs,
all verify) and carries a random session id, the CSRF token and the time of the last activity.
The server keeps only a hash of the session id, so signing out (or a password reset) ends a
session even though its cookie is still validly signed. Idle expiry uses the signed activity
time, so a client cannot extend its own session; ``clock`` is injectable for tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from portal.clock import utc_now
from portal.core.jobs import iso_utc
from portal.links import SessionSigner
from portal.settings import Settings
from portal.staff.passwords import hash_password, verify_password
from portal.store.base import AuditEntry, StaffAccount, Store
from portal.store.throttle import open_throttle

COOKIE_NAME = "portal_staff"
SESSION_ID_BYTES = 32
CSRF_BYTES = 32
MAX_SESSION_SECONDS = 12 * 3600  # a working day; then sign in again even when active
REFRESH_AFTER_SECONDS = 60  # re-issue the cookie at most once a minute to slide the idle limit
# Failed sign-ins are limited per client address and account, not per account alone: a limit
# on the account would let anyone lock a named colleague out by failing on purpose.
USER_FAILURE_LIMIT = 10  # failed sign-ins to one account from one client address ...
CLIENT_FAILURE_LIMIT = 30  # ... and from one client address to any account ...
FAILURE_WINDOW_SECONDS = 15 * 60  # ... within 15 minutes before further tries are refused
MAX_USERNAME_LENGTH = 64
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
BAD_CREDENTIALS = "That username and password do not match an account."
THROTTLED = "Too many failed sign-ins. Wait 15 minutes and try again."


class LoginRefused(Exception):
    """401: wrong username or password (never saying which); 429: too many failures."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class CookieState:
    """What the signed cookie says; ``sid`` and ``username`` only once signed in."""

    csrf: str
    seen: int
    issued: int
    sid: str | None = None
    username: str | None = None


@dataclass(frozen=True)
class StaffSession:
    account: StaffAccount
    cookie: CookieState

    @property
    def username(self) -> str:
        return self.account.username

    @property
    def csrf(self) -> str:
        return self.cookie.csrf


def normalize_username(raw: str) -> str:
    return raw.strip().lower()[:MAX_USERNAME_LENGTH]


def valid_username(username: str) -> bool:
    return USERNAME_PATTERN.fullmatch(username) is not None


def session_hash(sid: str) -> str:
    """What the store keeps: a leaked database holds no usable session ids."""
    return hashlib.sha256(sid.encode()).hexdigest()


def csrf_matches(expected: str, given: object) -> bool:
    return isinstance(given, str) and bool(given) and hmac.compare_digest(expected.encode(), given.encode())


class StaffAuth:
    def __init__(self, settings: Settings, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._signer = SessionSigner(settings.secret_keys)
        self.store = store
        self.clock = clock
        self.idle_seconds = settings.staff_idle_minutes * 60
        self.secure = (settings.public_url or "").startswith("https://")
        # Shared by every process on Redis, so a guesser cannot spread tries across them.
        self.user_failures = open_throttle(store, "login-pair", USER_FAILURE_LIMIT, FAILURE_WINDOW_SECONDS)
        self.client_failures = open_throttle(store, "login-client", CLIENT_FAILURE_LIMIT, FAILURE_WINDOW_SECONDS)
        self._dummy_hash: str | None = None

    # -- the cookie ----------------------------------------------------------------

    def encode(self, state: CookieState) -> str:
        data: dict[str, Any] = {"c": state.csrf, "t": state.seen, "i": state.issued}
        if state.sid is not None:
            data.update(s=state.sid, u=state.username)
        return self._signer.dumps(data)

    def decode(self, raw: str | None) -> CookieState | None:
        if not raw:
            return None
        data = self._signer.loads(raw)
        if data is None:
            return None
        try:
            return CookieState(str(data["c"]), int(data["t"]), int(data["i"]), data.get("s"), data.get("u"))
        except (KeyError, TypeError, ValueError):
            return None

    def anonymous(self, existing: CookieState | None) -> CookieState:
        """The cookie of the sign-in form: keeps an existing CSRF token so open tabs still work."""
        now = int(self.clock())
        csrf = existing.csrf if existing is not None else secrets.token_urlsafe(CSRF_BYTES)
        return CookieState(csrf=csrf, seen=now, issued=now)

    def needs_refresh(self, state: CookieState) -> bool:
        return self.clock() - state.seen >= REFRESH_AFTER_SECONDS

    def refreshed(self, state: CookieState) -> CookieState:
        return replace(state, seen=int(self.clock()))

    # -- sessions ------------------------------------------------------------------

    def expired(self, state: CookieState) -> bool:
        now = self.clock()
        return now - state.seen > self.idle_seconds or now - state.issued > MAX_SESSION_SECONDS

    async def authenticate(self, raw: str | None) -> tuple[StaffSession | None, bool]:
        """The signed-in session of this cookie, and whether a session just ran out."""
        state = self.decode(raw)
        if state is None or state.sid is None:
            return None, False
        if self.expired(state):
            return None, True
        account = await self.store.staff_session_account(session_hash(state.sid))
        if account is None or account.username != state.username:
            return None, True
        return StaffSession(account, state), False

    async def login(self, username: str, password: str, client: str) -> CookieState:
        """A new signed-in cookie state, or LoginRefused; every outcome is audited.

        The attempt is counted before the password is checked (and un-counted if it was
        right), so parallel tries cannot all pass the limit while the hashes are computed.
        """
        username = normalize_username(username)
        now = self.clock()
        pair = f"{client} {username}"  # a space: neither an address nor a valid username has one
        client_ticket = await self.client_failures.reserve(client)
        pair_ticket = await self.user_failures.reserve(pair) if client_ticket is not None else None
        if client_ticket is None or pair_ticket is None:
            if client_ticket is not None:
                await self.client_failures.cancel(client, client_ticket)
            # Not audited: refusing is cheap, and a flood must not turn into a flood of writes.
            raise LoginRefused(429, THROTTLED)
        account = await self.store.get_staff_account(username) if username else None
        encoded = account.password_hash if account else await self._dummy()
        # The work is the same whether or not the account exists, so timing tells nothing.
        matched = await asyncio.to_thread(verify_password, password, encoded)
        if account is None or not matched:
            await self._audit(username or "(empty)", "login_failed", client)
            raise LoginRefused(401, BAD_CREDENTIALS)
        await self.client_failures.cancel(client, client_ticket)
        await self.user_failures.clear(pair)  # a success starts this account's count afresh here
        sid = secrets.token_urlsafe(SESSION_ID_BYTES)
        await self.store.open_staff_session(session_hash(sid), username)
        await self._audit(username, "login", client)
        stamp = int(now)
        return CookieState(secrets.token_urlsafe(CSRF_BYTES), stamp, stamp, sid, username)

    async def logout(self, session: StaffSession, client: str) -> None:
        if session.cookie.sid is not None:
            await self.store.close_staff_session(session_hash(session.cookie.sid))
        await self._audit(session.username, "logout", client)

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(hash_password, secrets.token_urlsafe(16))
        return self._dummy_hash

    async def _audit(self, username: str, action: str, client: str) -> None:
        entry = AuditEntry(at=iso_utc(utc_now()), username=username, action=action, client=client)
        await self.store.add_audit(entry)
