"""Shared pieces of the benchmarks: a portal process on loopback and signed webhooks."""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
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


class Server:
    """``portal serve`` in a subprocess with a throwaway SQLite store."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = tempfile.mkdtemp(prefix="portal-bench-")
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        env = {
            **os.environ,
            "PORTAL_STORE": f"sqlite:///{self.dir}/bench.db",
            "PORTAL_SECRET_KEY": SECRET_KEY,
            "PORTAL_WEBHOOK_SECRET": SECRET,
            "PORTAL_QUIET_HOURS": "",
        }
        log = open(Path(self.dir) / "serve.log", "wb")  # kept open for the child's lifetime
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "portal", "serve", "--port", str(self.port)], env=env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("the portal did not start")

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
