"""``portal migrate-store --from URL --to URL``: copy every record from one store to another.

For the operator who outgrows one machine (SQLite to Redis) or goes back (Redis to SQLite).
Jobs with their link keys (revoked ones too) and event logs, remembered webhook ids, rejected
webhooks, the outbox (pending rows stay pending), the message history, the staff's attention
queue (reasons not yet due too) and the statistics counters, opt-outs, the SMS conversation
state of each phone, staff accounts and the audit log are copied with their ids.
Each backend exports and imports its own records (``TransferStore``) in the one format of
``exchange.py``, rebuilding what it derives (search columns and indexes, the retention
index, the outbox's due queues) as the portal itself writes them; this command only
passes records along.

Not copied, on purpose: staff sessions (staff sign in again), and what only lives for
seconds or minutes on Redis (rate-limit and throttle counters). The target must be empty,
and the portal should be stopped while it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from typing import Any, TextIO

from portal.settings import ConfigError, Settings
from portal.store import open_store
from portal.store.base import StoreUnavailable, TransferStore
from portal.store.exchange import KINDS
from portal.store.transfer.progress import Progress

STORE_SCHEMES = ("sqlite:///", "redis://", "rediss://")


async def migrate_store(source: TransferStore, target: TransferStore, progress: Progress) -> dict[str, int]:
    """Copy every record, telling ``progress`` how far it got. Returns counts per kind."""
    if not await target.is_empty():
        raise ConfigError("--to: the target store already holds data; migrate into an empty store")
    progress.start({kind: await source.count_records(kind) for kind in KINDS})
    counts: dict[str, int] = {}
    for kind in KINDS:
        count = 0
        async for record in source.export_records(kind):
            await target.import_record(kind, record)
            count += 1
            progress.step(kind, count)
        counts[kind] = count
        progress.done(kind, count)
    progress.finish()
    return counts


def add_command(commands: Any) -> None:
    migrate = commands.add_parser(
        "migrate-store", help="copy all data from one store to another (SQLite to Redis and back)"
    )
    migrate.add_argument("--from", dest="source", required=True, metavar="URL", help="the store to copy from")
    migrate.add_argument("--to", dest="target", required=True, metavar="URL", help="the empty store to copy into")


def run(settings: Settings, args: argparse.Namespace, out: TextIO = sys.stderr) -> int:
    for flag, url in (("--from", args.source), ("--to", args.target)):
        if not url.startswith(STORE_SCHEMES):
            raise ConfigError(f"{flag} must look like sqlite:///path/to/file.db or redis://host:port/db; got {url!r}")
    if args.source == args.target:
        raise ConfigError("--from and --to name the same store")

    async def go() -> int:
        source = open_store(replace(settings, store_url=args.source))
        target = open_store(replace(settings, store_url=args.target))
        await source.open()
        await target.open()
        try:
            print(f"portal: copying {_shown(args.source)} to {_shown(args.target)}", file=out)
            counts = await migrate_store(source, target, Progress(out))
        except StoreUnavailable as exc:
            print(f"portal: a store is unavailable: {exc}", file=out)
            return 1
        finally:
            await target.close()
            await source.close()
        print(f"portal: done, {sum(counts.values())} records copied", file=out)
        return 0

    return asyncio.run(go())


def _shown(url: str) -> str:
    return url.split("@")[-1]
