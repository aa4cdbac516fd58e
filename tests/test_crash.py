"""Nothing accepted is lost: ``kill -9`` while messages are in flight, restart, all go out.

The portal runs as a real process (``python -m portal serve``), talking to the fake Twilio
server over HTTP with the real SDK. The fake holds every answer back, so the messages are
in flight when the process is killed.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from portal.clock import utc_now
from portal.core.jobs import FieldEvent
from portal.runtime import Runtime
from portal.settings import from_env
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, Reply
from tests.helpers import job_updated, post_event, sample_job, status_changed, wait_until
from tests.processes import PortalProcess, portal_env

PORTAL = [sys.executable, "-m", "portal"]
JOBS = 4
LEASE_SECONDS = "3"  # the shortest allowed: the test need not wait the default 30 s
HOLD_SECONDS = 60.0  # answers are held back far longer than the test runs


def phone(n: int) -> str:
    return f"(312) 555-01{n:02d}"


def e164(n: int) -> str:
    return f"+131255501{n:02d}"


def env_for(tmp_path: Path, twilio: FakeTwilio) -> dict[str, str]:
    return portal_env(
        tmp_path,
        PORTAL_QUIET_HOURS="",
        PORTAL_NOTIFICATIONS="booking_confirmed,en_route",
        PORTAL_WORKER_LEASE_SECONDS=LEASE_SECONDS,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_FROM="+15005550006",
        TWILIO_API_URL=twilio.url,
    )


def kind(body: str) -> str:
    return "en_route" if "on the way" in body else "booking_confirmed"


@pytest.mark.long(4)
def test_messages_in_flight_at_a_kill_9_go_out_after_restart(tmp_path: Path) -> None:
    with FakeTwilio() as twilio:
        twilio.default = Reply(delay=HOLD_SECONDS)
        env = env_for(tmp_path, twilio)
        first = PortalProcess(PORTAL, tmp_path, env).start()
        try:
            with httpx.Client(base_url=first.url) as http:
                for n in range(1, JOBS + 1):
                    customer = {"name": "Maria Lopez", "phone": phone(n), "channels": ["sms"]}
                    job = sample_job(f"WO-{n}", customer=customer)
                    assert post_event(http, job_updated(job)).status_code == 202
                    assert post_event(http, status_changed(f"WO-{n}", "en_route")).status_code == 202
            wait_until(lambda: twilio.messages(), what="a message in flight")
        finally:
            first.kill()  # SIGKILL: no shutdown, no cleanup
        in_flight = Counter((r.to, kind(r.body)) for r in twilio.messages())
        assert not any(r.answered for r in twilio.messages())
        restart_at = time.monotonic()
        twilio.default = Reply()
        expected = {(e164(n), k) for n in range(1, JOBS + 1) for k in ("booking_confirmed", "en_route")}
        with PortalProcess(PORTAL, tmp_path, env):

            def delivered() -> set[tuple[str, str]]:
                return {(r.to, kind(r.body)) for r in twilio.messages() if r.at >= restart_at and r.answered}

            wait_until(lambda: delivered() >= expected, timeout=45, what="every accepted notification")
    sent = Counter((r.to, kind(r.body)) for r in twilio.messages())
    assert set(sent) == expected
    for message, count in sent.items():
        assert count <= 1 + in_flight[message], f"{message} was sent {count} times"


def test_portal_worker_alone_delivers_what_was_queued(tmp_path: Path) -> None:
    with FakeTwilio() as twilio:
        env = env_for(tmp_path, twilio)
        settings = from_env(env)

        async def queue() -> None:
            portal = Runtime(settings, run_worker=False)
            await portal.store.open()
            try:
                customer = {"name": "Maria Lopez", "phone": phone(1), "channels": ["sms"]}
                data = {"job": sample_job("WO-1", customer=customer)}
                await portal.changes.accept_field_event(FieldEvent("msg_1", "job.updated", utc_now(), data))
            finally:
                await portal.store.close()

        asyncio.run(queue())
        log = (tmp_path / "worker.log").open("wb")
        worker = subprocess.Popen([*PORTAL, "worker"], cwd=tmp_path, env=env, stdout=log, stderr=log)
        try:
            wait_until(lambda: any(r.answered for r in twilio.messages()), timeout=30, what="the worker's SMS")
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(15)
            log.close()
    assert code == 0, (tmp_path / "worker.log").read_text()
    [sms] = twilio.messages()
    assert sms.to == e164(1) and "Visit booked" in sms.body
    assert "notification worker" in (tmp_path / "worker.log").read_text()
