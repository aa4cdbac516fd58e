"""Lean server-sent event streams for the tracking pages, kept alive by one ping timer per process.

Why not sse-starlette's ``EventSourceResponse`` here: per connection it runs a task group of
four tasks (the stream, a ping loop, a shutdown watch, a disconnect watch), an anyio lock, a
cancel scope and a timer for every send, and a timer for every ping. With thousands of pages
open, profiles showed that machinery, and the garbage collector walking it, as most of the
event loop's time (docs/benchmarks.md). Here a stream is its own request task plus one task
waiting for the client to leave; a single ``StreamHub`` timer pings the streams that have been
quiet, drops a client that has taken nothing for ``send_timeout`` seconds and ends every
stream when the server is told to stop.

What a stream keeps from sse-starlette: comment pings on idle streams, a dropped client's
generator closed at once (so its subscription and its slot in the per-client cap go back),
the send timeout, ``X-Accel-Buffering: no`` and ``Cache-Control: no-store``, HEAD answered
without a stream, and the closing empty body when the stream ends (the events ran out because
the link was revoked, or the server is stopping), so the browser sees a clean end and
reconnects later.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable, Mapping

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

log = logging.getLogger(__name__)

# How often the hub looks for a stopping server (sse-starlette's shutdown watcher polls as often).
TICK_SECONDS = 0.5
# Idle streams are looked at three times per ping interval: a quiet stream is pinged between
# one and four thirds of the interval after its last write.
SCANS_PER_PING = 3

# Why a stream was stopped from outside its own task.
DISCONNECTED, SHUTDOWN, STUCK = "disconnected", "shutdown", "stuck"
ENDED = "ended"  # its events ran out (the link was revoked): nothing may stop it any more

END_OF_STREAM: Message = {"type": "http.response.body", "body": b"", "more_body": False}


def server_stopping() -> bool:
    """True once uvicorn has been told to stop (SIGTERM, Ctrl+C).

    uvicorn waits for open responses to finish before it runs the app's lifespan shutdown, so
    an endless stream has to notice by itself. While uvicorn serves, its signal handler is a
    bound method of its ``Server``; that server's ``should_exit`` is read (sse-starlette's
    shutdown watcher looks in the same place).
    """
    server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return bool(getattr(server, "should_exit", False))


class _Stream:
    """One open stream as the hub sees it: its task, its ``send``, when it last wrote."""

    __slots__ = ("cancels", "ending", "hub", "last_write", "pinging", "send", "sending", "sending_since", "task")

    def __init__(self, hub: StreamHub, task: asyncio.Task[object], send: Send) -> None:
        self.hub, self.task, self.send = hub, task, send
        self.last_write = hub.now
        self.sending = 0  # sends in flight (the stream's own and a ping)
        self.sending_since = 0.0
        self.ending: str | None = None
        self.cancels = 0  # cancellations this stream asked of its task (taken back when it stops)
        self.pinging: asyncio.Task[None] | None = None

    async def write(self, message: Message) -> None:
        """``send`` with the hub watching: a send in flight past the timeout drops the stream."""
        if not self.sending:
            self.sending_since = self.hub.now
        self.sending += 1
        try:
            await self.send(message)
        finally:
            self.sending -= 1
        self.last_write = self.hub.now

    def end(self, reason: str) -> None:
        """Stop the stream's task; its own ``__call__`` catches this and cleans up.

        Until the task has stopped the hub cancels it again every tick: a cancellation is
        delivered once, and a client library may swallow one that lands mid-command (redis-py
        can), which would leave a gone client's stream waiting for events forever.
        """
        if self.ending is None:
            self.ending = reason
            self.hub.ending.add(self)
            self.cancel()

    def cancel(self) -> None:
        self.cancels += 1
        self.task.cancel()

    async def ping(self) -> None:
        """The constant ping frame; a task of its own, so a client that takes nothing stalls only itself."""
        try:
            await self.write(self.hub.ping_message)
        except Exception:
            log.exception("ping failed; dropping the stream")
            self.end(STUCK)
        finally:
            self.pinging = None


class StreamHub:
    """The one timer for every open stream of an app: pings, send timeouts, shutdown.

    Its task runs while streams are open and ends with the last one, so an idle process has
    no timer at all. A scan is a loop over plain objects every few seconds, not a task and
    a timer per stream.
    """

    def __init__(self, ping_frame: bytes, *, ping_seconds: float, send_timeout: float) -> None:
        self.ping_message: Message = {"type": "http.response.body", "body": ping_frame, "more_body": True}
        self.ping_seconds = ping_seconds
        self.send_timeout = send_timeout
        self.now = 0.0  # the loop's clock at the last tick: precise enough for pings and timeouts
        self._scan_every = max(1, round(ping_seconds / SCANS_PER_PING / TICK_SECONDS))
        self._streams: set[_Stream] = set()
        self.ending: set[_Stream] = set()  # told to stop, not stopped yet
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._streams)

    @property
    def running(self) -> bool:
        """Whether the timer task is alive (it is only while streams are open)."""
        return self._task is not None

    def add(self, stream: _Stream) -> None:
        self._streams.add(stream)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, stream: _Stream) -> None:
        self._streams.discard(stream)
        self.ending.discard(stream)

    def open(self, task: asyncio.Task[object], send: Send) -> _Stream:
        if self._task is None:
            self.now = asyncio.get_running_loop().time()
        stream = _Stream(self, task, send)
        self.add(stream)
        return stream

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        ticks = 0
        try:
            while self._streams:
                await asyncio.sleep(TICK_SECONDS)
                self.now = loop.time()
                for stream in list(self.ending):
                    stream.cancel()
                if server_stopping():
                    for stream in list(self._streams):
                        stream.end(SHUTDOWN)
                    continue
                ticks += 1
                if ticks % self._scan_every == 0:
                    self._scan(loop)
        finally:
            self._task = None

    def _scan(self, loop: asyncio.AbstractEventLoop) -> None:
        """Drop streams stuck in a send; ping those quiet for a ping interval.

        Neither changes the set while it is walked: ``end`` only asks the stream's task to
        stop, and a ping runs as its own task later.
        """
        stuck_before = self.now - self.send_timeout
        quiet_before = self.now - self.ping_seconds
        for stream in self._streams:
            if stream.sending:
                if stream.sending_since <= stuck_before:
                    stream.end(STUCK)
            elif stream.last_write <= quiet_before and stream.pinging is None and stream.ending is None:
                stream.pinging = loop.create_task(stream.ping())


class EventStream(Response):
    """An endless ``text/event-stream`` of ready-encoded frames, kept by a ``StreamHub``.

    ``on_close`` runs however the stream ends (events ran out, client gone, stuck, shutdown,
    or an error), after the frames' generator has been closed.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        frames: AsyncIterator[bytes],
        hub: StreamHub,
        *,
        headers: Mapping[str, str] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.frames, self.hub, self.on_close = frames, hub, on_close
        self.status_code = 200
        self.background = None
        # Proxies must neither cache nor buffer a stream (nginx honours X-Accel-Buffering).
        self.init_headers({"Cache-Control": "no-store", **(headers or {}), "X-Accel-Buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope.get("method") == "HEAD":  # headers only: a HEAD must not hang on an endless body
                await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
                await send(END_OF_STREAM)
            else:
                await self._stream(receive, send)
        finally:
            await _close(self.frames)
            if self.on_close is not None:
                self.on_close()

    async def _stream(self, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        stream = self.hub.open(task, send)
        watcher = asyncio.get_running_loop().create_task(_watch_disconnect(receive, stream))
        try:
            await stream.write({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async for frame in self.frames:
                await stream.write({"type": "http.response.body", "body": frame, "more_body": True})
            if stream.ending is None:
                stream.ending = ENDED
        except asyncio.CancelledError:
            # Ours (client gone, stuck, shutdown) ends the stream here; anyone else's goes on.
            if stream.ending is None:
                raise
            for _ in range(stream.cancels):
                task.uncancel()
            if task.cancelling():
                raise
        finally:
            self.hub.discard(stream)
            watcher.cancel()
            if stream.pinging is not None:
                stream.pinging.cancel()
            await _close(self.frames)
        if stream.ending in (ENDED, SHUTDOWN):
            try:
                async with asyncio.timeout(self.hub.send_timeout):
                    await send(END_OF_STREAM)
            except TimeoutError:
                log.warning("a stream's client took nothing for %s s; dropped", self.hub.send_timeout)
        elif stream.ending == STUCK:
            # Returning without the closing body makes uvicorn close the connection.
            log.warning("a stream's client took nothing for %s s; dropped", self.hub.send_timeout)


async def _watch_disconnect(receive: Receive, stream: _Stream) -> None:
    """Wait for the client to leave, then stop its stream (closing its generator at once)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    stream.end(DISCONNECTED)


async def _close(frames: AsyncIterator[bytes]) -> None:
    """Close the frames' generator, so its cleanup (unsubscribing) runs now, not at collection."""
    aclose = getattr(frames, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:
            log.exception("closing a stream's events failed")
