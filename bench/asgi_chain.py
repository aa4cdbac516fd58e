"""CPU per request of the portal's ASGI wrappers: raw ASGI calls, no HTTP, beside a bare app.

    .venv/bin/python bench/asgi_chain.py --requests 3000
    .venv/bin/python bench/asgi_chain.py --requests 3000 --profile
    .venv/bin/python bench/asgi_chain.py --smoke

Every request and every event-stream frame passes the portal's middleware (proxy headers,
the kept connection after a 500, security headers, Starlette's error and exception layers,
gzip) before the server writes it. ``webhooks.py`` cannot tell that share from the rest, and
its figure moves with the machine's load. This one calls the ASGI app directly (a scope, a
``receive`` and a ``send``, as uvicorn would) for ``GET /healthz`` and for signed
``technician.location`` pings to ``POST /webhooks/field``, on the portal's app and on a bare
Starlette app with the same routes, the same running ``Runtime`` and no middleware. It prints
the event loop thread's CPU per request for each (``time.thread_time``: the SQLite writer
thread does the same work for both and only adds noise) and the difference, which is what the
chain costs. ``--profile`` runs the portal's
requests under cProfile and prints the top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import io
import pstats
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import job_payload, location, signed
from location_cost import settings_env
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message

from portal.app import create_app
from portal.runtime import Runtime
from portal.settings import from_env
from portal.web import field, ops

Call = tuple[str, str, bytes, list[tuple[bytes, bytes]]]  # method, path, body, headers


def request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Call:
    raw = [(b"host", b"127.0.0.1:8000"), *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())]
    if body:
        raw.append((b"content-length", str(len(body)).encode()))
    return method, path, body, raw


async def call(app: ASGIApp, method: str, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """One request as uvicorn hands it over; its status code."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def measure(app: ASGIApp, calls: list[Call], concurrency: int) -> tuple[float, dict[int, int]]:
    """CPU seconds per call (``concurrency`` callers, each with its share in order) and the statuses."""
    statuses: dict[int, int] = {}

    async def caller(share: list[Call]) -> None:
        for method, path, body, headers in share:
            status = await call(app, method, path, body, headers)
            statuses[status] = statuses.get(status, 0) + 1

    shares = [calls[i::concurrency] for i in range(concurrency)]
    cpu = time.thread_time()
    await asyncio.gather(*(caller(share) for share in shares))
    return (time.thread_time() - cpu) / len(calls), statuses


def pings(jobs: int, count: int, start: dt.datetime, first: int) -> list[Call]:
    """``count`` pings, one job's share in order (``first`` keeps every run's pings newer)."""
    out = []
    for n in range(first, first + count):
        body, headers = signed(location(n % jobs, n, start))
        out.append(request("POST", "/webhooks/field", body, headers))
    return out


async def run(args: argparse.Namespace) -> None:
    directory = tempfile.mkdtemp(prefix="portal-chain-")
    settings = from_env(settings_env(directory, None, f"chain-{uuid.uuid4().hex[:8]}:"))
    runtime = Runtime(settings, run_worker=False)
    portal = create_app(settings, runtime=runtime)
    bare = Starlette(routes=[*ops.routes, *field.routes])
    bare.state.runtime = runtime
    bare.state.templates = portal.state.templates
    apps: dict[str, ASGIApp] = {"portal": portal, "bare": bare}
    rows: list[tuple[str, str, float]] = []
    profile = cProfile.Profile(time.thread_time) if args.profile else None
    try:
        async with portal.router.lifespan_context(portal):
            seeds = [
                request("POST", "/webhooks/field", *signed(job_payload(f"BENCH-{j}", "en_route")))
                for j in range(args.jobs)
            ]
            _, seeded = await measure(bare, seeds, args.concurrency)
            assert set(seeded) == {202}, seeded
            start, first = dt.datetime.now(dt.UTC), 0
            health = [request("GET", "/healthz")] * args.requests
            for _ in range(args.rounds):
                for name, app in apps.items():
                    for label, calls in [("GET /healthz", health), ("POST /webhooks/field", None)]:
                        if calls is None:
                            calls, first = pings(args.jobs, args.requests, start, first), first + args.requests
                        if profile is not None and name == "portal":
                            profile.enable()
                        cpu, statuses = await measure(app, calls, args.concurrency)
                        if profile is not None:
                            profile.disable()
                        assert len(statuses) == 1 and next(iter(statuses)) in (200, 202), statuses
                        rows.append((name, label, cpu))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(
        f"{args.requests} requests per measure, {args.concurrency} in flight, {args.rounds} rounds; CPU µs per request"
    )
    print("| request | portal (CPU µs) | bare (CPU µs) | portal - bare |")
    print("|---|---|---|---|")
    for label in ("GET /healthz", "POST /webhooks/field"):
        best = {name: min(cpu for n, lab, cpu in rows if n == name and lab == label) for name in apps}
        portal_us, bare_us = best["portal"] * 1e6, best["bare"] * 1e6
        print(f"| {label} | {portal_us:.1f} | {bare_us:.1f} | {portal_us - bare_us:.1f} |")
    if profile is not None:
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out).strip_dirs()
        stats.sort_stats("cumulative").print_stats(args.lines)
        stats.sort_stats("tottime").print_stats(args.lines)
        print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per measure")
    parser.add_argument("--jobs", type=int, default=500, help="jobs en route the pings spread over")
    parser.add_argument("--concurrency", type=int, default=16, help="callers in flight")
    parser.add_argument("--rounds", type=int, default=3, help="measures of each; the least CPU is shown")
    parser.add_argument("--profile", action="store_true", help="the portal's requests under cProfile")
    parser.add_argument("--lines", type=int, default=45, help="functions shown per profile table")
    parser.add_argument("--smoke", action="store_true", help="a few hundred requests: checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.jobs, args.rounds, args.concurrency = 200, 20, 1, 4
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
