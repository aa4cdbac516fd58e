"""Plumbing shared by the Redis store's modules: the URL, key names, codecs, errors, transactions.

Every key of one portal lives under one prefix (``portal:`` unless the URL says
``?prefix=...``), so several portals, or test runs, can share a Redis database; the bus uses
the same prefix for its channels, which Redis does not separate by database.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MasterDownError, OutOfMemoryError, ReadOnlyError, RedisError, ResponseError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT

from portal.core.jobs import Job, iso_utc, parse_iso
from portal.settings import ConfigError
from portal.store.records import JobRecord, StoredEvent, StoreUnavailable
from portal.store.rules import WEBHOOK_ID_RETENTION, compact_json, read_json

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_PREFIX = "portal:"
PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
# Optimistic transactions retried this often before the caller is told to come back later;
# only a job changed by many processes in the same millisecond ever needs more than two.
MAX_TRANSACTION_ATTEMPTS = 50
# Errors that mean "Redis cannot be used right now" (down, restarting, loading, failed over
# to a read-only replica or to one whose primary is gone, full under ``maxmemory-policy
# noeviction``); they become StoreUnavailable, so webhooks answer 503 and are sent again.
UNAVAILABLE_ERRORS = (
    RedisConnectionError,
    RedisTimeoutError,
    ReadOnlyError,
    MasterDownError,
    OutOfMemoryError,
    OSError,
)
WEBHOOK_ID_SECONDS = int(WEBHOOK_ID_RETENTION.total_seconds())  # a remembered webhook id's expiry
# A job's event log only serves open pages resuming; one untouched this long expires, and a
# page that still asks gets a fresh snapshot instead.
EVENT_LOG_TTL_SECONDS = 30 * 24 * 3600


def split_url(url: str) -> tuple[str, str]:
    """The URL redis-py understands and the key prefix taken from its ``prefix`` query."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = DEFAULT_PREFIX
    kept = []
    for name, value in query:
        if name == "prefix":
            prefix = value
        else:
            kept.append((name, value))
    if not PREFIX_PATTERN.match(prefix):
        raise ConfigError(f"PORTAL_STORE: the prefix must be 1-64 letters, digits or _.:- ; got {prefix!r}")
    return urlunsplit(parts._replace(query=urlencode(kept))), prefix


# Redis's "not now" replies by their code, at the start of the message or, inside a MULTI or a
# pipeline, after the reason redis-py or Redis gives it ("Transaction discarded because of:
# OOM ..."): too few replicas for ``min-replicas-to-write``, another client's script running
# long (neither has an error class in redis-py), and the ones ``UNAVAILABLE_ERRORS`` names.
UNAVAILABLE_REPLY = re.compile(r"(?:^|: )(?:NOREPLICAS|BUSY|OOM|READONLY|MASTERDOWN|LOADING) ")
# What a Redis call can raise; ``unavailable`` says which of these mean "not now".
REDIS_FAILURES = (RedisError, OSError)


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means Redis cannot be used right now (a 503, a fail-open, a reconnect),
    rather than a mistake in what was asked of it."""
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return True
    return isinstance(exc, ResponseError) and UNAVAILABLE_REPLY.search(str(exc)) is not None


@contextmanager
def unavailable_on_error() -> Iterator[None]:
    try:
        yield
    except REDIS_FAILURES as exc:
        if not unavailable(exc):
            raise
        raise StoreUnavailable(f"Redis is unavailable: {exc}") from exc


def guarded(fn: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Turn Redis connection failures of a store method into StoreUnavailable."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with unavailable_on_error():
            return await fn(*args, **kwargs)

    return wrapper


async def retried(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run ``attempt`` again from the start while it raises WatchError (a key it read changed
    before it wrote), up to ``MAX_TRANSACTION_ATTEMPTS`` times; then the caller is told to
    come back later."""
    for _ in range(MAX_TRANSACTION_ATTEMPTS):
        try:
            return await attempt()
        except WatchError:
            continue
    raise StoreUnavailable("Redis: too many concurrent changes to the same keys; try again")


