"""The tracking page and its ``/state`` per second, beside a bare Jinja2 page of the same size.

.venv/bin/python bench/pages.py --count 5000 --concurrency 64
.venv/bin/python bench/pages.py --smoke
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Server, percentile, pin_client, raise_fd_limit, ratio_table
from sse_streams import tokens_of

from webhooks import seed

JOBS = 50  # pages requested round robin over these jobs


async def get_all(port: int, paths: list[str], latencies: list[float], statuses: dict[int, int]) -> int:
    """One keep-alive connection getting ``paths`` back to back; returns the last body's size."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    size = 0
    try:
        for path in paths:
            started = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            size = len(await reader.readexactly(length))
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()
    return size


async def drive(port: int, paths: list[str], concurrency: int) -> tuple[float, float, int, dict[int, int]]:
    """Requests per second, p99 (ms), body size and answers."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    sizes = await asyncio.gather(
        *(get_all(port, paths[i::concurrency], latencies, statuses) for i in range(concurrency))
    )
    elapsed = time.perf_counter() - started
    return len(paths) / elapsed, percentile(latencies, 0.99) * 1000, max(sizes), statuses


async def portal_run(
    server: Server, count: int, concurrency: int
) -> dict[str, tuple[float, float, int, dict[int, int]]]:
    await seed(server, JOBS, 8)
    tokens = await tokens_of(server, [f"BENCH-{j}" for j in range(JOBS)])
    out = {}
    for name, suffix in (("page", ""), ("state", "/state")):
        paths = [f"/t/{tokens[n % JOBS]}{suffix}" for n in range(count)]
        out[name] = await drive(server.port, paths, concurrency)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--smoke", action="store_true", help="a few hundred requests: checks the benchmark works")
    args = parser.parse_args()
    if args.smoke:
        args.count, args.concurrency = 200, 8
    raise_fd_limit()
    pin_client()
    with Server() as server:
        portal = asyncio.run(portal_run(server, args.count, args.concurrency))
    size = portal["page"][2]
    with Server(floor="page", page_bytes=size) as server:
        floor = asyncio.run(drive(server.port, ["/page"] * args.count, args.concurrency))
    page, state = portal["page"], portal["state"]
    rows: list[tuple[str, str, str, float | None]] = [
        (
            f"tracking page ({page[2]:,} bytes) vs bare Jinja2 page ({floor[2]:,} bytes)",
            f"{page[0]:,.0f}/s, p99 {page[1]:.1f} ms",
            f"{floor[0]:,.0f}/s, p99 {floor[1]:.1f} ms",
            page[0] / floor[0],
        ),
        (
            "`/state` vs the tracking page",
            f"{state[0]:,.0f}/s, p99 {state[1]:.1f} ms",
            f"{page[0]:,.0f}/s",
            state[0] / page[0],
        ),
    ]
    print(ratio_table(f"Pages: {args.count} requests each, {args.concurrency} in flight", rows))
    print(f"\nanswers: page {page[3]}, state {state[3]}, floor {floor[3]}")


if __name__ == "__main__":
    main()
