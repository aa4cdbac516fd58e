"""Headers every response carries: a strict CSP without inline script, no referrer, no indexing."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Images on most pages may come from any https host: technician photos are hosted wherever the
# field system keeps them. The tracking page narrows this to the origins it actually shows
# (``page_csp``): its own files, the map tiles and this job's technician photo.
DEFAULT_IMG_SOURCES = ("'self'", "https:", "data:")


def _csp(img_sources: tuple[str, ...]) -> str:
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {' '.join(img_sources)}",
            "connect-src 'self'",
            "font-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        )
    )


CSP = _csp(DEFAULT_IMG_SOURCES)


def origin(url: str | None) -> str | None:
    """``https://tile.example.com`` of a URL (or URL template), or None if it has no http(s) host."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.netloc
    if host.startswith("{s}."):  # tile subdomains a., b., c.: a CSP host wildcard covers them
        host = "*" + host.removeprefix("{s}")
    if parts.scheme not in ("http", "https") or not host or any(c in host for c in "{}; '\"@"):
        return None
    return f"{parts.scheme}://{host}"


def page_csp(*image_urls: str | None) -> str:
    """The policy of a page whose images come only from itself and the origins of ``image_urls``."""
    origins = sorted({o for url in image_urls if (o := origin(url)) is not None})
    return _csp(("'self'", "data:", *origins))


HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"x-robots-tag", b"noindex, nofollow"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in HEADERS if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
