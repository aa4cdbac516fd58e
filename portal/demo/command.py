"""``portal demo [--host H] [--port P] [--store sqlite:///path.db]``: serve with a simulated field system.

The demo is ``portal serve`` on a throwaway SQLite file (or the one given) with demo mode on:
field webhooks are accepted with a generated secret, messages are recorded rather than sent
(the customers are made up), quiet hours are off so every message shows at once, and the
demo phone page is mounted. A simulated field system then posts real signed webhooks to the
portal's own address while it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import secrets
import shlex
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from portal import __version__
from portal.settings import NOTIFICATION_MESSAGES, ConfigError, Settings, from_env
from portal.store.base import Store

STAFF_USERNAME = "demo"
PASSWORD_BYTES = 12  # 16 URL-safe characters: above the 12-character minimum of staff passwords
WEBHOOK_KEY_BYTES = 32
STARTUP_TIMEOUT_SECONDS = 30.0
STARTUP_POLL_SECONDS = 0.05
PHONE_PATH = "/demo/phone"
# The demo's own brand, so its pages look like a company's (an operator's settings win).
DEMO_COMPANY = "Acme Plumbing & Heating"
DEMO_COLOR = "#0b5cad"
DEMO_SUPPORT_PHONE = "+1 312 555 0100"  # 555-01xx: reserved for fiction
DEMO_LOGO_PATH = "/static/demo/logo.svg"
ROUTING_PATH = "/demo/osrm"  # the routing stub the demo serves from its own roads (portal/web/demo.py)


def add_command(commands: Any) -> None:
    demo = commands.add_parser("demo", help="run the portal with a simulated field system and demo customers")
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    demo.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    demo.add_argument(
        "--store", default=None, help="sqlite:///path.db to keep the demo's data (default: a throwaway temp file)"
    )
    demo.add_argument(
        "--routing",
        action="store_true",
        help="road ETAs and route lines from the demo's own routing stub (PORTAL_ROUTING_URL points at it)",
    )


def say(text: str) -> None:
    print(text, flush=True)


def demo_settings(store: str, environ: Mapping[str, str] | None = None) -> Settings:
    """The operator's settings with the demo's changes: own store, no providers, no quiet hours."""
    if not store.startswith("sqlite:///") or len(store) <= len("sqlite:///"):
        raise ConfigError(f"--store must look like sqlite:///path/to/demo.db; got {store!r}")
    env = {**(os.environ if environ is None else environ), "PORTAL_STORE": store}
    settings = from_env(env)
    brand = not env.get("PORTAL_BRAND_COLOR", "").strip()
    secret = settings.webhook_secrets or ("whsec_" + base64.b64encode(secrets.token_bytes(WEBHOOK_KEY_BYTES)).decode(),)
    return replace(
        settings,
        demo=True,
        webhook_secrets=secret,
        quiet_hours=None,
        notifications=NOTIFICATION_MESSAGES,
        company_name=settings.company_name or DEMO_COMPANY,
        brand_color=DEMO_COLOR if brand else settings.brand_color,
        support_phone=settings.support_phone or DEMO_SUPPORT_PHONE,
        # Demo customers are made up: never text or mail them, never call a real field system.
        twilio_account_sid=None,
        twilio_auth_token=None,
        twilio_from=None,
        smtp_host=None,
        callback_url=None,
        callback_secret=None,
    )


def run(args: argparse.Namespace) -> int:
    throwaway: Path | None = None
    store = args.store
    if store is None:
        throwaway = Path(tempfile.mkdtemp(prefix="portal-demo-"))
        store = f"sqlite:///{throwaway / 'demo.db'}"
    # The simulator's own requests would drown what the demo prints.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # uvicorn re-raises the SIGTERM it caught once it has shut down; ending through SystemExit
    # (rather than the default handler's abrupt exit) lets the throwaway data be removed.
    signal.signal(signal.SIGTERM, _stop)
    try:
        settings = demo_settings(store)
        return asyncio.run(_serve(settings, args.host, args.port, throwaway is not None, args.routing))
    except (KeyboardInterrupt, SystemExit):
        return 0
    finally:
        if throwaway is not None:
            shutil.rmtree(throwaway, ignore_errors=True)
            say(f"portal demo: removed the throwaway data in {throwaway}")


async def _serve(settings: Settings, host: str, port: int, throwaway: bool, routing: bool = False) -> int:
    import uvicorn

    from portal.app import create_app, uvicorn_options
    from portal.demo.scenario import build
    from portal.demo.simulator import FieldSimulator
    from portal.runtime import Runtime

    shown_host = f"[{host}]" if ":" in host else host
    problem = _cannot_listen(host, port)
    if problem:
        print(
            f"portal demo: cannot listen on {shown_host}:{port}: {problem}; try another, e.g. --port {port + 1}",
            file=sys.stderr,
        )
        return 1
    settings = settings.with_public_url(f"http://{shown_host}:{port}")
    if not settings.logo_url:
        settings = replace(settings, logo_url=f"{settings.public_url}{DEMO_LOGO_PATH}")
    own_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else shown_host}:{port}"
    if routing:
        settings = replace(settings, routing_url=own_url + ROUTING_PATH)
    runtime = Runtime(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, runtime=runtime), host=host, port=port, log_level="warning", **uvicorn_options()
        )
    )
    serving = asyncio.create_task(server.serve(), name="uvicorn")
    if not await _started(server, serving):
        await serving
        return 1
    path = settings.sqlite_path
    say(f"portal {__version__} demo: serving on http://{shown_host}:{port}")
    say(f"  SQLite database {path.resolve() if path else settings.store_url.split('@')[-1]}")  # no password
    say("    (throwaway: deleted when the demo stops)" if throwaway else "    (kept: run the demo again to reuse it)")
    if settings.routing_url:
        say(f"  road ETAs from {settings.routing_url}")
    say("  messages are recorded and shown on the demo phone, never sent; quiet hours are off")
    say(f"  field webhooks: POST {settings.public_url}/webhooks/field signed with {settings.webhook_secrets[0]}")
    scenario = build(_now())
    password = await _staff_account(runtime.store, scenario.timezone)
    simulator = FieldSimulator(own_url, settings.webhook_secrets[0], scenario, say)
    started = await simulator.first_steps()
    say("")
    say("Tracking links (open them on a phone or in a narrow window):")
    for job in scenario.jobs:
        customer = job.job.get("customer", {})
        say(f"  {job.id}  {customer.get('name', '')}: {job.story}")
        say(f"    {await runtime.link_url(job.id)}")
    say(f"Staff console: {settings.public_url}/staff/login  username {STAFF_USERNAME}  password {password}")
    say(f"Demo phone:    {settings.public_url}{PHONE_PATH}")
    say(f"Visit times are in {scenario.timezone}.")
    say("")
    say("From another terminal, with this demo's settings filled in:")
    for line in paste_ready(settings, own_url, scenario.job_ids()[0]):
        say(f"  {line}")
    say("")
    say("The technicians move over the next few minutes. Stop the demo with Ctrl+C.")
    driving = asyncio.create_task(simulator.run(started), name="field-simulator")
    try:
        await serving
    finally:
        driving.cancel()
        await asyncio.gather(driving, return_exceptions=True)
    return 0


def _cannot_listen(host: str, port: int) -> str | None:
    """Why the port cannot be used (taken, say), checked before anything is printed or posted."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


