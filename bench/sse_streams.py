"""Open tracking streams held by one ``portal serve`` process, and how fast a change reaches them.

    .venv/bin/python bench/sse_streams.py --streams 10000

Opens N event streams (spread over a few jobs), waits for every ``snapshot``, posts one
status change per job and measures until every stream has its ``status`` event. Then closes
everything, reopens and closes N streams again, and reports the server's memory and open
streams afterwards, to catch leaks across connect/disconnect cycles.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SECRET_KEY, Server, job_payload, raise_fd_limit, signed

from portal.links import LinkSigner

SINGLE_CHANGES = 20  # changes measured one at a time
CONNECT_BATCH = 500  # connections opened at once: a burst, not a single SYN flood on loopback


class Stream:
    """A bare HTTP/1.1 SSE reader: light enough that the client does not dwarf the server."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port, self.path = host, port, path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        request = f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nAccept: text/event-stream\r\n\r\n"
        self.writer.write(request.encode())
        await self.wait_for(b"event: snapshot")

    async def wait_for(self, marker: bytes) -> float:
        assert self.reader is not None
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("stream closed")
            if line.startswith(marker):
                return time.perf_counter()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def open_all(url: str, paths: list[str]) -> list[Stream]:
    parts = urlsplit(url)
    streams = [Stream(parts.hostname or "127.0.0.1", parts.port or 80, path) for path in paths]
    for start in range(0, len(streams), CONNECT_BATCH):
        await asyncio.gather(*(s.open() for s in streams[start : start + CONNECT_BATCH]))
    return streams


async def metric(client: httpx.AsyncClient, name: str) -> str:
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith(name + " "):
            return line.split()[1]
    return "?"


async def run(server: Server, count: int, jobs: int) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        paths = []
        for n in range(jobs):
            body, headers = signed(job_payload(f"SSE-{n}"))
            assert (await client.post("/webhooks/field", content=body, headers=headers)).status_code == 202
        by_id = _tokens(server, [f"SSE-{n}" for n in range(jobs)])
        tokens = [by_id[f"SSE-{n}"] for n in range(jobs)]
        paths = [f"/t/{tokens[n % jobs]}/events" for n in range(count)]
        rss_before = server.rss_mb()
        started = time.perf_counter()
        streams = await open_all(server.url, paths)
        print(f"{count} streams open in {time.perf_counter() - started:.1f} s")
        print(
            f"  server RSS {rss_before:.0f} MB -> {server.rss_mb():.0f} MB; open streams metric: "
            f"{await metric(client, 'portal_sse_streams_open')}"
        )
        by_job: dict[int, list[Stream]] = {}
        for index, stream in enumerate(streams):
            by_job.setdefault(index % jobs, []).append(stream)
        # One change at a time, as in real life: how long until every page of that job shows it.
        single = []
        for n in range(min(SINGLE_CHANGES, jobs)):
            waits = [asyncio.create_task(s.wait_for(b"event: status")) for s in by_job[n]]
            body, headers = signed(job_payload(f"SSE-{n}", status="en_route"))
            sent = time.perf_counter()
            assert (await client.post("/webhooks/field", content=body, headers=headers)).status_code == 202
            single.append(max(await asyncio.gather(*waits)) - sent)
        single.sort()
        print(
            f"  one change at a time ({len(single)} jobs, {count // jobs} pages each), webhook sent -> every page"
            f" has it: median {statistics.median(single) * 1000:.0f} ms, worst {single[-1] * 1000:.0f} ms"
        )
        # Every job changes at once: the whole fan-out, a worst case.
        waits = [asyncio.create_task(s.wait_for(b"event: status")) for s in streams]
        started = time.perf_counter()
        for n in range(jobs):
            body, headers = signed(job_payload(f"SSE-{n}", status="in_progress"))
            assert (await client.post("/webhooks/field", content=body, headers=headers)).status_code == 202
        done = max(await asyncio.gather(*waits)) - started
        print(
            f"  all {jobs} jobs changed back to back: all {count} pages updated"
            f" {done * 1000:.0f} ms after the first send"
        )
        for s in streams:
            s.close()
        again = await open_all(server.url, paths)
        for s in again:
            s.close()
        for _ in range(120):  # the server notices closed sockets on its next ping or send
            if await metric(client, "portal_sse_streams_open") == "0.0":
                break
            await asyncio.sleep(0.5)
        print(
            f"  after two connect/disconnect cycles: open streams {await metric(client, 'portal_sse_streams_open')},"
            f" server RSS {server.rss_mb():.0f} MB"
        )


def _tokens(server: Server, job_ids: list[str]) -> dict[str, str]:
    """Tracking tokens straight from the store file: ``portal link`` per job would take minutes."""
    with sqlite3.connect(f"file:{server.dir}/bench.db?mode=ro", uri=True) as conn:
        keys = dict(conn.execute("SELECT id, link_key FROM jobs").fetchall())
    signer = LinkSigner((SECRET_KEY,))
    return {job_id: signer.token(keys[job_id]) for job_id in job_ids}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=100, help="jobs the streams watch")
    args = parser.parse_args()
    limit = raise_fd_limit()
    if limit < args.streams + 100:  # each side (this client, the server) holds one socket per stream
        sys.exit(f"the file descriptor limit ({limit}) is too low for {args.streams} streams")
    with Server() as server:
        print(f"portal at {server.url}")
        asyncio.run(run(server, args.streams, args.jobs))


if __name__ == "__main__":
    main()
