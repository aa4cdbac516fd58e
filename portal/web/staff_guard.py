"""The console's one auth guard: every ``/staff`` route except the sign-in form needs a session.

Without one, pages redirect to ``/staff/login`` and ``/staff/api/*`` answers 401 JSON. A
signed-in response re-issues the cookie now and then, which slides the idle limit; every
staff response is marked ``no-store`` so shared machines keep no copy of customer data.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.staff.auth import COOKIE_NAME, CookieState, StaffAuth
from portal.store.base import StoreUnavailable

PUBLIC_PATHS = frozenset({"/login"})
API_PREFIX = "/api/"
NO_STORE = (b"cache-control", b"no-store")


def staff_base(scope: Scope) -> str:
    """Where the console is mounted (``/staff``, behind any proxy prefix)."""
    return str(scope.get("root_path", ""))


def local_path(scope: Scope) -> str:
    return str(scope["path"]).removeprefix(staff_base(scope)) or "/"


def set_session_cookie(response: Response, auth: StaffAuth, state: CookieState, base: str) -> None:
    """HttpOnly, SameSite=Lax, Secure on https, only sent to the console's own paths."""
    response.set_cookie(
        COOKIE_NAME, auth.encode(state), path=base or "/", secure=auth.secure, httponly=True, samesite="lax"
    )


def clear_session_cookie(response: Response, auth: StaffAuth, base: str) -> None:
    response.delete_cookie(COOKIE_NAME, path=base or "/", secure=auth.secure, httponly=True, samesite="lax")


def _wrong_method(scope: Scope) -> bool:
    """The path is the console's, but not with this method: the router answers 405."""
    router = getattr(scope.get("app"), "router", None)
    matches = [route.matches(scope)[0] for route in getattr(router, "routes", [])]
    return Match.FULL not in matches and Match.PARTIAL in matches


class StaffGuard:
    def __init__(self, app: ASGIApp, auth: StaffAuth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = local_path(scope)
        # A method a path does not serve gets the router's 405 (with Allow), signed in or not:
        # it reveals nothing, and a redirect to the sign-in form would not help anyone.
        if path in PUBLIC_PATHS or _wrong_method(scope):
            await self.app(scope, receive, _no_store(send))
            return
        request = Request(scope)
        try:
            session, expired = await self.auth.authenticate(request.cookies.get(COOKIE_NAME))
        except StoreUnavailable:
            await PlainTextResponse("The store is unavailable; try again shortly.", 503)(scope, receive, send)
            return
        if session is None:
            await self._refuse(request, path, expired)(scope, receive, _no_store(send))
            return
        scope.setdefault("state", {})["staff"] = session
        cookie = None
        if self.auth.needs_refresh(session.cookie):
            carrier = Response()
            set_session_cookie(carrier, self.auth, self.auth.refreshed(session.cookie), staff_base(scope))
            cookie = carrier.raw_headers[-1]
        await self.app(scope, receive, _no_store(send, cookie))

    def _refuse(self, request: Request, path: str, expired: bool) -> Response:
        if path.startswith(API_PREFIX):
            return JSONResponse({"error": "not_authenticated", "detail": "sign in at /staff/login"}, 401)
        query: dict[str, str] = {}
        if request.method == "GET" and (path != "/" or request.url.query):
            query["next"] = path + (f"?{request.url.query}" if request.url.query else "")
        if expired:
            query["expired"] = "1"
        suffix = f"?{urlencode(query)}" if query else ""
        return RedirectResponse(f"{staff_base(request.scope)}/login{suffix}", 303)


def _no_store(send: Send, cookie: tuple[bytes, bytes] | None = None) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            names = {name for name, _ in headers}
            if NO_STORE[0] not in names:
                headers.append(NO_STORE)
            already = any(n == b"set-cookie" and v.startswith(COOKIE_NAME.encode() + b"=") for n, v in headers)
            if cookie is not None and not already:
                headers.append(cookie)
            message["headers"] = headers
        await send(message)

    return wrapped
