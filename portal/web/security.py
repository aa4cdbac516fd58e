"""Headers every response carries: a strict CSP without inline script, no referrer, no indexing."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlsplit

# Images may come from any https host, on the tracking page too: technician photos and the
# photos of work in progress are hosted wherever the field system keeps them, and a photo
# pushed live must show without a reload, so no list made when the page was rendered would
# do. This is acceptable because an image cannot run code (scripts stay 'self' only, with no
# inline script), ``Referrer-Policy: no-referrer`` keeps the private link out of every image
# request, ``connect-src 'self'`` keeps scripts from sending anything elsewhere, and only the
# signed field system can name a photo (https only, checked at intake). Plain-http origins
# that the operator configured (a local tile server, a logo) are added by name.
SELF = "'self'"
DEFAULT_IMG_SOURCES = (SELF, "https:", "data:")


def style_source(css: str) -> str:
    """The CSP source that allows exactly this inline ``<style>`` (the brand colour) and no other."""
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def _csp(img_sources: tuple[str, ...], style_sources: tuple[str, ...] = ()) -> str:
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            " ".join(("style-src", SELF, *style_sources)),
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


def page_csp(*image_urls: str | None, styles: tuple[str, ...] = ()) -> str:
    """The policy of pages: images from https and from the plain-http origins of ``image_urls``.

    ``styles`` are the hashes of the page's inline ``<style>`` elements (``style_source``).
    """
    extra = sorted({o for url in image_urls if (o := origin(url)) is not None and o.startswith("http:")})
    return _csp((*DEFAULT_IMG_SOURCES, *extra), styles)


HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"x-robots-tag", b"noindex, nofollow"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
]


def security_headers(csp: str = CSP) -> list[tuple[bytes, bytes]]:
    """``HEADERS`` with ``csp`` as the policy, as raw header pairs made once per app."""
    return [(b"content-security-policy", csp.encode()), *HEADERS[1:]]
