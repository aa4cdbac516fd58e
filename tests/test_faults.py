"""Fault tests: the portal as a real process while its store, its providers or it itself fail.

Each test breaks one thing the portal depends on, mends it, and checks the promise of a ``202``
(CONTRACT §3, §8): every accepted webhook's notifications go out, each once, except for
deliveries in flight at a crash, which may go out once more. The duplicates per crash are
printed (run with ``-s`` to see them); docs/operations.md quotes them.

Tests whose providers fail run ``python -m tests.fast_portal``: the same app as ``portal
serve``, with retries after tenths of a second instead of seconds, so they end quickly.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.fakes.callback_receiver import Answer, Arrived, Receiver
from tests.fakes.smtp_server import FakeSMTP
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, Received, Reply
from tests.helpers import (
    OTHER_SECRET,
    SECRET_KEY,
    job_updated,
    post_event,
    sample_job,
    signed_headers,
    status_changed,
    wait_until,
)
from tests.processes import PortalProcess, portal_env, tracking_path
from tests.redis_support import APPEND_ONLY, PrivateRedis

PORTAL = [sys.executable, "-m", "portal"]
FAST_PORTAL = [sys.executable, "-m", "tests.fast_portal"]
LEASE_SECONDS = "3"  # the shortest allowed: rows held by a killed process come back soon
DELIVERY_WAIT = 60.0  # a deadline for every message to go out; a passing run takes seconds
SENDERS = 8  # webhooks posted at once, as a busy field system does
NOT_REACHED = -1  # the connection was refused: the portal never saw the webhook
UNKNOWN = 0  # the connection broke mid-request: the webhook may or may not have been stored
REDIS_DOWN_SECONDS = 0.5  # about a restart's length: webhooks meanwhile answer 503 or fail to connect
TIMEOUT_HOLD_SECONDS = 3.0  # past the portal's provider timeout (a third of the lease: 1 s)


def phone(n: int) -> str:
    return f"(312) 555-{n:04d}"


def e164(n: int) -> str:
    return f"+1312555{n:04d}"


def sms_booking(n: int) -> dict[str, Any]:
    """A new job whose customer takes SMS only: one booking confirmation to send."""
    customer = {"name": "Maria Lopez", "phone": phone(n), "locale": "en", "channels": ["sms"]}
    return job_updated(sample_job(f"WO-{n}", customer=customer))


def twilio_env(tmp_path: Path, twilio: FakeTwilio, **extra: str) -> dict[str, str]:
    settings = {
        "PORTAL_QUIET_HOURS": "",
        "PORTAL_NOTIFICATIONS": "booking_confirmed",
        "PORTAL_WORKER_LEASE_SECONDS": LEASE_SECONDS,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM": "+15005550006",
        "TWILIO_API_URL": twilio.url,
    }
    return portal_env(tmp_path, **{**settings, **extra})


@dataclass
class Burst:
    """Signed webhooks posted ``SENDERS`` at a time; each keeps its webhook-id through retries."""

    bodies: dict[int, str]
    answers: dict[int, int] = field(default_factory=dict)  # the last answer's status, per webhook

    @classmethod
    def of(cls, count: int) -> Burst:
        return cls({n: json.dumps(sms_booking(n)) for n in range(count)})

    def accepted(self) -> set[int]:
        return {n for n, status in self.answers.items() if status == 202}

    def stored(self) -> set[int]:
        """Taken by the portal: accepted now or before (a retry of a stored webhook is a duplicate)."""
        return {n for n, status in self.answers.items() if status in (202, 200)}

    async def post(self, url: str, numbers: list[int], *, after_each: Any = None) -> None:
        """Post ``numbers`` once each, recording each answer's status, or ``NOT_REACHED`` / ``UNKNOWN``."""
        pending = iter(numbers)
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:

            async def sender() -> None:
                for n in pending:
                    body = self.bodies[n]
                    try:
                        response = await http.post("/webhooks/field", content=body, headers=self.headers(n))
                        status = response.status_code
                    except httpx.ConnectError:
                        status = NOT_REACHED
                    except httpx.TransportError:
                        status = UNKNOWN
                    if self.answers.get(n) not in (202, 200):  # a stored webhook stays stored
                        self.answers[n] = status
                    if after_each is not None:
                        after_each()

            await asyncio.gather(*(sender() for _ in range(SENDERS)))

    def headers(self, n: int) -> dict[str, str]:
        return signed_headers(self.bodies[n], msg_id=f"msg_burst_{n}")

    def until_stored(self, url: str, numbers: set[int] | None = None, deadline: float = DELIVERY_WAIT) -> None:
        """Retry ``numbers`` (all by default) as the field system does on 503 and errors, until stored."""
        wanted = set(self.bodies) if numbers is None else numbers
        end = time.monotonic() + deadline
        while missing := sorted(wanted - self.stored()):
            assert time.monotonic() < end, f"{len(missing)} webhooks never stored: {Counter(self.answers.values())}"
            asyncio.run(self.post(url, missing))
            if wanted - self.stored():
                time.sleep(0.2)


