"""Signed webhooks per second into one ``portal serve`` process, beside its floors.

    .venv/bin/python bench/webhooks.py --count 5000 --concurrency 64
    .venv/bin/python bench/webhooks.py --count 5000 --concurrency 64 --redis redis://127.0.0.1:6379/0
    .venv/bin/python bench/webhooks.py --smoke

In one run, on the same stack, with the server pinned to one core and this load generator
on the other: a bare 202 endpoint; the durable floor (Standard Webhooks verify, ``json.loads``,
one SQLite writer thread with group commit, WAL, synchronous=FULL, fan-out); then the portal
with ``technician.location`` pings and with ``job.updated`` changes over the same jobs. The
portal also validates against the JSON Schemas, applies the job model and notification policy
and keeps the event log; the ratio column says what that costs. With ``--redis URL`` the
portal runs on that Redis (under a key prefix of its own, deleted afterwards) while the floors stay as they
are: the figure to read is then the portal's rate and its CPU per ping.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    Server,
    job_payload,
    location,
    percentile,
    pin_client,
    post_raw,
    raise_fd_limit,
    ratio_table,
    redis_store,
    signed,
)

Request = tuple[bytes, dict[str, str]]


@dataclass
class Run:
    rate: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float
    statuses: dict[int, int]


async def post_all(
    host: str, port: int, path: str, requests: list[Request], latencies: list[float], statuses: dict[int, int]
) -> None:
    """One keep-alive HTTP/1.1 connection posting its share of requests back to back."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for body, headers in requests:
            started = time.perf_counter()
            status = await post_raw(reader, writer, host, path, body, headers)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


def shares(requests: list[Request], concurrency: int, key: list[int]) -> list[list[Request]]:
    """Requests dealt to connections by job, so one job's requests arrive in the order sent."""
    out: list[list[Request]] = [[] for _ in range(concurrency)]
    for request, job in zip(requests, key, strict=True):
        out[job % concurrency].append(request)
    return [share for share in out if share]


async def drive(server: Server, path: str, requests: list[Request], concurrency: int, key: list[int]) -> Run:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    cpu = server.cpu_seconds()
    started = time.perf_counter()
    await asyncio.gather(
        *(
            post_all("127.0.0.1", server.port, path, share, latencies, statuses)
            for share in shares(requests, concurrency, key)
        )
    )
    elapsed = time.perf_counter() - started
    used = server.cpu_seconds() - cpu
    return Run(
        len(requests) / elapsed,
        percentile(latencies, 0.5) * 1000,
        percentile(latencies, 0.99) * 1000,
        used / len(requests) * 1000,
        statuses,
    )


async def seed(server: Server, jobs: int, concurrency: int) -> None:
    """Every job exists and is en route, so pings show on its page."""
    requests = [signed(job_payload(f"BENCH-{j}", status="en_route")) for j in range(jobs)]
    run = await drive(server, "/webhooks/field", requests, concurrency, list(range(jobs)))
    assert set(run.statuses) == {202}, run.statuses


def fmt(run: Run) -> str:
    return f"{run.rate:,.0f}/s, p50 {run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms, {run.cpu_ms:.2f} ms CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000, help="webhooks per measured run")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--jobs", type=int, default=500, help="distinct jobs the webhooks spread over")
    parser.add_argument("--redis", help="run the portal on this Redis (a unique key prefix is added)")
    parser.add_argument("--smoke", action="store_true", help="a few hundred requests: checks the benchmark works")
    args = parser.parse_args()
    if args.smoke:
        args.count, args.jobs, args.concurrency = 200, 20, 8
    raise_fd_limit()
    pin_client()
    start = dt.datetime.now(dt.UTC)
    keys = [n % args.jobs for n in range(args.count)]
    pings = [signed(location(j, n, start)) for n, j in enumerate(keys)]
    results: dict[str, Run] = {}
    for name, floor in (("bare", "bare"), ("durable", "durable")):
        with Server(floor=floor) as server:
            results[name] = asyncio.run(drive(server, "/hook", pings, args.concurrency, keys))
    with redis_store(args.redis) as redis_url, Server(redis_url=redis_url) as server:
        asyncio.run(seed(server, args.jobs, args.concurrency))
        results["location"] = asyncio.run(drive(server, "/webhooks/field", pings, args.concurrency, keys))
        # Signed just before use: on a slow machine the runs before could outlast the 5-minute window.
        updates = [
            signed(job_payload(f"BENCH-{j}", status="en_route", service=f"Visit {n}")) for n, j in enumerate(keys)
        ]
        results["job.updated"] = asyncio.run(drive(server, "/webhooks/field", updates, args.concurrency, keys))
        rss = server.rss_mb()
    bare, durable = results["bare"], results["durable"]
    rows: list[tuple[str, str, str, float | None]] = [
        ("`technician.location` vs durable floor", fmt(results["location"]), fmt(durable),
         results["location"].rate / durable.rate),
        ("`job.updated` vs durable floor", fmt(results["job.updated"]), fmt(durable),
         results["job.updated"].rate / durable.rate),
        ("durable floor vs bare 202", fmt(durable), fmt(bare), durable.rate / bare.rate),
        ("server CPU per location ping (ms)", f"{results['location'].cpu_ms:.2f}", f"{durable.cpu_ms:.2f}",
         results["location"].cpu_ms / durable.cpu_ms),
    ]  # fmt: skip
    store = f"Redis {args.redis}" if args.redis else "SQLite"
    title = f"Signed webhooks ({store}): {args.count} per run, {args.concurrency} in flight, {args.jobs} jobs"
    print(ratio_table(title, rows))
    print()
    answers = {name: run.statuses for name, run in results.items()}
    print(f"answers: {answers}; portal RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
