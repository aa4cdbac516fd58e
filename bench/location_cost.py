"""CPU per signed location ping through the portal's own intake, in one process, no HTTP.

    .venv/bin/python bench/location_cost.py --jobs 500 --pings 3000
    .venv/bin/python bench/location_cost.py --jobs 500 --pings 3000 --profile
    .venv/bin/python bench/location_cost.py --redis redis://127.0.0.1:6379/15
    .venv/bin/python bench/location_cost.py --event job.updated --profile
    .venv/bin/python bench/location_cost.py --smoke

The HTTP benchmark (``webhooks.py``) says how far the portal is from its floor, but its figure
moves with the machine's load and it cannot say where the time went. This one is cheap and
repeatable: it builds the same ``Runtime`` as ``portal serve`` (no worker) on a throwaway
SQLite file (or Redis under a unique key prefix, whose keys it deletes at the end), seeds ``--jobs`` jobs en route
the way ``webhooks.py`` does, then hands ``--pings`` signed ``technician.location`` bodies to
``FieldIntake.receive`` (verify, schema, apply, policy, store, publish: what the endpoint
calls) from ``--concurrency`` tasks, each a job's share in order, as the HTTP benchmark's
connections do (``--event job.updated``: the same number of ``job.updated`` changes instead, as
``webhooks.py`` sends them, after the pings, unmeasured, as there). It prints the process's CPU
per ping (``time.process_time``: every thread, the SQLite writer included) and the wall-clock
rate.

``--profile`` runs the pings under cProfile, in the event loop's thread and in the SQLite
writer thread (where ``_change_job`` runs), timed by each thread's own CPU clock (so waiting
for fsync or the other thread does not count), merges the two and prints the top functions by
cumulative and by own time. Profiling slows the Python parts several times more than the C
parts: read its shares, not its milliseconds. On Redis give it ``--concurrency 16``: slowed
down that much, 64 senders wait for the store's 32 connections longer than it allows.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import gc
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SECRET, SECRET_KEY, job_payload, location, redis_store, signed

from portal.app import GC_YOUNG_THRESHOLD
from portal.runtime import Runtime
from portal.settings import from_env
from portal.store.sqlite import store as sqlite_store
from webhooks import shares

Request = tuple[bytes, dict[str, str]]


def settings_env(directory: str, redis_url: str | None) -> dict[str, str]:
    """What ``webhooks.py`` gives ``portal serve``: a throwaway SQLite file, or ``redis_url``."""
    return {
        **os.environ,
        "PORTAL_STORE": redis_url or f"sqlite:///{directory}/cost.db",
        "PORTAL_SECRET_KEY": SECRET_KEY,
        "PORTAL_WEBHOOK_SECRET": SECRET,
        "PORTAL_QUIET_HOURS": "",
    }


async def send(runtime: Runtime, share: list[Request], statuses: dict[int, int]) -> None:
    for body, headers in share:

        async def read_body(body: bytes = body) -> bytes:
            return body

        answer = await runtime.intake.receive(headers, read_body, "127.0.0.1")
        statuses[answer.status] = statuses.get(answer.status, 0) + 1


async def drive(runtime: Runtime, requests: list[Request], keys: list[int], concurrency: int) -> dict[int, int]:
    statuses: dict[int, int] = {}
    await asyncio.gather(*(send(runtime, share, statuses) for share in shares(requests, concurrency, keys)))
    return statuses


class WriterProfile:
    """cProfile inside the SQLite writer thread too (cProfile sees only the thread that enables it)."""

    def __init__(self) -> None:
        self.profile = cProfile.Profile(time.thread_time)
        self.original: Callable[[Any, Any], Any] = sqlite_store._Writer._commit

    def install(self) -> None:
        profile, original = self.profile, self.original

        def commit(writer: Any, batch: Any) -> Any:
            profile.enable()
            try:
                return original(writer, batch)
            finally:
                profile.disable()

        sqlite_store._Writer._commit = commit  # type: ignore[method-assign]

    def remove(self) -> None:
        sqlite_store._Writer._commit = self.original  # type: ignore[method-assign]


def report(profiles: list[cProfile.Profile], lines: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiles[0], stream=out)
    for more in profiles[1:]:
        stats.add(more)
    stats.strip_dirs()
    stats.sort_stats("cumulative").print_stats(lines)
    stats.sort_stats("tottime").print_stats(lines)
    return out.getvalue()


async def run(args: argparse.Namespace, redis_url: str | None) -> None:
    directory = tempfile.mkdtemp(prefix="portal-cost-")
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])  # as ``portal serve`` runs
    runtime = Runtime(from_env(settings_env(directory, redis_url)), run_worker=False)
    await runtime.start()
    try:
        seeds = [signed(job_payload(f"BENCH-{j}", status="en_route")) for j in range(args.jobs)]
        seeded = await drive(runtime, seeds, list(range(args.jobs)), args.concurrency)
        assert set(seeded) == {202}, seeded
        start = dt.datetime.now(dt.UTC)
        keys = [n % args.jobs for n in range(args.pings)]
        pings = [signed(location(j, n, start)) for n, j in enumerate(keys)]
        if args.event == "job.updated":
            # As in webhooks.py, the changes come after the pings: jobs with a trail and an ETA log.
            moved = await drive(runtime, pings, keys, args.concurrency)
            assert set(moved) == {202}, moved
            updates = [job_payload(f"BENCH-{j}", status="en_route", service=f"Visit {n}") for n, j in enumerate(keys)]
            pings = [signed(update) for update in updates]
        profiles: list[cProfile.Profile] = []
        writer = WriterProfile()
        if args.profile:
            writer.install()
            profiles = [cProfile.Profile(time.thread_time)] + ([] if args.redis else [writer.profile])
            profiles[0].enable()
        cpu, wall = time.process_time(), time.perf_counter()
        statuses = await drive(runtime, pings, keys, args.concurrency)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if args.profile:
            profiles[0].disable()
            writer.remove()
    finally:
        await runtime.stop()
        shutil.rmtree(directory, ignore_errors=True)
    store = "redis" if args.redis else "sqlite"
    print(f"{args.pings} {args.event} webhooks over {args.jobs} jobs, {args.concurrency} in flight, {store}")
    print(f"CPU per ping: {cpu / args.pings * 1000:.3f} ms ({args.pings / wall:,.0f} pings/s wall clock)")
    print(f"answers: {statuses}")
    if profiles:
        print(report(profiles, args.lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500, help="jobs en route the pings spread over")
    parser.add_argument("--pings", type=int, default=3000, help="location pings measured")
    parser.add_argument("--concurrency", type=int, default=64, help="senders in flight")
    parser.add_argument(
        "--event", choices=("technician.location", "job.updated"), default="technician.location", help="what is sent"
    )
    parser.add_argument("--redis", metavar="URL", help="run on Redis (a unique key prefix) instead of SQLite")
    parser.add_argument("--profile", action="store_true", help="run under cProfile and print the top functions")
    parser.add_argument("--lines", type=int, default=40, help="functions shown per profile table")
    parser.add_argument("--smoke", action="store_true", help="a few hundred pings: checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.jobs, args.pings, args.concurrency = 20, 200, 8
    with redis_store(args.redis) as redis_url:  # its keys are deleted afterwards
        asyncio.run(run(args, redis_url))


if __name__ == "__main__":
    main()
