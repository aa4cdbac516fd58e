"""What the notification tests share: settings pointed at the fake providers, waiting."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from starlette.testclient import TestClient

from portal.app import create_app
from portal.notify.outbox import Backoff
from portal.notify.worker import WorkerConfig
from portal.runtime import Runtime
from portal.settings import Sender, Settings
from portal.store.base import Message, OutboxRow
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN
from tests.helpers import make_settings, wait_until

T = TypeVar("T")
SENDER = "+15005550006"
MAIL_FROM = "visits@acme-plumbing.example"
# Retries within tens of milliseconds: the behaviour is the production one, only faster.
FAST = WorkerConfig(backoff=Backoff(first=0.05, cap=0.2), idle_seconds=0.2, stop_grace=1.0)


def notify_settings(
    tmp_path: Path, twilio_url: str | None = None, smtp_port: int | None = None, **extra: Any
) -> Settings:
    changes: dict[str, Any] = {"company_name": "Acme Plumbing", "public_url": "https://portal.example.com"}
    if twilio_url:
        changes.update(
            twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN, twilio_from=SENDER, twilio_api_url=twilio_url
        )
    if smtp_port:
        changes.update(smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_tls="none", smtp_from=Sender(MAIL_FROM))
    changes.update(extra)
    return make_settings(tmp_path, **changes)


@contextmanager
def running(settings: Settings, config: WorkerConfig = FAST) -> Iterator[TestClient]:
    portal = Runtime(settings, worker_config=config)
    with TestClient(create_app(settings, runtime=portal)) as client:
        yield client


def portal_of(client: TestClient) -> Runtime:
    portal: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return portal


def call(client: TestClient, fn: Callable[..., Any], *args: Any) -> Any:
    return client.portal.call(fn, *args)  # type: ignore[union-attr]


def messages(client: TestClient, job_id: str = "WO-1") -> list[Message]:
    found: list[Message] = call(client, portal_of(client).store.list_messages, job_id)
    return found


def outbox(client: TestClient, job_id: str = "WO-1") -> list[OutboxRow]:
    found: list[OutboxRow] = call(client, portal_of(client).store.list_outbox, job_id)
    return found


def settled(client: TestClient, job_id: str = "WO-1", *, reminders: bool = False) -> list[OutboxRow]:
    """Wait until no SMS or email row is waiting (reminders, due later, only if asked); return the rows."""

    def waiting(row: OutboxRow) -> bool:
        later = row.payload.get("message") == "reminder" and not reminders
        return row.kind in ("sms", "email") and row.state == "pending" and not later

    def check() -> list[OutboxRow] | None:
        rows = outbox(client, job_id)
        due = [r for r in rows if waiting(r)]
        return None if due or not rows else rows

    return wait_until(check, what="outbox rows to settle")