def outbox(db: Path, kind: str) -> dict[str, tuple[str, int]]:
    """Each job's row of ``kind`` as (state, attempts), read from the SQLite file.

    A read-only connection: it may sit beside a running portal (WAL lets it) or read what a
    killed one left behind.
    """
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT job_id, state, attempts FROM outbox WHERE kind = ?", (kind,)).fetchall()
    return {str(job_id): (str(state), int(attempts)) for job_id, state, attempts in rows}


def in_flight(twilio: FakeTwilio) -> bool:
    """Whether some message is at Twilio, not yet answered."""
    return any(not m.answered for m in twilio.messages())


def sends(messages: list[Received]) -> Counter[str]:
    """Requests Twilio received per number: each is an SMS sent, whether or not its answer arrived."""
    return Counter(m.to for m in messages if m.reply.status < 300)


@pytest.mark.long(4)
def test_a_kill_9_in_a_burst_of_1000_webhooks_loses_nothing_accepted(tmp_path: Path) -> None:
    count, kill_after = 1_000, 150
    burst = Burst.of(count)
    with FakeTwilio() as twilio:
        twilio.default = Reply(delay=0.2)  # about Twilio's answer time: sends are in flight at the kill
        env = twilio_env(tmp_path, twilio)
        first = PortalProcess(PORTAL, tmp_path, env).start()
        started = time.monotonic()

        def kill_when_due() -> None:
            if len(burst.accepted()) >= kill_after and in_flight(twilio):
                first.kill()  # SIGKILL: no shutdown, no cleanup; the rest of the burst finds no one

        try:
            asyncio.run(burst.post(first.url, list(range(count)), after_each=kill_when_due))
        finally:
            first.kill()
        killed = time.monotonic()
        accepted_at_kill = burst.accepted()
        unknown = {n for n, status in burst.answers.items() if status == UNKNOWN}
        sent_before = sends(twilio.messages())
        twilio.default = Reply()
        rows_at_kill = outbox(tmp_path / "portal.db", "sms")
        recorded_at_kill = {job for job, (state, _) in rows_at_kill.items() if state == "done"}
        with PortalProcess(PORTAL, tmp_path, env) as second:
            restarted = time.monotonic()
            # The field system sends again what got no answer; refused connections it sends later.
            burst.until_stored(second.url, unknown)
            taken = burst.stored()
            wait_until(
                lambda: {m.to for m in twilio.messages() if m.answered and m.sid} >= {e164(n) for n in taken},
                timeout=DELIVERY_WAIT,
                what="every accepted webhook's SMS",
            )
            done = time.monotonic()
    assert kill_after <= len(accepted_at_kill) < count, "the kill did not fall mid-burst"
    assert all(f"WO-{n}" in rows_at_kill for n in accepted_at_kill), "an accepted webhook's message was not queued"
    sent = sends(twilio.messages())
    assert set(sent) == {e164(n) for n in taken}  # and nothing for webhooks the portal never saw
    for n in taken:
        if f"WO-{n}" in recorded_at_kill:
            assert sent[e164(n)] == 1, f"WO-{n} was recorded as sent before the kill, yet sent again"
        else:
            assert sent[e164(n)] <= 1 + sent_before[e164(n)], f"WO-{n} was sent {sent[e164(n)]} times"
    unrecorded = sum(1 for n in taken if sent_before[e164(n)] and f"WO-{n}" not in recorded_at_kill)
    duplicates = sum(sent.values()) - len(taken)
    assert duplicates <= unrecorded
    print(
        f"\nkill -9 after {len(accepted_at_kill)} of {count} webhooks accepted ({len(unknown)} cut off mid-request, "
        f"sent again): {len(recorded_at_kill)} SMS recorded as sent, {unrecorded} sent but unrecorded, "
        f"{duplicates} sent twice (burst {killed - started:.1f} s, restart {restarted - killed:.1f} s, "
        f"the rest sent in {done - restarted:.1f} s)"
    )


