"""Shared test helpers: settings, signed webhooks, a real uvicorn server in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib.util
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import httpx
import uvicorn
from jsonschema import Draft202012Validator
from standardwebhooks import Webhook

from portal.intake import format_checker, load_registry
from portal.settings import Settings

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_c2Vjb25kLXNlY3JldC1rZXktMTIzNDU2Nzg="
SECRET_KEY = "test-secret-key-0123456789abcdef"
T = TypeVar("T")
# How long a test waits for something that normally happens within a second or two: generous,
# since the machine running the tests may be busy; a passing test never waits it out.
WAIT_SECONDS = 30.0
POLL_SECONDS = 0.05  # between checks: quick to notice, without spinning a core


ROOT = Path(__file__).resolve().parents[1]


def docs_generator() -> ModuleType:
    """docs/generate.py, the script that writes the generated parts of the docs."""
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wait_until(condition: Callable[[], T | None], what: str = "the condition", timeout: float = WAIT_SECONDS) -> T:
    """Poll ``condition`` until it returns something truthy and return that; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(POLL_SECONDS)


def schema_validator(direction: str, kind: str) -> Draft202012Validator:
    """A validator for one published schema in webhooks/schemas (``inbound`` or ``outbound``)."""
    schemas = ROOT / "webhooks" / "schemas"
    schema = json.loads((schemas / direction / f"{kind}.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=load_registry(schemas), format_checker=format_checker())


def make_settings(tmp_path: Path, **changes: Any) -> Settings:
    base = Settings(
        store_url=f"sqlite:///{tmp_path / 'portal.db'}",
        secret_keys=(SECRET_KEY,),
        public_url="http://testserver",
        webhook_secrets=(WEBHOOK_SECRET,),
        quiet_hours=None,
    )
    return replace(base, **changes)


def now_iso(offset_seconds: float = 0) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_seconds)).isoformat()


def signed_headers(
    body: str | bytes,
    *,
    secret: str = WEBHOOK_SECRET,
    msg_id: str | None = None,
    sent_at: dt.datetime | None = None,
) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    sent_at = sent_at or dt.datetime.now(dt.UTC)
    text = body.decode() if isinstance(body, bytes) else body
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, sent_at, text),
        "content-type": "application/json",
    }


def event(kind: str, data: dict[str, Any], timestamp: str | None = None) -> dict[str, Any]:
    return {"type": kind, "timestamp": timestamp or now_iso(), "data": data}


def job_updated(job: dict[str, Any], timestamp: str | None = None) -> dict[str, Any]:
    return event("job.updated", {"job": job}, timestamp)


def status_changed(job_id: str, status: str, timestamp: str | None = None) -> dict[str, Any]:
    return event("job.status_changed", {"job_id": job_id, "status": status}, timestamp)


def post_event(client: Any, payload: dict[str, Any], **kwargs: Any) -> httpx.Response:
    """Sign and post an event with a TestClient or an httpx.Client."""
    body = json.dumps(payload)
    response: httpx.Response = client.post("/webhooks/field", content=body, headers=signed_headers(body, **kwargs))
    return response


def sample_job(job_id: str = "WO-1", **changes: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "id": job_id,
        "reference": f"R-{job_id}",
        "status": "scheduled",
        "service": "Water heater repair",
        "timezone": "America/Chicago",
        "window": {"start": "2030-03-03T09:00:00-06:00", "end": "2030-03-03T11:00:00-06:00"},
        "customer": {
            "name": "Maria Lopez",
            "phone": "(312) 555-0142",
            "email": "maria@example.com",
            "locale": "en",
            "channels": ["sms", "email"],
        },
        "address": {"text": "1200 W Fulton St, Chicago, IL", "lat": 41.8868, "lon": -87.6574},
        "technician": {"id": "T-7", "name": "Dana Whitfield", "photo_url": "https://cdn.example.com/t/7.jpg"},
        "reschedule_slots": [{"start": "2030-03-04T09:00:00-06:00", "end": "2030-03-04T11:00:00-06:00"}],
    }
    job.update(changes)
    return job


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThreadedServer:
    """A real uvicorn server on a loopback port, for tests that need sockets (SSE)."""

    def __init__(self, app: Any, port: int | None = None, **options: Any) -> None:
        self.app = app
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = port or free_port()  # a given port: a server started again where it was
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on", **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.server.serve()

    def call(self, coro: Any) -> Any:
        """Run a coroutine on the server's event loop (e.g. a store call) and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(15)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@contextlib.contextmanager
def serving(app: Any) -> Iterator[ThreadedServer]:
    with ThreadedServer(app) as server:
        yield server
