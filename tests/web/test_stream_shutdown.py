"""Stopping ``portal serve`` with tracking pages open ends their streams cleanly, without errors in its log."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tests.helpers import job_updated, post_event, sample_job
from tests.processes import PortalProcess, portal_env

PORTAL = shutil.which("portal", path=str(Path(sys.executable).parent)) or "portal"
OPEN_STREAMS = 2


@pytest.mark.long(2)
def test_open_streams_end_cleanly_when_the_server_stops(tmp_path: Path) -> None:
    env = portal_env(tmp_path)
    server = PortalProcess([PORTAL], tmp_path, env).start(timeout=90)  # a loaded machine starts slowly
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert post_event(http, job_updated(sample_job())).status_code == 202
        link = subprocess.run(
            [PORTAL, "link", "WO-1"], cwd=tmp_path, env={**env, "PORTAL_PUBLIC_URL": server.url}, capture_output=True
        )
        url = link.stdout.decode().strip() + "/events"
        opened = threading.Barrier(OPEN_STREAMS + 1, timeout=15)
        endings: list[str] = []

        def read() -> None:
            try:
                with httpx.stream("GET", url, timeout=30) as stream:
                    lines = stream.iter_lines()
                    while not next(lines).startswith("data:"):
                        pass
                    opened.wait()
                    for _ in lines:
                        pass
                endings.append("ended")
            except httpx.HTTPError as exc:
                endings.append(f"broken: {exc!r}")

        readers = [threading.Thread(target=read) for _ in range(OPEN_STREAMS)]
        for reader in readers:
            reader.start()
        opened.wait()
    finally:
        server.stop()  # SIGTERM, as systemd and Ctrl+C stop it
    for reader in readers:
        reader.join(15)
    assert endings == ["ended"] * OPEN_STREAMS
    assert "ASGI callable returned without completing response" not in server.log.read_text()
