"""The one ping timer behind every tracking stream: pings, dropped and stuck clients, HEAD."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from starlette.types import Message

from portal.app import create_app
from portal.runtime import Runtime
from portal.settings import Settings
from portal.web import tracking as tracking_web
from portal.web.frames import PING_FRAME
from portal.web.streams import EventStream, StreamHub
from tests.helpers import POLL_SECONDS, WAIT_SECONDS, ThreadedServer, job_updated, post_event, sample_job, wait_until

TIMEOUT = httpx.Timeout(10.0)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[ThreadedServer]:
    monkeypatch.setattr(tracking_web, "SSE_PING_SECONDS", 1)  # read when the app's hub is made
    with ThreadedServer(create_app(settings)) as running:
        yield running


def events_path(server: ThreadedServer) -> str:
    portal: Runtime = server.app.state.runtime
    record = server.call(portal.store.get_job("WO-1"))
    return f"/t/{portal.links.token(record.link_key)}/events"


def hub_of(server: ThreadedServer) -> StreamHub:
    hub: StreamHub = server.app.state.sse_hub
    return hub


@pytest.mark.long(3)
def test_idle_streams_all_get_pings_and_a_closed_stream_leaves_the_hub(server: ThreadedServer) -> None:
    portal: Runtime = server.app.state.runtime
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as http:
        post_event(http, job_updated(sample_job()))
        path = events_path(server)
        with http.stream("GET", path) as first, http.stream("GET", path) as second:
            assert first.headers["x-accel-buffering"] == "no"
            assert first.headers["cache-control"] == "no-store"
            readers = [first.iter_lines(), second.iter_lines()]
            hub = hub_of(server)
            assert len(hub) == 2 and hub.running
            for lines in readers:  # each stream: its snapshot, then (nothing else happening) a ping
                assert any(line.startswith("event: snapshot") for line in lines)
                assert any(line == ": ping" for line in lines)
            with http.stream("GET", path) as third:
                third_lines = third.iter_lines()  # kept: a dropped iterator closes its stream
                assert any(line.startswith("event: snapshot") for line in third_lines)
                assert len(hub) == 3
            wait_until(lambda: len(hub) == 2, "the closed stream to leave the hub")
            assert portal.streams.open_streams("127.0.0.1") == 2
            assert any(line == ": ping" for line in readers[0])  # the others are still pinged
        wait_until(lambda: len(hub) == 0 and not hub.running, "the hub to empty and its timer to stop")
        wait_until(lambda: portal.streams.open_streams("127.0.0.1") == 0, "the streams to be released")


def test_head_answers_headers_without_opening_a_stream(server: ThreadedServer) -> None:
    portal: Runtime = server.app.state.runtime
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as http:
        post_event(http, job_updated(sample_job()))
        answer = http.head(events_path(server))
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        assert answer.content == b""
        wait_until(lambda: portal.streams.open_streams("127.0.0.1") == 0, "the HEAD's slot to be released")


class Client:
    """The ASGI side of one stream: records what was sent; ``stuck`` never takes a body."""

    def __init__(self, *, stuck: bool = False) -> None:
        self.stuck = stuck
        self.sent: list[Message] = []
        self.gone = asyncio.Event()

    async def receive(self) -> Message:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.stuck and message["type"] == "http.response.body":
            await asyncio.Event().wait()  # the socket's buffers are full and stay full
        self.sent.append(message)

    @property
    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.sent if m["type"] == "http.response.body"]


class Frames:
    """One frame, then nothing until closed; records the close (what unsubscribing hangs on)."""

    def __init__(self) -> None:
        self.closed = False

    async def __call__(self) -> AsyncIterator[bytes]:
        try:
            yield b"event: snapshot\r\ndata: {}\r\n\r\n"
            await asyncio.Event().wait()
        finally:
            self.closed = True


async def until(condition: Callable[[], bool], seconds: float = WAIT_SECONDS) -> None:
    """``wait_until`` on the event loop: polls without blocking the streams under test."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - a plain condition, not an event to wait on
            await asyncio.sleep(POLL_SECONDS)


@pytest.mark.long(2)
def test_a_stuck_client_is_dropped_without_stalling_the_other_streams_pings() -> None:
    async def run() -> None:
        hub = StreamHub(PING_FRAME, ping_seconds=0.5, send_timeout=1.0)
        released: list[str] = []
        scope = {"type": "http", "method": "GET"}
        stuck, healthy = Client(stuck=True), Client()
        stuck_frames, healthy_frames = Frames(), Frames()
        stuck_stream = EventStream(stuck_frames(), hub, on_close=lambda: released.append("stuck"))
        healthy_stream = EventStream(healthy_frames(), hub, on_close=lambda: released.append("healthy"))
        stuck_task = asyncio.create_task(stuck_stream(scope, stuck.receive, stuck.send))
        healthy_task = asyncio.create_task(healthy_stream(scope, healthy.receive, healthy.send))
        await until(lambda: stuck_task.done())
        assert stuck_task.result() is None  # dropped cleanly, not by an error
        assert stuck_frames.closed and released == ["stuck"]
        assert not stuck.bodies  # nothing got through, and no closing body was attempted
        await until(lambda: healthy.bodies.count(PING_FRAME) >= 2)
        assert len(hub) == 1 and not healthy_task.done()
        healthy.gone.set()  # the client leaves
        await until(lambda: healthy_task.done())
        assert healthy_frames.closed and released == ["stuck", "healthy"]
        assert healthy.bodies[-1] == PING_FRAME  # a gone client gets no closing body
        await until(lambda: not hub.running)

    asyncio.run(run())


def test_a_stream_whose_events_end_sends_the_closing_body() -> None:
    async def run() -> None:
        hub = StreamHub(PING_FRAME, ping_seconds=15, send_timeout=30)
        client = Client()

        async def revoked() -> AsyncIterator[bytes]:
            yield b"event: snapshot\r\ndata: {}\r\n\r\n"

        await EventStream(revoked(), hub)({"type": "http", "method": "GET"}, client.receive, client.send)
        assert client.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
        assert len(hub) == 0

    asyncio.run(run())


def test_a_gone_clients_stream_ends_even_if_its_events_swallow_a_cancellation() -> None:
    async def run() -> None:
        hub = StreamHub(PING_FRAME, ping_seconds=15, send_timeout=30)
        client, closed = Client(), []

        async def swallowing() -> AsyncIterator[bytes]:
            try:
                yield b"event: snapshot\r\ndata: {}\r\n\r\n"
                with contextlib.suppress(asyncio.CancelledError):  # as a client library may mid-command
                    await asyncio.Event().wait()
                await asyncio.Event().wait()  # then waits for the next event as if nothing happened
            finally:
                closed.append(True)

        scope = {"type": "http", "method": "GET"}
        task = asyncio.create_task(EventStream(swallowing(), hub)(scope, client.receive, client.send))
        await until(lambda: len(client.bodies) == 1)
        client.gone.set()
        await until(lambda: task.done())
        assert task.result() is None and not task.cancelled()
        assert closed == [True] and len(hub) == 0

    asyncio.run(run())
