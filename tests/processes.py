"""Running ``portal`` as a real process, the way an operator would."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx

from tests.helpers import WEBHOOK_SECRET, free_port


def portal_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "TWILIO_", "SMTP_"))}
    env.update({"PORTAL_STORE": f"sqlite:///{tmp_path / 'portal.db'}", "PORTAL_WEBHOOK_SECRET": WEBHOOK_SECRET})
    env.update(extra)
    return env


class PortalProcess:
    """``portal serve`` in a subprocess; waits until /healthz answers."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"serve-{self.port}.log"
        self.command = [*command, "serve", "--port", str(self.port)]
        self.cwd, self.env = cwd, env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> PortalProcess:
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
        self.kill()  # not left running behind a failed test
        raise RuntimeError(f"portal did not start within {timeout:g} s:\n{self.log.read_text()}")

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
