"""A private ``redis-server`` on a free loopback port, for tests that stop and restart Redis.

The shared server on 6379 is never restarted: other tests use it at the same time.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.helpers import free_port

START_TIMEOUT = 10.0


# No persistence: a restart loses the data (``restart_keeping_data`` snapshots it first).
EPHEMERAL = ("--save", "", "--appendonly", "no")
# The append-only file as docs/operations.md recommends: every write reaches the file (the
# kernel's page cache) before Redis answers it, and is fsynced within a second.
APPEND_ONLY = ("--save", "", "--appendonly", "yes", "--appendfsync", "everysec")


class PrivateRedis:
    """``redis-server`` keeping nothing on disk, or (``persistence=APPEND_ONLY``) an AOF in ``workdir``.

    ``restart`` keeps the port; whether the data survives is the persistence's business.
    """

    def __init__(self, workdir: Path, persistence: tuple[str, ...] = EPHEMERAL) -> None:
        self.persistence = persistence
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, prefix: str = "private:", db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}?prefix={prefix}"

    def start(self) -> PrivateRedis:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", *self.persistence]
        log = (self.workdir / f"redis-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(command, cwd=self.workdir, stdout=log, stderr=log)
        log.close()
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while True:
                try:
                    client.ping()
                    return self
                except redis.ConnectionError:
                    if time.monotonic() > deadline or self.proc.poll() is not None:
                        raise RuntimeError("private redis-server did not start") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def stop_saving(server: PrivateRedis) -> None:
    """Shut Redis down saving a snapshot in its directory (``start`` then loads it)."""
    assert server.proc is not None
    client = redis.Redis(host="127.0.0.1", port=server.port)
    try:
        client.shutdown(save=True)
    except redis.ConnectionError:
        pass  # the server closes the connection as it goes
    finally:
        client.close()
    server.proc.wait(10)
    server.proc = None


def restart_keeping_data(server: PrivateRedis) -> None:
    """Shut Redis down saving a snapshot in its directory, and start it again from it."""
    stop_saving(server)
    server.start()
