"""Running ``portal`` as a real process, the way an operator would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse

from tests.helpers import SECRET_KEY, WAIT_SECONDS, WEBHOOK_SECRET, free_port

# The installed ``portal`` command beside this Python, as an operator runs it.
PORTAL = shutil.which("portal", path=str(Path(sys.executable).parent)) or "portal"


def portal_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "TWILIO_", "SMTP_"))}
    env.update({"PORTAL_STORE": f"sqlite:///{tmp_path / 'portal.db'}", "PORTAL_WEBHOOK_SECRET": WEBHOOK_SECRET})
    env.update(extra)
    return env


def redis_env(tmp_path: Path, store_url: str, **extra: str) -> dict[str, str]:
    return portal_env(tmp_path, PORTAL_STORE=store_url, PORTAL_SECRET_KEY=SECRET_KEY, PORTAL_QUIET_HOURS="", **extra)


def tracking_path(tmp_path: Path, env: dict[str, str], job_id: str = "WO-1") -> str:
    """The path of a job's tracking page, from ``portal link`` as an operator would get it."""
    out = subprocess.run([PORTAL, "link", job_id], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    return "/t/" + out.stdout.strip().split("/t/")[1]


class StreamReader:
    """Reads one SSE stream on an event loop in a thread, so the test can wait for events with a deadline.

    ``close`` cancels the read: a blocking read would only notice a closed client at the next ping.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.events: queue.Queue[ServerSentEvent | BaseException] = queue.Queue()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[None] | None = None
        self.started = threading.Event()
        self.thread = threading.Thread(target=asyncio.run, args=(self._run(),), daemon=True)
        self.thread.start()
        self.started.wait(WAIT_SECONDS)

    async def _run(self) -> None:
        self.loop, self.task = asyncio.get_running_loop(), asyncio.current_task()
        self.started.set()
        try:
            async with (
                httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None)) as client,
                aconnect_sse(client, "GET", self.url) as source,
            ):
                async for sse in source.aiter_sse():
                    self.events.put(sse)
        except asyncio.CancelledError:
            return
        except BaseException as exc:  # reported to the test through the queue
            self.events.put(exc)

    def next(self) -> ServerSentEvent:
        item = self.events.get(timeout=WAIT_SECONDS)
        if isinstance(item, BaseException):
            raise AssertionError(f"the stream ended: {item!r}")
        return item

    def until(self, kind: str, predicate: Callable[[dict[str, Any]], bool]) -> list[ServerSentEvent]:
        seen = []
        while True:
            event = self.next()
            seen.append(event)
            if event.event == kind and predicate(json.loads(event.data)):
                return seen

    def close(self) -> None:
        if self.loop is not None and self.task is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed already: the stream had ended
                self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(WAIT_SECONDS)


class PortalProcess:
    """``portal serve`` in a subprocess; waits until /healthz answers."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"serve-{self.port}.log"
        self.command = [*command, "serve", "--port", str(self.port)]
        self.cwd, self.env = cwd, env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 2 * WAIT_SECONDS) -> PortalProcess:
        """Start and wait for /healthz; a busy test machine may take many seconds to import the portal."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"portal exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.kill()  # never left running behind a failed test
        raise RuntimeError(f"portal did not start in {timeout:g} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> PortalProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