async def _started(server: Any, serving: asyncio.Task[None]) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if serving.done() or loop.time() > deadline:
            print("portal demo: the web server did not start (is the port in use?)", file=sys.stderr)
            return False
        await asyncio.sleep(STARTUP_POLL_SECONDS)
    return True


def paste_ready(settings: Settings, url: str, job_id: str) -> list[str]:
    """Commands that work as pasted beside this demo: its store, its webhook secret, its address."""
    store = f"PORTAL_STORE={shlex.quote(settings.store_url)}"
    # Double quotes, so the shell fills in the time the event happened: now.
    body = (
        r"{\"type\":\"job.status_changed\",\"timestamp\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
        rf"\"data\":{{\"job_id\":\"{job_id}\",\"status\":\"on_hold\"}}}}"
    )
    return [
        "# the current tracking link of a job",
        f"PORTAL_PUBLIC_URL={url} {store} portal link {job_id}",
        "# a staff account of your own (the password is read from standard input)",
        f"printf '%s\\n' 'choose-a-long-password' | {store} portal staff add ann --password-stdin",
        "# a signed field webhook (Standard Webhooks) putting a visit on hold",
        f"SECRET={settings.webhook_secrets[0]}",
        f'ID=msg_$(date +%s%N); TS=$(date +%s); BODY="{body}"',
        """SIG=$(printf '%s' "$ID.$TS.$BODY" | openssl dgst -sha256 -mac HMAC"""
        """ -macopt hexkey:$(printf '%s' "${SECRET#whsec_}" | base64 -d | xxd -p -c 256) -binary | base64)""",
        f"curl -sS {url}/webhooks/field -H 'content-type: application/json'"
        ' -H "webhook-id: $ID" -H "webhook-timestamp: $TS" -H "webhook-signature: v1,$SIG" -d "$BODY"',
    ]


async def _staff_account(store: Store, timezone: str) -> str:
    """Create (or reset) the ``demo`` staff account with a fresh random password, in the demo's zone."""
    from portal.staff.passwords import hash_password

    password = secrets.token_urlsafe(PASSWORD_BYTES)
    hashed = await asyncio.to_thread(hash_password, password)  # scrypt takes a moment: keep serving
    await store.save_staff_account(STAFF_USERNAME, hashed, timezone)
    return password


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _now() -> Any:
    from portal.clock import utc_now

    return utc_now()
