"""The ``portal`` command line (CONTRACT §2)."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import sys
from collections.abc import Sequence

from portal import __version__
from portal.demo import command as demo_command
from portal.settings import ConfigError, Settings, from_env, sqlite_path_of
from portal.staff import cli as staff_cli
from portal.store.transfer import command as transfer

log = logging.getLogger("portal.cli")
# A worker builds its app (templates, schemas, store) before it answers uvicorns health check;
# on a busy machine that takes far longer than uvicorns default 5 s, and a killed worker is respawned.
WORKER_START_SECONDS = 60
APP_FACTORY = "portal.app:app_from_env"  # what each process of ``serve --workers N`` runs
# docs/cli.md is wrapped at this width whatever the terminal, so regenerating it changes nothing.
REFERENCE_WIDTH = 100


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portal", description="Customer notification and live-tracking portal.")
    parser.add_argument("--version", action="version", version=f"portal {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the web app and the notification worker")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--workers", type=int, default=1, help="web server processes (default 1; more need PORTAL_STORE=redis://)"
    )
    demo_command.add_command(commands)
    commands.add_parser("worker", help="run the notification worker alone (no web app)")
    link = commands.add_parser("link", help="print a job's current tracking link")
    link.add_argument("job_id", metavar="JOB_ID")
    commands.add_parser("purge", help="delete the personal data of jobs past PORTAL_RETENTION_DAYS")
    staff_cli.add_commands(commands)
    transfer.add_command(commands)
    return parser


def reference() -> str:
    """docs/cli.md: the ``--help`` of every command and subcommand, as the parser prints it."""
    sections = ["# Command line reference\n", _REFERENCE_INTRO]
    for parser in _every_parser(_parser()):
        parser.formatter_class = functools.partial(argparse.HelpFormatter, width=REFERENCE_WIDTH)
        command = parser.prog.removeprefix("portal").strip()
        title = f"## portal {command}" if command else "## portal"
        sections.append(f"{title}\n\n```text\n$ {parser.prog} --help\n{parser.format_help().rstrip()}\n```\n")
    return "\n".join(sections)


_REFERENCE_INTRO = """\
Generated from the parser's own help: run `python docs/generate.py` after changing a command
(a test fails while this page is out of date). What each command does is in the README.
"""


def _every_parser(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and its subcommands' parsers, depth first, in the order they were added."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _every_parser(sub)
    return found


def _settings() -> Settings:
    return from_env()


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            return demo_command.run(args)
        if args.command == "link" and (missing := _missing_database()):
            print(missing, file=sys.stderr)
            return 1
        settings = _settings()
        if args.command == "serve":
            return serve(settings, args.host, args.port, args.workers)
        if args.command == "link":
            return asyncio.run(print_link(settings, args.job_id))
        if args.command == "worker":
            return asyncio.run(run_worker(settings))
        if args.command == "purge":
            return asyncio.run(purge(settings))
        if args.command == "staff":
            return staff_cli.run(settings, args)
        if args.command == "migrate-store":
            return transfer.run(settings, args)
    except ConfigError as exc:
        print(f"portal: configuration error: {exc}", file=sys.stderr)
        return 2
    return 2


def _missing_database() -> str | None:
    """Why a command that only reads cannot run: its SQLite file does not exist (it is never created for it)."""
    url = os.environ.get("PORTAL_STORE", "").strip() or Settings().store_url
    path = sqlite_path_of(url)
    if path is None or path.exists():
        return None
    return (
        f"portal: no database at {path.resolve()} (PORTAL_STORE={url}); set PORTAL_STORE to the store the"
        " portal runs on (`portal demo` prints a command with its own)"
    )


def _where(settings: Settings) -> str:
    path = settings.sqlite_path
    return f"SQLite database {path.resolve()}" if path else f"store {settings.store_url.split('@')[-1]}"


def serve(settings: Settings, host: str, port: int, workers: int = 1) -> int:
    import uvicorn

    from portal.app import create_app, uvicorn_options

    if workers > 1 and settings.sqlite_path is not None:
        raise ConfigError("--workers above 1 needs PORTAL_STORE=redis://...: one SQLite file serves one process")
    shown_host = f"[{host}]" if ":" in host else host
    settings = settings.with_public_url(f"http://{shown_host}:{port}")
    print(f"portal {__version__}: serving on http://{shown_host}:{port}", file=sys.stderr)
    print(f"  public URL: {settings.public_url}", file=sys.stderr)
    print(f"  {_where(settings)}", file=sys.stderr)
    if not settings.webhook_secrets:
        print("  PORTAL_WEBHOOK_SECRET is not set: field webhooks answer 503 until it is", file=sys.stderr)
    if workers > 1:
        # Each worker process builds its own app from the environment (uvicorn needs an import
        # string for that); the public URL chosen here goes with it.
        os.environ["PORTAL_PUBLIC_URL"] = settings.public_url or ""
        print(f"  {workers} worker processes", file=sys.stderr)
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="info",
            access_log=False,
            timeout_worker_healthcheck=WORKER_START_SECONDS,
            **uvicorn_options(),
        )
        return 0
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", access_log=False, **uvicorn_options())
    return 0


async def print_link(settings: Settings, job_id: str) -> int:
    from portal.runtime import Runtime

    runtime = Runtime(settings, run_worker=False)
    await runtime.store.open()
    try:
        url = await runtime.link_url(job_id)
    finally:
        await runtime.store.close()
    if url is None:
        print(f"portal: no job with id {job_id!r} in {_where(settings)}", file=sys.stderr)
        return 1
    print(url)
    return 0


async def purge(settings: Settings) -> int:
    """Delete the personal data of every job closed more than PORTAL_RETENTION_DAYS ago."""
    from portal.clock import utc_now
    from portal.store import open_store
    from portal.store.base import StoreUnavailable
    from portal.store.retention import purge_closed, retention_cutoff

    closed_before = retention_cutoff(settings, utc_now())
    print(f"portal purge: {_where(settings)}")
    days = settings.retention_days
    print(f"  deleting jobs completed or cancelled before {closed_before} (PORTAL_RETENTION_DAYS={days})")
    print("  with their events, messages, outbox rows and links; the staff audit log is kept")
    store = open_store(settings)
    await store.open()
    try:
        total = await purge_closed(store, closed_before, progress=lambda n, count: print(f"  batch {n}: {count} jobs"))
    except StoreUnavailable as exc:
        print(f"portal: the store is unavailable: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    print(f"portal purge: {total} jobs purged")
    return 0


async def run_worker(settings: Settings) -> int:
    """Deliver notifications until SIGINT or SIGTERM; in-flight deliveries finish or are retried."""
    import signal

    from portal.runtime import Runtime

    # The handlers go in first, so a SIGTERM while starting is a clean stop, not a killed process.
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    runtime = Runtime(settings)
    await runtime.start()
    print(f"portal {__version__}: notification worker on {_where(settings)}", file=sys.stderr)
    try:
        await stopping.wait()
    finally:
        await runtime.stop()
    print(f"portal {__version__}: notification worker stopped", file=sys.stderr)
    return 0
