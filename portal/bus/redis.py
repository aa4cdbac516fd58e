"""Live events between processes: Redis pub/sub, one connection per process.

Each job with open streams in this process has its channel subscribed once on the one
pub/sub connection, and incoming events fan out to this process's subscriptions. Pub/sub
is at-most-once, so every gap is closed from the stored event log instead:

- when Redis confirms a channel subscription, that job's subscriptions get ``LAGGED``: an
  event published between the stream's snapshot and the confirmation is re-read;
- when the connection drops, it is opened again with backoff, every channel is subscribed
  again, and each confirmation sends ``LAGGED`` the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from portal.bus.base import LAGGED, LINK_CHANGED, Fanout, Subscription
from portal.core.events import StoredEvent
from portal.store.base import stop_task
from portal.store.redis.keys import REDIS_FAILURES, UNAVAILABLE_ERRORS, unavailable
from portal.store.redis.store import RedisStore
from portal.store.rules import compact_json, read_json

log = logging.getLogger("portal.bus")

RECONNECT_FIRST_SECONDS = 0.1  # a restarted Redis is often back at once
# An open page waits at most about this long after Redis is back; one cheap connection attempt
# per second per process during an outage is nothing to Redis.
RECONNECT_MAX_SECONDS = 1.0
# With no message for this long the connection is pinged; without an answer by the next
# period it is taken as dead (a half-open TCP connection never reports an error itself).
HEARTBEAT_SECONDS = 15.0
# Sent on a job's channel beside its events; an event always has a ``seq``, this never does.
LINK_CHANGED_MESSAGE = json.dumps({"link_changed": True})


class RedisBus:
    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.keys = store.keys
        self._fanout = Fanout()
        self._commands: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._client: Redis | None = None
        self._pubsub: PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()  # set while subscribed; tests wait on it
        self._was_up = False
        store.announce = self.announcement  # a change's events go out in the write that stores them

    async def start(self) -> None:
        # Its own connection without redis-py's silent reconnects: a reconnect must be seen
        # here, because messages published while it was away are lost and must be re-read.
        kwargs = {**self.store.connection_kwargs(), "retry": Retry(NoBackoff(), 0)}
        self._client = Redis.from_url(self.store.url, **kwargs)
        self._task = asyncio.create_task(self._run(), name="redis-bus")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await stop_task(task, log)
        await self._drop_connection()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._fanout.clear()

    # -- the Bus protocol ---------------------------------------------------------------

    async def publish(self, events: list[StoredEvent]) -> None:
        """Publish after the change is stored; a lost publish is recovered from the log."""
        try:
            async with self.store.redis.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.publish(*self.announcement(event))
                await pipe.execute()
        except REDIS_FAILURES as exc:
            if not unavailable(exc):
                raise
            log.warning("could not publish %d live event(s); streams catch up from the log: %s", len(events), exc)

    async def link_changed(self, job_id: str) -> None:
        """Announce a revocation to every process; if this is lost, the link is still refused on reconnect."""
        try:
            await self.store.redis.publish(self.keys.channel(job_id), LINK_CHANGED_MESSAGE)
        except REDIS_FAILURES as exc:
            if not unavailable(exc):
                raise
            log.warning("could not announce a revoked link of %s to open streams: %s", job_id, exc)

    def announcement(self, event: StoredEvent) -> tuple[str, str]:
        """The channel and message that carry ``event`` to every process."""
        payload = {"seq": event.seq, "type": event.type, "data": event.data, "at": event.at}
        return self.keys.channel(event.job_id), compact_json(payload)

    def subscribe(self, job_id: str) -> Subscription:
        subscription, first = self._fanout.add(job_id)
        if first:
            self._commands.put_nowait(("subscribe", job_id))
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if self._fanout.remove(subscription):
            self._commands.put_nowait(("unsubscribe", subscription.job_id))

    @property
    def subscriber_count(self) -> int:
        return self._fanout.count

    # -- the connection ------------------------------------------------------------------

    async def _run(self) -> None:
        delay = RECONNECT_FIRST_SECONDS
        while True:
            try:
                await self._listen()
            except REDIS_FAILURES as exc:
                if not unavailable(exc):
                    raise
                log.warning("live-event connection to Redis lost (%s); reconnecting", exc)
            finally:
                self.connected.clear()
                await self._drop_connection()
            if self._was_up:
                delay = RECONNECT_FIRST_SECONDS  # it worked until now: try again at once
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _listen(self) -> None:
        assert self._client is not None
        self._was_up = False
        pubsub = self._client.pubsub()
        self._pubsub = pubsub
        # Commands queued so far are covered by subscribing to every current job now.
        while not self._commands.empty():
            self._commands.get_nowait()
        await pubsub.subscribe(self.keys("bus-control"), *[self.keys.channel(j) for j in self._fanout.job_ids()])
        sender = asyncio.create_task(self._send_commands(pubsub), name="redis-bus-commands")
        try:
            await self._receive(pubsub)
        finally:
            sender.cancel()
            try:
                await sender
            except asyncio.CancelledError:
                # The sender's own cancellation is expected; a stop() cancelling this task is not
                # to be swallowed, or ``_run`` would reconnect forever and ``stop`` never return.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
            except UNAVAILABLE_ERRORS:
                pass

    async def _send_commands(self, pubsub: PubSub) -> None:
        """Subscribe and unsubscribe job channels as streams open and close."""
        while True:
            action, job_id = await self._commands.get()
            channel = self.keys.channel(job_id)
            wanted = self._fanout.watches(job_id)
            if action == "subscribe" and wanted:
                await pubsub.subscribe(channel)
            elif action == "unsubscribe" and not wanted:
                await pubsub.unsubscribe(channel)

    async def _receive(self, pubsub: PubSub) -> None:
        unanswered = False
        while True:
            message = await pubsub.get_message(timeout=HEARTBEAT_SECONDS)
            if message is None:
                if unanswered:
                    raise ConnectionError("Redis did not answer a ping on the live-event connection")
                unanswered = True
                await pubsub.ping()
                continue
            unanswered = False
            self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        kind, channel = message.get("type"), str(message.get("channel") or "")
        if kind == "subscribe" and channel == self.keys("bus-control"):
            self._was_up = True
            self.connected.set()
            return
        prefix = self.keys.channel("")
        if not channel.startswith(prefix):
            return
        job_id = channel[len(prefix) :]
        if kind == "subscribe":
            self._fanout.offer(job_id, LAGGED)
        elif kind == "message":
            raw = read_json(message["data"])
            if raw.get("link_changed"):
                self._fanout.offer(job_id, LINK_CHANGED)
                return
            event = StoredEvent(job_id, int(raw["seq"]), str(raw["type"]), raw["data"], str(raw["at"]))
            self._fanout.offer(job_id, event)

    async def _drop_connection(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*UNAVAILABLE_ERRORS):
                await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis-py 8