async def transact(pipeline: Callable[[], Pipeline], body: Callable[[Pipeline], Awaitable[T]]) -> T:
    """Run ``body`` as a WATCH/MULTI transaction, again from the start when a watched key changed.

    ``body`` watches and reads, then calls ``begin(pipe)`` and queues its writes; when it
    returns without beginning, nothing is written.
    """

    async def once() -> T:
        async with pipeline() as pipe:
            result = await body(pipe)
            if pipe.explicit_transaction:
                await pipe.execute()
            return result

    return await retried(once)


def begin(pipe: Pipeline) -> None:
    """Switch a watching pipeline to queueing the transaction's writes."""
    pipe.multi()  # type: ignore[no-untyped-call]


# -- codecs ------------------------------------------------------------------------


def text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def need(value: object) -> str:
    found = text(value)
    if found is None:
        raise StoreUnavailable("Redis: a record is incomplete")
    return found


def strings(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {need(k): need(v) for k, v in raw.items()}


def fields(**values: object) -> dict[str, str]:
    """A hash's fields: None is left out (a missing field reads back as None)."""
    out: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        out[name] = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return out


def wire(mapping: Mapping[str, str]) -> dict[EncodableT, EncodableT]:
    """A hash's fields as redis-py's signatures spell them."""
    out: dict[EncodableT, EncodableT] = {}
    out.update(mapping)
    return out


def micros(iso: str) -> int:
    """A timestamp as integer microseconds: exact as a sorted-set score (below 2**53)."""
    moment = parse_iso(iso)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def iso_from_micros(value: float) -> str:
    seconds, fraction = divmod(int(value), 1_000_000)
    return iso_utc(datetime.fromtimestamp(seconds, UTC).replace(microsecond=fraction))


def record_from_hash(raw: dict[str, str]) -> JobRecord:
    return JobRecord(
        Job.from_dict(read_json(raw["doc"])),
        raw["link_key"],
        int(raw.get("last_seq", "0")),
        raw["created_at"],
        raw["updated_at"],
    )


def event_entry(kind: str, data: dict[str, Any], at: str) -> dict[EncodableT, EncodableT]:
    """A live event as its stream entry; the entry id is ``{seq}-0``, so the log reads back in order."""
    return wire({"type": kind, "data": compact_json(data), "at": at})


def event_from_entry(job_id: str, entry_id: Any, data: Any) -> StoredEvent:
    values = strings(data)
    seq = int(need(entry_id).split("-")[0])
    return StoredEvent(job_id, seq, values["type"], read_json(values["data"]), values["at"])


class Keys:
    """Every key and channel name of one portal, under its prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def job(self, job_id: str) -> str:
        return self("job", job_id)

    def events(self, job_id: str) -> str:
        return self("events", job_id)

    def job_links(self, job_id: str) -> str:
        return self("job-links", job_id)

    def job_messages(self, job_id: str) -> str:
        return self("job-messages", job_id)

    def job_outbox(self, job_id: str) -> str:
        return self("job-outbox", job_id)

    def link(self, key: str) -> str:
        return self("link", key)

    def webhook(self, webhook_id: str) -> str:
        return self("webhook", webhook_id)

    def message(self, message_id: int | str) -> str:
        return self("msg", str(message_id))

    def provider(self, provider_id: str) -> str:
        return self("msg-provider", provider_id)

    def outbox(self, outbox_id: int | str) -> str:
        return self("outbox", str(outbox_id))

    def outbox_key(self, dedup_key: str) -> str:
        return self("outbox-key", dedup_key)

    def due(self, kind: str) -> str:
        return self("outbox-due", kind)

    def channel(self, job_id: str) -> str:
        return self("bus", job_id)


class RedisParts:
    """What every part of the Redis store shares: the process's one client and the key names."""

    _client: Redis | None = None
    keys: Keys

    @property
    def redis(self) -> Redis:
        if self._client is None:
            raise StoreUnavailable("the store is closed")
        return self._client

    def pipeline(self) -> Pipeline:
        return self.redis.pipeline(transaction=True)

    async def transact(self, body: Callable[[Pipeline], Awaitable[T]]) -> T:
        return await transact(self.pipeline, body)