def post_all(url: str, payloads: list[dict[str, Any]]) -> None:
    with httpx.Client(base_url=url, timeout=10) as http:
        for payload in payloads:
            assert post_event(http, payload).status_code == 202


@pytest.mark.long(2)
def test_emails_queued_while_smtp_is_down_go_out_once_when_it_returns(tmp_path: Path) -> None:
    jobs = 5
    with FakeSMTP() as smtp:
        smtp.down()
        env = portal_env(
            tmp_path,
            PORTAL_QUIET_HOURS="",
            PORTAL_NOTIFICATIONS="booking_confirmed",
            PORTAL_WORKER_LEASE_SECONDS=LEASE_SECONDS,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(smtp.port),
            SMTP_TLS="none",
            SMTP_FROM="visits@acme-plumbing.example",
        )
        with PortalProcess(FAST_PORTAL, tmp_path, env) as portal:
            customers = [
                {"name": "Maria Lopez", "email": f"customer{n}@example.com", "channels": ["email"]} for n in range(jobs)
            ]
            post_all(portal.url, [job_updated(sample_job(f"WO-{n}", customer=c)) for n, c in enumerate(customers)])
            db = tmp_path / "portal.db"
            wait_until(
                lambda: len(rows := outbox(db, "email")) == jobs and min(tries for _, tries in rows.values()) >= 2,
                what="every email to fail twice while SMTP is down",
            )
            smtp.up()
            wait_until(lambda: len(smtp.messages()) >= jobs, what="the queued emails")
            wait_until(
                lambda: {state for state, _ in outbox(db, "email").values()} == {"done"}, what="every email recorded"
            )
    assert sorted(str(m["To"]) for m in smtp.messages()) == [f"customer{n}@example.com" for n in range(jobs)]


@pytest.mark.long(4)
def test_twilio_answering_500_then_429_then_timing_out_still_sends_each_sms_once(tmp_path: Path) -> None:
    jobs = 4
    with FakeTwilio() as twilio:
        # Each number's first three requests: a server error, a rate limit, then no answer within
        # the portal's timeout (a gateway that never created the message); the fourth succeeds.
        twilio.script_each(Reply(500), Reply(429, 20429), Reply(504, delay=TIMEOUT_HOLD_SECONDS))
        env = twilio_env(tmp_path, twilio)
        with PortalProcess(FAST_PORTAL, tmp_path, env) as portal:
            post_all(portal.url, [sms_booking(n) for n in range(jobs)])
            db = tmp_path / "portal.db"
            wait_until(lambda: {s for s, _ in outbox(db, "sms").values()} == {"done"}, what="every SMS recorded")
    for n in range(jobs):
        answers = [m.reply.status for m in twilio.messages() if m.to == e164(n)]
        assert answers == [500, 429, 504, 201], f"WO-{n}: {answers}"
    assert outbox(db, "sms") == {f"WO-{n}": ("done", 4) for n in range(jobs)}
    assert len({m.body for m in twilio.messages() if m.to == e164(0)}) == 1  # the same message each time


