"""Lighthouse (mobile) on each state of the tracking page: ``.venv/bin/python bench/page_lighthouse.py``.

Needs the ``lighthouse`` command (``npm install lighthouse@12``; Lighthouse 13 wants Node 22)
and Chromium; set ``LIGHTHOUSE`` and ``CHROMIUM`` to their paths when they are not on ``PATH``
and at ``/usr/bin/chromium``. Runs the portal and a tile server on loopback, builds the
en-route, on-site and completed pages with the same scenes as the browser tests, and prints
performance, accessibility, CLS and LCP for each. Nothing leaves the machine: work photos point
at a host that does not resolve, which costs them their pictures, not the page its score.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from portal.app import create_app
from tests.customer import page_scenes as scenes
from tests.helpers import ThreadedServer, make_settings

LIGHTHOUSE = os.environ.get("LIGHTHOUSE", "lighthouse")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu"


async def tile(request: Request) -> Response:
    return Response(scenes.TILE, media_type="image/png", headers={"Cache-Control": "max-age=86400"})


def measure(url: str, out: Path) -> dict[str, float]:
    command = [
        LIGHTHOUSE, url, "--quiet", "--output=json", f"--output-path={out}",
        "--only-categories=performance,accessibility", f"--chrome-flags={CHROME_FLAGS}",
    ]  # fmt: skip
    subprocess.run(command, check=True, env={**os.environ, "CHROME_PATH": CHROMIUM})
    report = json.loads(out.read_text())
    audits = report["audits"]
    lcp = audits.get("largest-contentful-paint-element", {}).get("details", {}).get("items", [{}])[0]
    print("  LCP element:", json.dumps(lcp)[:300], file=sys.stderr)
    return {
        "performance": round(report["categories"]["performance"]["score"] * 100),
        "accessibility": round(report["categories"]["accessibility"]["score"] * 100),
        "cls": round(audits["cumulative-layout-shift"]["numericValue"], 3),
        "lcp_ms": round(audits["largest-contentful-paint"]["numericValue"]),
    }


def main() -> None:
    tiles = Starlette(routes=[Route("/{z}/{x}/{y}.png", tile)])
    print("| state | performance | accessibility | CLS | LCP (ms) |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp, ThreadedServer(tiles) as tile_server:
        for name, scene in scenes.SCENES.items():
            (Path(tmp) / name).mkdir()
            settings = replace(make_settings(Path(tmp) / name), map_tiles=tile_server.url + "/{z}/{x}/{y}.png")
            app = create_app(settings)
            with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
                scene(http)
                found = measure(scenes.link(server, app), Path(tmp) / f"{name}.json")
            row = [found["performance"], found["accessibility"], found["cls"], found["lcp_ms"]]
            print(f"| {name} | " + " | ".join(str(v) for v in row) + " |", flush=True)


if __name__ == "__main__":
    main()
