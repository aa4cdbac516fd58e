"""Shared pieces of the benchmarks: a portal process on loopback and signed webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SECRET_KEY = "bench-secret-key-0123456789"
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def redis_store(url: str | None) -> Iterator[str | None]:
    """The portal's store URL on the Redis at ``url`` under a key prefix of its own, whose keys
    are deleted afterwards (a benchmark leaves nothing in a shared Redis); None stays None."""
    if url is None:
        yield None
        return
    import redis

    base = url.split("?")[0]
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    try:
        yield f"{base}?prefix={prefix}"
    finally:
        client = redis.Redis.from_url(base)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        client.close()


def raise_fd_limit() -> int:
    """Many open streams need many file descriptors; children inherit the raised limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def signed(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload)
    msg_id, now = f"msg_{uuid.uuid4().hex}", dt.datetime.now(dt.UTC)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(msg_id, now, body),
        "content-type": "application/json",
    }
    return body.encode(), headers


def job_payload(job_id: str, status: str = "scheduled", **extra: Any) -> dict[str, Any]:
    return {
        "type": "job.updated",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        "data": {
            "job": {
                "id": job_id,
                "status": status,
                "service": "Boiler service",
                "timezone": "America/Chicago",
                "window": {"start": "2030-03-03T09:00:00-06:00", "end": "2030-03-03T11:00:00-06:00"},
                "customer": {"name": "Ann Example", "phone": "+13125550142", "channels": []},
                "address": {"text": "1 Main St", "lat": 41.88, "lon": -87.63},
                **extra,
            }
        },
    }


def location(job: int, n: int, start: dt.datetime) -> dict[str, Any]:
    """Ping ``n`` (its ``accuracy_m``, so a reader can tell pings apart) for job ``job``."""
    return {
        "type": "technician.location",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        "data": {
            "job_id": f"BENCH-{job}",
            "lat": 41.88 + (n % 100) * 1e-4,
            "lon": -87.63,
            "accuracy_m": n,
            "recorded_at": (start + dt.timedelta(milliseconds=n)).isoformat(),
        },
    }


SERVER_CORE = 0  # the server process runs here ...
CLIENT_CORE = 1  # ... and the load generator here, so neither steals the other's core
START_SECONDS = 180  # a busy machine (or several benchmarks at once) starts Python slowly


def pin_client() -> None:
    """Keep the load generator off the server's core (when the machine has two)."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > CLIENT_CORE:
        os.sched_setaffinity(0, {CLIENT_CORE})


def pinned(command: list[str]) -> list[str]:
    """``command`` under ``taskset`` on the server's core, when taskset and a second core exist."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > CLIENT_CORE:
        return ["taskset", "-c", str(SERVER_CORE), *command]
    return command


class Server:
    """``portal serve`` (or a floor program) in a subprocess pinned to one core.

    The portal gets a throwaway SQLite store (or ``redis_url`` with a unique key prefix) and
    a per-client stream cap high enough for a load generator on one address. ``env`` adds to
    (or overrides) the environment of either, e.g. the ``TWILIO_*`` settings both read.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        floor: str | None = None,
        page_bytes: int = 4500,
        redis_url: str | None = None,
        health: str = "/healthz",
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = tempfile.mkdtemp(prefix="portal-bench-")
        self.proc: subprocess.Popen[bytes] | None = None
        self.floor = floor
        self.page_bytes = page_bytes
        self.redis_url = redis_url
        self.health = health
        self.extra_env = env or {}

    def command(self) -> list[str]:
        if self.floor is not None:
            floors = str(Path(__file__).resolve().parent / "floors.py")
            extra = ["--page-bytes", str(self.page_bytes)]
            return [sys.executable, floors, self.floor, "--port", str(self.port), *extra]
        return [sys.executable, "-m", "portal", "serve", "--port", str(self.port)]

    def env(self) -> dict[str, str]:
        store = f"sqlite:///{self.dir}/bench.db"
        if self.redis_url is not None:
            store = self.redis_url
        return {
            **os.environ,
            "PORTAL_STORE": store,
            "PORTAL_SECRET_KEY": SECRET_KEY,
            "PORTAL_WEBHOOK_SECRET": SECRET,
            "PORTAL_QUIET_HOURS": "",
            "PORTAL_MAX_STREAMS_PER_CLIENT": "100000",  # the load generator is one client
            **self.extra_env,
        }

    def __enter__(self) -> Server:
        log = open(Path(self.dir) / "serve.log", "wb")  # kept open for the child's lifetime
        self.proc = subprocess.Popen(pinned(self.command()), env=self.env(), stdout=log, stderr=log)
        deadline = time.monotonic() + START_SECONDS
        probe = self.health if self.floor is None else "/"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                httpx.get(self.url + probe, timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.__exit__()
        tail = (Path(self.dir) / "serve.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.command()[1:3]} did not start:\n{tail}")

    def rss_mb(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        """CPU time the server has used: a measure that holds even on a busy machine."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)


async def post_raw(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    host: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
) -> int:
    """One POST over a kept-alive connection, read to the end of its answer; the status code.

    A bare HTTP/1.1 client keeps the load generator's own CPU cost far below the server's.
    """
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode() + body)
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status


def ratio_table(title: str, rows: list[tuple[str, str, str, float | None]]) -> str:
    """A Markdown table: measure, the portal's figure, the floor's from the same run, and the ratio."""
    lines = [f"### {title}", "", "| measure | portal | floor (same run) | portal / floor |", "|---|---|---|---|"]
    for measure, portal, floor, ratio in rows:
        lines.append(f"| {measure} | {portal} | {floor} | {'' if ratio is None else f'{ratio:.2f}'} |")
    return "\n".join(lines)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]