@pytest.mark.long(2)
def test_callbacks_wait_out_a_receiver_down_past_a_backoff_step_with_their_webhook_ids(tmp_path: Path) -> None:
    jobs = 3
    with Receiver() as receiver:
        # Every attempt that reaches it fails until it goes down: a loaded machine may let a
        # first retry (0.1-0.2 s later) arrive before ``down``, and that one must fail too.
        receiver.script(*[Answer(500)] * 100)
        env = portal_env(
            tmp_path,
            PORTAL_QUIET_HOURS="",
            PORTAL_NOTIFICATIONS="booking_confirmed",
            PORTAL_WORKER_LEASE_SECONDS=LEASE_SECONDS,
            PORTAL_CALLBACK_URL=receiver.url,
            PORTAL_CALLBACK_SECRET=OTHER_SECRET,
        )
        with PortalProcess(FAST_PORTAL, tmp_path, env) as portal:
            # An SMS-only customer whose phone cannot be used: each job sends a message.failed callback.
            unusable = {"name": "Maria Lopez", "phone": "call the office", "channels": ["sms"]}
            post_all(portal.url, [job_updated(sample_job(f"WO-{n}", customer=unusable)) for n in range(jobs)])
            wait_until(
                lambda: len(receiver.requests()) >= jobs, timeout=DELIVERY_WAIT, what="each callback's first attempt"
            )
            receiver.down()
            receiver.unscript()
            refused_before = len(receiver.requests())
            db = tmp_path / "portal.db"
            wait_until(
                lambda: len(rows := outbox(db, "callback")) == jobs and min(t for _, t in rows.values()) >= 3,
                timeout=DELIVERY_WAIT,
                what="every callback to be refused at least once more (past a backoff step)",
            )
            receiver.up()
            done = {"done"}
            wait_until(
                lambda: {s for s, _ in outbox(db, "callback").values()} == done,
                timeout=DELIVERY_WAIT,
                what="every callback",
            )
    by_id: dict[str, list[Arrived]] = {}
    for arrived in receiver.requests():
        by_id.setdefault(arrived.headers["webhook-id"], []).append(arrived)
    assert len(by_id) == jobs
    # Once back up, the receiver got each callback once (the refused attempts never arrived).
    after = receiver.requests()[refused_before:]
    assert sorted(a.headers["webhook-id"] for a in after) == sorted(by_id)
    job_ids = set()
    for tries in by_id.values():
        assert len({a.body for a in tries}) == 1  # the same event, resigned, under the same id
        events = [Webhook(OTHER_SECRET).verify(a.body, a.headers) for a in tries]
        assert {e["type"] for e in events} == {"message.failed"}
        job_ids.add(events[0]["data"]["job_id"])
    assert job_ids == {f"WO-{n}" for n in range(jobs)}


