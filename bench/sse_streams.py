"""A busy morning: open tracking streams on one process while location pings arrive, beside the bare broadcaster.

    .venv/bin/python bench/sse_streams.py --streams 10000 --jobs 5000 --rate 1000 --seconds 20 --cycles 50000
    .venv/bin/python bench/sse_streams.py --redis redis://127.0.0.1:6379/0   # the portal on Redis pub/sub
    .venv/bin/python bench/sse_streams.py --smoke

For the floor (a bare sse-starlette broadcaster behind the durable floor's intake, see
``floors.py``) and then the portal, in one run: opens N streams spread over the jobs (from
many 127.0.0.x source addresses), measures the server's memory per idle stream, sends
location pings at a steady rate and records, for every stream, when each of its job's pings
arrived (webhook sent -> event read) and which never did. Then it runs connect/disconnect
cycles and reports the server's open asyncio tasks and RSS after the first 10,000 and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    SECRET_KEY,
    Server,
    percentile,
    pin_client,
    post_raw,
    raise_fd_limit,
    ratio_table,
    redis_store,
    signed,
)

from webhooks import location, seed

CONNECT_BATCH = 500  # connections opened at once: a burst, not a single SYN flood on loopback
SOURCES = 200  # 127.0.0.x source addresses: spreads per-address limits and ephemeral ports
SENDERS = 64  # keep-alive connections the pings are sent over
CYCLE_CONCURRENCY = 200  # connect/disconnect cycles in flight
SETTLE_AFTER = 10_000  # cycles before RSS is considered settled
DRAIN_SECONDS = 10.0  # how long to wait after the last ping for stragglers
SETTLE_SECONDS = 2.0  # a pause before reading RSS or the task count, for the server to finish closing
ACCURACY = re.compile(rb'"accuracy_m":\s*(\d+)')


def source(n: int) -> str:
    return f"127.0.0.{2 + n % SOURCES}"


class Stream:
    """A bare HTTP/1.1 SSE reader: light enough that the client does not dwarf the server."""

    def __init__(self, port: int, path: str, job: int, src: str) -> None:
        self.port, self.path, self.job, self.src = port, path, job, src
        self.writer: asyncio.StreamWriter | None = None
        self.reader: asyncio.StreamReader | None = None
        self.since = 0.0  # pings sent after this moment must arrive
        self.got: dict[int, float] = {}

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, local_addr=(self.src, 0))
        self.writer.write(f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
        while not (await self.reader.readline()).startswith(b"event: snapshot"):
            if self.reader.at_eof():
                raise ConnectionError(f"stream {self.path} closed before its snapshot")
        self.since = time.perf_counter()

    async def listen(self) -> None:
        assert self.reader is not None
        while line := await self.reader.readline():
            if line.startswith(b"data:") and (found := ACCURACY.search(line)):
                self.got.setdefault(int(found.group(1)), time.perf_counter())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass
class Pings:
    sent: dict[int, tuple[int, float]] = field(default_factory=dict)  # ping -> (job, sent at)
    statuses: dict[int, int] = field(default_factory=dict)


async def send_pings(port: int, path: str, jobs: int, rate: float, seconds: float, pings: Pings) -> float:
    """Pings at ``rate`` per second for ``seconds``, job n on sender n % SENDERS; returns the rate reached."""
    start = dt.datetime.now(dt.UTC)
    total = int(rate * seconds)
    began = time.perf_counter()

    async def sender(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for n in range(index, total, SENDERS):
                await asyncio.sleep(max(0.0, began + n / rate - time.perf_counter()))
                job = n % jobs
                body, headers = signed(location(job, n, start))
                pings.sent[n] = (job, time.perf_counter())
                status = await post_raw(reader, writer, "127.0.0.1", path, body, headers)
                pings.statuses[status] = pings.statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(sender(i) for i in range(min(SENDERS, total))))
    return total / (time.perf_counter() - began)


@dataclass
class Outcome:
    connected: int = 0
    kib_per_stream: float = 0.0
    rate: float = 0.0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    missed: int = 0
    delivered: int = 0
    tasks: list[str] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)


async def loop_tasks(client: httpx.AsyncClient, floor: bool) -> str:
    if floor:
        return (await client.get("/tasks")).text
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith("portal_event_loop_tasks "):
            return str(int(float(line.split()[1])))
    return "?"


async def cycles(port: int, paths: list[tuple[str, int]], count: int) -> None:
    """``count`` connect, read the first event, disconnect cycles."""
    queue = iter(range(count))

    async def worker() -> None:
        for n in queue:
            path, job = paths[n % len(paths)]
            stream = Stream(port, path, job, source(n))
            try:
                await stream.open()
            finally:
                stream.close()

    await asyncio.gather(*(worker() for _ in range(CYCLE_CONCURRENCY)))


async def measure(server: Server, floor: bool, args: argparse.Namespace) -> Outcome:
    out = Outcome()
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        if floor:
            paths = [(f"/events/BENCH-{n % args.jobs}", n % args.jobs) for n in range(args.streams)]
            hook = "/hook"
        else:
            await seed(server, args.jobs, SENDERS)
            tokens = await tokens_of(server, [f"BENCH-{j}" for j in range(args.jobs)])
            paths = [(f"/t/{tokens[n % args.jobs]}/events", n % args.jobs) for n in range(args.streams)]
            hook = "/webhooks/field"
        await asyncio.sleep(args.settle / 2)
        rss_before = server.rss_mb()
        streams = [Stream(server.port, path, job, source(n)) for n, (path, job) in enumerate(paths)]
        for begin in range(0, len(streams), CONNECT_BATCH):
            results = await asyncio.gather(
                *(s.open() for s in streams[begin : begin + CONNECT_BATCH]), return_exceptions=True
            )
            out.connected += sum(1 for r in results if not isinstance(r, BaseException))
        await asyncio.sleep(args.settle)
        out.kib_per_stream = (server.rss_mb() - rss_before) * 1024 / max(1, out.connected)
        listeners = [asyncio.create_task(s.listen()) for s in streams if s.reader is not None]
        pings = Pings()
        out.rate = await send_pings(server.port, hook, args.jobs, args.rate, args.seconds, pings)
        by_job: dict[int, list[tuple[int, float]]] = {}
        for n, (job, at) in pings.sent.items():
            by_job.setdefault(job, []).append((n, at))
        deadline = time.perf_counter() + DRAIN_SECONDS
        # Polls this client's own counters (no server request): stragglers may still be on the wire.
        while time.perf_counter() < deadline and sum(_missing(s, by_job) for s in streams) > 0:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        out.statuses = pings.statuses
        latencies = []
        for s in streams:
            out.missed += _missing(s, by_job)
            for n, at in s.got.items():
                if n in pings.sent:
                    latencies.append(at - pings.sent[n][1])
        out.delivered = len(latencies)
        out.p50_ms, out.p99_ms = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
        for task in listeners:
            task.cancel()
        for s in streams:
            s.close()
        await asyncio.sleep(args.settle)
        out.tasks.append(await loop_tasks(client, floor))
        out.rss_mb.append(server.rss_mb())
        first = min(args.cycles, SETTLE_AFTER)
        await cycles(server.port, paths, first)
        await asyncio.sleep(args.settle)
        out.tasks.append(await loop_tasks(client, floor))
        out.rss_mb.append(server.rss_mb())
        if args.cycles > first:
            await cycles(server.port, paths, args.cycles - first)
            await asyncio.sleep(args.settle)
            out.tasks.append(await loop_tasks(client, floor))
            out.rss_mb.append(server.rss_mb())
    return out


def _missing(stream: Stream, by_job: dict[int, list[tuple[int, float]]]) -> int:
    """Pings for the stream's job, sent after it was open, that it has not read."""
    if stream.reader is None:
        return 0
    return sum(1 for n, at in by_job.get(stream.job, ()) if at > stream.since and n not in stream.got)


