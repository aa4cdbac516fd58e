"""``portal staff add USERNAME --password-stdin``: create a staff account or reset its password.

The password comes from standard input (never the command line, where other users and the
shell history would see it); resetting a password signs that account out everywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any
from zoneinfo import ZoneInfo

from portal.core.plausible import is_zone
from portal.settings import Settings
from portal.staff.auth import USERNAME_PATTERN
from portal.staff.passwords import WeakPassword, check_password_rules, hash_password
from portal.store import open_store


class UsageError(Exception):
    """Bad input on the command line; the message says what to fix."""


def add_commands(commands: Any) -> None:
    """Register ``staff add`` on the main parser's subcommands."""
    staff = commands.add_parser("staff", help="manage staff accounts of the console")
    actions = staff.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="create a staff account or reset its password")
    add.add_argument("username", metavar="USERNAME", help="letters, digits, '.', '_', '@' or '-'; case-insensitive")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    add.add_argument("--timezone", default="UTC", help="IANA zone the console shows this person's times in")


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        username = _username(args.username)
        timezone = _timezone(args.timezone)
        password = _password(args.password_stdin)
        check_password_rules(password)
    except (UsageError, WeakPassword) as exc:
        print(f"portal: {exc}", file=sys.stderr)
        return 2
    created = asyncio.run(_save(settings, username, hash_password(password), timezone))
    if created:
        print(f"created staff account {username!r}")
    else:
        print(f"reset the password of staff account {username!r} and signed out its sessions")
    return 0


async def _save(settings: Settings, username: str, password_hash: str, timezone: str) -> bool:
    store = open_store(settings)
    await store.open()
    try:
        return await store.save_staff_account(username, password_hash, timezone)
    finally:
        await store.close()


def _username(raw: str) -> str:
    username = raw.strip().lower()
    if not USERNAME_PATTERN.fullmatch(username):
        raise UsageError("USERNAME must be 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
    return username


def _timezone(raw: str) -> str:
    if is_zone(raw):
        return ZoneInfo(raw).key
    raise UsageError(f"--timezone must be an IANA time zone such as America/Chicago; got {raw!r}")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not sys.stdin.isatty():
        raise UsageError("give the password on standard input with --password-stdin")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat the password: ") != first:
        raise UsageError("the two passwords differ")
    return first