@contextmanager
def read_only(files: list[Path]) -> Iterator[None]:
    """Make ``files`` immutable (``chattr +i``): every write fails in the kernel, even through open
    descriptors, as on a disk remounted read-only; a permission bit would not stop root."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    made = subprocess.run(["chattr", "+i", *map(str, files)], capture_output=True, text=True)
    try:
        if made.returncode != 0:
            pytest.skip(f"cannot make files immutable here (needs root on ext4/xfs): {made.stderr.strip()}")
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, files)], check=False)  # pytest must be able to delete them


def job_ids(db: Path) -> set[str]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return {str(row[0]) for row in conn.execute("SELECT id FROM jobs")}


@pytest.mark.long(2)
def test_a_read_only_database_answers_503_keeps_nothing_and_recovers(tmp_path: Path) -> None:
    with FakeTwilio() as twilio:
        env = twilio_env(tmp_path, twilio, PORTAL_NOTIFICATIONS="booking_confirmed,en_route")
        db = tmp_path / "portal.db"
        new_job = Burst.of(2)  # WO-1 is stored first; WO-0's webhook arrives while the disk is read-only
        on_the_way = json.dumps(status_changed("WO-1", "en_route"))
        on_the_way_headers = signed_headers(on_the_way, msg_id="msg_en_route")
        with PortalProcess(PORTAL, tmp_path, env) as portal, httpx.Client(base_url=portal.url, timeout=15) as http:
            assert (
                http.post("/webhooks/field", content=new_job.bodies[1], headers=new_job.headers(1)).status_code == 202
            )
            page = portal.url + tracking_path(tmp_path, env, "WO-1")
            wait_until(lambda: outbox(db, "sms").get("WO-1", ("", 0))[0] == "done", what="the first booking SMS")
            with read_only(sorted(tmp_path.glob("portal.db*"))):
                refused = [
                    http.post("/webhooks/field", content=new_job.bodies[0], headers=new_job.headers(0)),
                    http.post("/webhooks/field", content=on_the_way, headers=on_the_way_headers),
                ]
                for response in refused:
                    assert response.status_code == 503 and response.headers["retry-after"]
                    assert response.json() == {"error": "store_unavailable"}
                shown = http.get(page, headers={"accept": "text/html"})
                assert shown.status_code == 200  # reading still works: the page shows what is stored
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', shown.text)
                assert csrf is not None
                form = {"text": "Gate code 4411", "csrf_token": csrf.group(1)}
                note = http.post(page + "/note", data=form, headers={"accept": "text/html"}, follow_redirects=False)
                assert note.status_code == 503 and note.headers["retry-after"]
                assert "text/html" in note.headers["content-type"]
                assert http.get(page + "/state").json()["status"] == "scheduled"
                assert http.get("/healthz").status_code == 200
            # Writable again: nothing of the refused requests was kept, so their retries are new.
            assert job_ids(db) == {"WO-1"}
            assert http.get(page + "/state").json()["status"] == "scheduled"
            again = [
                http.post("/webhooks/field", content=new_job.bodies[0], headers=new_job.headers(0)),
                http.post("/webhooks/field", content=on_the_way, headers=on_the_way_headers),
            ]
            assert [r.status_code for r in again] == [202, 202]
            assert http.post("/webhooks/field", content=on_the_way, headers=on_the_way_headers).status_code == 200
            assert http.get(page + "/state").json()["status"] == "en_route"
            wait_until(lambda: len([m for m in twilio.messages() if m.answered]) >= 3, what="the SMS after recovery")
            wait_until(lambda: {s for s, _ in outbox(db, "sms").values()} == {"done"}, what="every SMS recorded")
    sent = sorted((m.to, "on the way" in m.body) for m in twilio.messages())
    assert sent == [(e164(0), False), (e164(1), False), (e164(1), True)]


@pytest.mark.long(4)
def test_redis_killed_and_restarted_mid_burst_loses_nothing_accepted(tmp_path: Path) -> None:
    count, crash_after = 200, 80
    burst = Burst.of(count)
    redis_server = PrivateRedis(tmp_path, persistence=APPEND_ONLY).start()
    restarted: list[threading.Thread] = []
    try:
        with FakeTwilio() as twilio:
            twilio.default = Reply(delay=0.1)  # sends are in flight when Redis dies
            env = twilio_env(tmp_path, twilio, PORTAL_STORE=redis_server.url(), PORTAL_SECRET_KEY=SECRET_KEY)
            with PortalProcess(PORTAL, tmp_path, env) as portal:

                def crash_when_due() -> None:
                    if not restarted and len(burst.accepted()) >= crash_after and in_flight(twilio):
                        redis_server.stop()  # SIGKILL: no save; the append-only file is all there is
                        # Back from its append-only file a moment later, while webhooks keep coming.
                        restarted.append(threading.Timer(REDIS_DOWN_SECONDS, redis_server.start))
                        restarted[0].start()

                asyncio.run(burst.post(portal.url, list(range(count)), after_each=crash_when_due))
                assert restarted, "Redis was never killed"
                restarted[0].join()
                refused = Counter(status for status in burst.answers.values() if status != 202)
                sent_before_restart = sends(twilio.messages())
                burst.until_stored(portal.url)
                everyone = {e164(n) for n in range(count)}
                wait_until(
                    lambda: {m.to for m in twilio.messages() if m.answered and m.sid} >= everyone,
                    timeout=DELIVERY_WAIT,
                    what="every accepted webhook's SMS",
                )
    finally:
        redis_server.stop()
    sent = sends(twilio.messages())
    assert set(sent) == everyone
    for n in range(count):
        assert sent[e164(n)] <= 1 + sent_before_restart[e164(n)], f"WO-{n} was sent {sent[e164(n)]} times"
    duplicates = sum(sent.values()) - count
    print(
        f"\nRedis (appendonly yes, appendfsync everysec) killed after {crash_after} of {count} webhooks were "
        f"accepted and back {REDIS_DOWN_SECONDS:g} s later: answers meanwhile {dict(refused)}, "
        f"{duplicates} SMS sent twice"
    )
