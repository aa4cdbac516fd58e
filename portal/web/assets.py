"""Static files under fingerprinted names, served immutable for a year.

Customers reopen a tracking link many times during a visit. Each file's name carries a hash
of its content (``css/portal.3f9a1c0b2d.css``), so a browser may keep it for a year without
asking again, and a new release, with new names, is never mixed with old cached files.
Plain names still work (with a short lifetime) for anything that links to them directly,
such as the images Leaflet's stylesheet refers to.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from portal.resources import data_dir

PREFIX = "/static/"
HASH_LENGTH = 10  # 40 bits: no two versions of one file will ever share a name by chance
IMMUTABLE = "public, max-age=31536000, immutable"  # one year, the longest lifetime caches honour
# Plain names may change with a release: an hour keeps repeat visits quick without pinning
# an old file for long.
PLAIN = "public, max-age=3600"
FINGERPRINTED = (".css", ".js", ".svg", ".png")  # what pages link to; fonts and the rest keep their names


def fingerprinted(name: str, content: bytes) -> str:
    """``css/portal.css`` -> ``css/portal.<hash>.css``."""
    digest = hashlib.sha256(content).hexdigest()[:HASH_LENGTH]
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}.{digest}{dot}{suffix}"


class Assets:
    """The fingerprinted name of every static file, computed once at start."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.names: dict[str, str] = {}
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix in FINGERPRINTED:
                name = path.relative_to(root).as_posix()
                self.names[name] = fingerprinted(name, path.read_bytes())
        self.originals = {v: k for k, v in self.names.items()}

    def url(self, name: str) -> str:
        """The URL a page links to: fingerprinted when the file exists, else the plain name."""
        return PREFIX + self.names.get(name, name)


@cache
def static_assets() -> Assets:
    """The portal's own ``static/`` directory, fingerprinted once per process."""
    return Assets(data_dir("static"))


class AssetFiles(StaticFiles):
    """Serves ``Assets`` names immutable and plain names with a short lifetime."""

    def __init__(self, assets: Assets) -> None:
        super().__init__(directory=assets.root)
        self.assets = assets

    async def get_response(self, path: str, scope: Scope) -> Response:
        original = self.assets.originals.get(path)
        response = await super().get_response(original or path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = IMMUTABLE if original else PLAIN
        return response
