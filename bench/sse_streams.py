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
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Server, job_payload, raise_fd_limit, signed

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
        tokens = [await _token(server, f"SSE-{n}") for n in range(jobs)]
        paths = [f"/t/{tokens[n % jobs]}/events" for n in range(count)]
        rss_before = server.rss_mb()
        started = time.perf_counter()
        streams = await open_all(server.url, paths)
        print(f"{count} streams open in {time.perf_counter() - started:.1f} s")
        print(
            f"  server RSS {rss_before:.0f} MB -> {server.rss_mb():.0f} MB; open streams metric: "
            f"{await metric(client, 'portal_sse_streams_open')}"
        )
        waits = [asyncio.create_task(s.wait_for(b"event: status")) for s in streams]
        sent = time.perf_counter()
        for n in range(jobs):
            body, headers = signed(job_payload(f"SSE-{n}", status="en_route"))
            assert (await client.post("/webhooks/field", content=body, headers=headers)).status_code == 202
        arrivals = sorted(t - sent for t in await asyncio.gather(*waits))
        print(
            f"  status change reached all {count} streams: median {statistics.median(arrivals) * 1000:.0f} ms,"
            f" p99 {arrivals[int(len(arrivals) * 0.99)] * 1000:.0f} ms, last {arrivals[-1] * 1000:.0f} ms"
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


async def _token(server: Server, job_id: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "portal", "link", job_id,
        env={"PORTAL_STORE": f"sqlite:///{server.dir}/bench.db", "PORTAL_SECRET_KEY": "bench-secret-key-0123456789",
             "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return out.decode().strip().rsplit("/t/", 1)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=100, help="jobs the streams watch")
    args = parser.parse_args()
    limit = raise_fd_limit()
    if limit < args.streams * 2 + 100:
        sys.exit(f"the file descriptor limit ({limit}) is too low for {args.streams} streams")
    with Server() as server:
        print(f"portal at {server.url}")
        asyncio.run(run(server, args.streams, args.jobs))


if __name__ == "__main__":
    main()
