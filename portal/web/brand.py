"""``/static-brand.css``: the operator's brand colour as a stylesheet.

The pages' Content-Security-Policy allows styles from the portal's own origin only (no inline
``style``), so the colour from ``PORTAL_BRAND_COLOR`` reaches them as a served stylesheet that
sets the ``--brand`` custom property ``static/css/portal.css`` uses.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.web.common import runtime_of
from portal.web.templating import BRAND_CSS_PATH

CACHE_SECONDS = 300  # a changed colour shows within minutes of a restart, yet pages load it once


async def brand_css(request: Request) -> Response:
    color = runtime_of(request).settings.brand_color  # validated as #rrggbb at start-up
    body = f":root {{ --brand: {color}; }}\n"
    headers = {"Cache-Control": f"public, max-age={CACHE_SECONDS}"}
    return Response(body, media_type="text/css", headers=headers)


routes = [Route(BRAND_CSS_PATH, brand_css, methods=["GET"])]
