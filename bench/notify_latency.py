"""Bookings to SMS: webhook sent until a local Twilio API has the confirmation, beside the SMS floor.

    .venv/bin/python bench/notify_latency.py --rate 100 --seconds 20
    .venv/bin/python bench/notify_latency.py --smoke

A Twilio-compatible Messages API runs on this load generator's loop (``twilio_api.py``) and
notes when each message arrives. In one run, on the same stack, with the server pinned to one
core and this load generator on the other: the SMS floor (``floors.py sms``: verify,
``json.loads``, group commit, 202, then the twilio SDK) and then ``portal serve`` with the
``TWILIO_*`` settings pointing at that API and quiet hours off. Each gets bookings at a steady
rate: a ``job.updated`` that creates a ``scheduled`` job with its own customer phone, which is
what makes the portal send the booking confirmation at once. For every booking it records the
delay from webhook sent to the API having the message for that phone (matched by ``To``), and
which never arrived within a drain period. The portal also validates, applies the job model
and notification policy, keeps the event log and an outbox, renders the message and records
the outcome; the ratio column says what that costs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Server, job_payload, percentile, pin_client, post_raw, raise_fd_limit, ratio_table, signed
from twilio_api import TwilioAPI

SENDERS = 32  # keep-alive connections the bookings are sent over, each at its share of the rate
WARMUP = 10  # bookings sent and delivered before the measured run (first connections, lazy setup)
DRAIN_SECONDS = 10.0  # how long to wait after the last booking for its message
POLL_SECONDS = 0.02
GOAL_P99_MS = 250.0
GOAL_RATE = 100.0


def phone(n: int) -> str:
    """A distinct valid US mobile-format number per booking (10,000 per exchange)."""
    return f"+1312{200 + n // 10_000:03d}{n % 10_000:04d}"


def booking(n: int) -> tuple[bytes, dict[str, str]]:
    customer = {"name": "Ann Example", "phone": phone(n), "channels": []}
    return signed(job_payload(f"BOOK-{n}", status="scheduled", customer=customer))


@dataclass
class Outcome:
    rate: float = 0.0
    sent: int = 0
    received: int = 0  # bookings whose message arrived
    missing: int = 0
    extra: int = 0  # messages beyond the first for a booking, or for no booking of this run
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    answer_p50_ms: float = float("nan")
    answer_p99_ms: float = float("nan")
    cpu_ms: float = float("nan")
    statuses: dict[int, int] = field(default_factory=dict)
    rejected: int = 0


@asynccontextmanager
async def running(server: Server) -> AsyncIterator[Server]:
    """The server started and stopped off the loop, so the Twilio API on it keeps answering."""
    await asyncio.to_thread(server.__enter__)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.__exit__)


async def send_bookings(
    port: int, path: str, numbers: range, rate: float, sent: dict[int, float], answers: list[float], out: Outcome
) -> None:
    """Booking ``numbers[i]`` at ``i / rate`` seconds from now, over SENDERS connections."""
    began = time.perf_counter()

    async def sender(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in range(index, len(numbers), SENDERS):
                await asyncio.sleep(max(0.0, began + i / rate - time.perf_counter()))
                n = numbers[i]
                body, headers = booking(n)
                sent[n] = started = time.perf_counter()
                status = await post_raw(reader, writer, "127.0.0.1", path, body, headers)
                answers.append(time.perf_counter() - started)
                out.statuses[status] = out.statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(sender(i) for i in range(min(SENDERS, len(numbers)))))
    if len(numbers) > 1:  # the offered rate puts booking i at i / rate: the last one shows the rate reached
        out.rate = (len(numbers) - 1) / (max(sent.values(), default=began) - began)


async def drain(api: TwilioAPI, expected: set[str], seconds: float) -> None:
    """Until every expected number has a message, or ``seconds`` have passed."""
    deadline = time.perf_counter() + seconds
    seen = 0
    while expected and time.perf_counter() < deadline:
        arrivals = api.arrivals[seen:]
        seen += len(arrivals)
        expected.difference_update(a.form.get("To", "") for a in arrivals)
        if expected:
            await asyncio.sleep(POLL_SECONDS)


async def measure(server: Server, path: str, api: TwilioAPI, args: argparse.Namespace) -> Outcome:
    out = Outcome()
    sent: dict[int, float] = {}
    answers: list[float] = []
    warm = range(WARMUP)
    await send_bookings(server.port, path, warm, args.rate, {}, [], Outcome())
    await drain(api, {phone(n) for n in warm}, DRAIN_SECONDS)
    api.arrivals.clear()
    numbers = range(WARMUP, WARMUP + int(args.rate * args.seconds))
    cpu = server.cpu_seconds()
    await send_bookings(server.port, path, numbers, args.rate, sent, answers, out)
    await drain(api, {phone(n) for n in numbers}, DRAIN_SECONDS)
    out.cpu_ms = (server.cpu_seconds() - cpu) / len(numbers) * 1000
    of_phone = {phone(n): n for n in numbers}
    arrived: dict[int, float] = {}
    for arrival in api.arrivals:
        n = of_phone.get(arrival.form.get("To", ""), -1)
        if n in sent and n not in arrived:
            arrived[n] = arrival.at
        else:
            out.extra += 1
    delays = [arrived[n] - sent[n] for n in arrived]
    out.sent, out.received, out.missing = len(sent), len(arrived), len(sent) - len(arrived)
    out.p50_ms, out.p99_ms = percentile(delays, 0.5) * 1000, percentile(delays, 0.99) * 1000
    out.max_ms = max(delays, default=float("nan")) * 1000
    out.answer_p50_ms, out.answer_p99_ms = percentile(answers, 0.5) * 1000, percentile(answers, 0.99) * 1000
    out.rejected = api.rejected
    return out


async def run(args: argparse.Namespace) -> tuple[Outcome, Outcome]:
    api = TwilioAPI()
    await api.start()
    try:
        async with running(Server(floor="sms", env=api.env())) as server:
            floor = await measure(server, "/hook", api, args)
        api.arrivals.clear()
        api.rejected = 0
        async with running(Server(env=api.env())) as server:
            portal = await measure(server, "/webhooks/field", api, args)
    finally:
        await api.close()
    return portal, floor


def ratio(portal: float, floor: float) -> float | None:
    return portal / floor if floor > 0 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=GOAL_RATE, help="bookings per second")
    parser.add_argument("--seconds", type=float, default=20, help="how long bookings are sent")
    parser.add_argument("--smoke", action="store_true", help="20 bookings at 40/s: checks the benchmark works")
    args = parser.parse_args()
    if args.smoke:
        args.rate, args.seconds = 40, 0.5
    raise_fd_limit()
    pin_client()
    load_before = os.getloadavg()
    portal, floor = asyncio.run(run(args))
    load_after = os.getloadavg()
    delay = "webhook sent -> Twilio API has the SMS"
    rows: list[tuple[str, str, str, float | None]] = [
        ("bookings sent per second", f"{portal.rate:,.1f}", f"{floor.rate:,.1f}", None),
        (f"{delay}, p50 (ms)", f"{portal.p50_ms:.1f}", f"{floor.p50_ms:.1f}", ratio(portal.p50_ms, floor.p50_ms)),
        (f"{delay}, p99 (ms)", f"{portal.p99_ms:.1f}", f"{floor.p99_ms:.1f}", ratio(portal.p99_ms, floor.p99_ms)),
        (f"{delay}, max (ms)", f"{portal.max_ms:.1f}", f"{floor.max_ms:.1f}", ratio(portal.max_ms, floor.max_ms)),
        ("webhook answered, p50 / p99 (ms)", f"{portal.answer_p50_ms:.1f} / {portal.answer_p99_ms:.1f}",
         f"{floor.answer_p50_ms:.1f} / {floor.answer_p99_ms:.1f}", None),
        ("bookings sent / SMS received / missing after the drain / extra",
         f"{portal.sent:,} / {portal.received:,} / {portal.missing:,} / {portal.extra:,}",
         f"{floor.sent:,} / {floor.received:,} / {floor.missing:,} / {floor.extra:,}", None),
        ("server CPU per booking (ms)", f"{portal.cpu_ms:.2f}", f"{floor.cpu_ms:.2f}",
         ratio(portal.cpu_ms, floor.cpu_ms)),
    ]  # fmt: skip
    title = f"Bookings to SMS: {args.rate:,.0f} bookings/s offered for {args.seconds:.0f} s, one process"
    print(ratio_table(title, rows))
    print()
    print(f"webhook answers: portal {portal.statuses}, floor {floor.statuses}")
    print(f"Twilio API rejected: portal {portal.rejected}, floor {floor.rejected}")
    print(f"load average (1 min): {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    goal = f"goal (p99 <= {GOAL_P99_MS:.0f} ms at {GOAL_RATE:.0f} bookings/s, none missing)"
    if args.rate < GOAL_RATE:
        print(f"{goal}: not measured, {args.rate:g} bookings/s offered")
    else:
        met = portal.p99_ms <= GOAL_P99_MS and portal.missing == 0 and portal.rate >= 0.95 * GOAL_RATE
        print(f"{goal}: {'met' if met else 'not met'} in this run")


if __name__ == "__main__":
    main()
