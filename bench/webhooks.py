"""Signed webhooks per second into one ``portal serve`` process on SQLite.

    .venv/bin/python bench/webhooks.py --count 5000 --concurrency 64

Every request is signed, verified, validated against the JSON Schemas, applied and
durably committed (group commit, synchronous=FULL) before its 202.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Server, job_payload, raise_fd_limit, signed


async def post_all(
    host: str, port: int, requests: list[tuple[bytes, dict[str, str]]], latencies: list[float], statuses: dict[int, int]
) -> None:
    """One keep-alive HTTP/1.1 connection posting its share of requests back to back.

    A bare client keeps the load generator's own CPU cost far below the server's, which
    matters when both share two cores.
    """
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for body, headers in requests:
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            started = time.perf_counter()
            writer.write(
                f"POST /webhooks/field HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode()
                + body
            )
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def run(url: str, count: int, concurrency: int, jobs: int) -> None:
    requests = [signed(job_payload(f"BENCH-{n % jobs}", service=f"Visit {n}")) for n in range(count)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    parts = urlsplit(url)
    shares = [requests[i::concurrency] for i in range(concurrency)]
    started = time.perf_counter()
    await asyncio.gather(
        *(post_all(parts.hostname or "127.0.0.1", parts.port or 80, share, latencies, statuses) for share in shares)
    )
    elapsed = time.perf_counter() - started
    latencies.sort()
    print(f"{count} webhooks, {concurrency} concurrent, {jobs} jobs: {count / elapsed:.0f}/s in {elapsed:.1f} s")
    print(f"  answers: {statuses}")
    print(
        f"  latency p50 {statistics.median(latencies) * 1000:.1f} ms,"
        f" p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=500, help="distinct jobs the webhooks spread over")
    args = parser.parse_args()
    raise_fd_limit()
    with Server() as server:
        print(f"portal at {server.url} (store in {server.dir})")
        cpu = server.cpu_seconds()
        asyncio.run(run(server.url, args.count, args.concurrency, args.jobs))
        used = server.cpu_seconds() - cpu
        print(f"  server CPU {used:.1f} s: {used / args.count * 1000:.2f} ms per webhook (all threads)")
        print(f"  server RSS {server.rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