async def tokens_of(server: Server, job_ids: list[str]) -> dict[int, str]:
    """Tracking tokens straight from the store: ``portal link`` per job would take minutes."""
    from portal.links import LinkSigner
    from portal.store.redis.store import RedisStore
    from portal.store.sqlite.store import SQLiteStore

    store = RedisStore(server.redis_url) if server.redis_url else SQLiteStore(Path(server.dir) / "bench.db")
    await store.open()
    try:
        signer = LinkSigner((SECRET_KEY,))
        out = {}
        for n, job_id in enumerate(job_ids):
            record = await store.get_job(job_id)
            assert record is not None, job_id
            out[n] = signer.token(record.link_key)
        return out
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=5_000, help="jobs the streams watch")
    parser.add_argument("--rate", type=float, default=1000, help="location pings per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--cycles", type=int, default=50_000, help="connect/disconnect cycles afterwards")
    parser.add_argument("--redis", help="run the portal on this Redis (a unique key prefix is added)")
    parser.add_argument("--smoke", action="store_true", help="a few streams for a few seconds")
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.streams, args.jobs, args.rate, args.seconds, args.cycles = 40, 20, 40, 2, 100
        args.settle = 0.2  # a smoke's memory and task figures mean nothing: only that they are read
    limit = raise_fd_limit()
    if limit < args.streams + 1000:  # each side (this client, the server) holds one socket per stream
        sys.exit(f"the file descriptor limit ({limit}) is too low for {args.streams} streams")
    pin_client()
    with Server(floor="durable") as server:
        bare = asyncio.run(measure(server, True, args))
    with redis_store(args.redis) as redis_url, Server(redis_url=redis_url) as server:
        portal = asyncio.run(measure(server, False, args))
    rows: list[tuple[str, str, str, float | None]] = [
        ("streams connected", f"{portal.connected:,}", f"{bare.connected:,}", None),
        (
            "memory per idle stream (KiB)",
            f"{portal.kib_per_stream:.1f}",
            f"{bare.kib_per_stream:.1f}",
            portal.kib_per_stream / bare.kib_per_stream if bare.kib_per_stream > 0 else None,
        ),
        ("pings sent per second", f"{portal.rate:,.0f}", f"{bare.rate:,.0f}", None),
        (
            "webhook sent -> event read, p50 (ms)",
            f"{portal.p50_ms:.1f}",
            f"{bare.p50_ms:.1f}",
            portal.p50_ms / bare.p50_ms,
        ),
        (
            "webhook sent -> event read, p99 (ms)",
            f"{portal.p99_ms:.1f}",
            f"{bare.p99_ms:.1f}",
            portal.p99_ms / bare.p99_ms,
        ),
        (
            "events delivered / missed",
            f"{portal.delivered:,} / {portal.missed:,}",
            f"{bare.delivered:,} / {bare.missed:,}",
            None,
        ),
        (
            "open tasks: after the streams closed / after the first (up to 10,000) cycles / end",
            " / ".join(portal.tasks),
            " / ".join(bare.tasks),
            None,
        ),
        (
            "RSS (MB): after the streams closed / after the first (up to 10,000) cycles / end",
            " / ".join(f"{r:.0f}" for r in portal.rss_mb),
            " / ".join(f"{r:.0f}" for r in bare.rss_mb),
            None,
        ),
    ]
    store = "Redis pub/sub" if redis_url else "SQLite"
    title = (
        f"Streams ({store}): {args.streams:,} on {args.jobs:,} jobs, {args.rate:,.0f} pings/s for {args.seconds:.0f} s,"
        f" then {args.cycles:,} connect/disconnect cycles"
    )
    print(ratio_table(title, rows))
    print(f"\nping answers: portal {portal.statuses}, floor {bare.statuses}")


if __name__ == "__main__":
    main()
