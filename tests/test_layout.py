"""The package layout holds: walks every import in ``portal/`` (with ``ast``, so nothing runs).

The rules are the architecture's: the core is pure, the web edge never reaches a channel,
storage and channels never reach the web, subpackages import each other without cycles,
services never take the runtime, and every subpackage says what it holds and must not import.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "portal"
# What the core may use: pure standard modules, phone numbers, time zones, and itself.
CORE_MAY_IMPORT = frozenset(
    {
        "__future__",
        "collections",
        "dataclasses",
        "datetime",
        "email",  # parsing address syntax only (email.headerregistry); sending is smtplib, not allowed
        "enum",
        "functools",
        "itertools",
        "math",
        "re",
        "typing",
        "unicodedata",
        "zoneinfo",
        "phonenumbers",
        "portal.core",
    }
)
CLOCK_READS = frozenset({"now", "utcnow", "today"})  # the core imports no time module, so these are all
# Where the runtime may be named: the app, the commands that build one, and the web edge.
RUNTIME_USERS = frozenset({"app.py", "cli.py", "runtime.py", "demo/command.py", "web/common.py", "web/staff.py"})
MAX_TOP_LEVEL_MODULES = 12


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, at any depth (function-level imports count too)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _subpackage(name: str) -> str | None:
    """``portal.customer.tracking`` -> ``customer``; None for top-level modules and outsiders."""
    parts = name.split(".")
    if parts[0] != "portal" or len(parts) < 2 or not (PACKAGE / parts[1]).is_dir():
        return None
    return parts[1]


def test_the_core_imports_nothing_with_io_or_a_clock() -> None:
    for path in (PACKAGE / "core").rglob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            allowed = top in CORE_MAY_IMPORT or _under(name, "portal.core") or top == "collections"
            assert allowed, f"core/{path.name} imports {name}"


def test_the_core_never_reads_the_clock() -> None:
    for path in (PACKAGE / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in CLOCK_READS, f"core/{path.name}:{node.lineno} reads the clock"


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("web", "portal.channels"),
        ("web", "portal.store.sqlite"),
        ("web", "portal.store.redis"),
        ("store", "portal.web"),
        ("channels", "portal.web"),
        ("channels", "portal.store"),
        ("bus", "portal.web"),
        # Wire formats (SSE frames, TwiML) are made at the web edge; services return plain data.
        *(
            (folder, wire)
            for folder in ("customer", "staff", "notify", "core")
            for wire in ("sse_starlette", "twilio.twiml")
        ),
    ],
)
def test_forbidden_imports(folder: str, forbidden: str) -> None:
    for path in (PACKAGE / folder).rglob("*.py"):
        bad = [name for name in _imports(path) if _under(name, forbidden)]
        assert not bad, f"{_relative(path)} imports {bad}"


def test_subpackages_import_each_other_without_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for path in _modules():
        own = _subpackage("portal." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
        if own is None:
            continue
        targets = {_subpackage(name) for name in _imports(path)} - {None, own}
        graph.setdefault(own, set()).update(t for t in targets if t is not None)
    order = list(graphlib.TopologicalSorter(graph).static_order())  # CycleError names the cycle
    assert "core" in order and "web" in order


def test_services_take_collaborators_not_the_runtime() -> None:
    for path in _modules():
        if _relative(path) in RUNTIME_USERS:
            continue
        named = [n for n in _imports(path) if _under(n, "portal.runtime") or _under(n, "portal.app")]
        assert not named, f"{_relative(path)} imports {named}: pass it the collaborators it uses"


def test_every_subpackage_says_what_it_holds_and_must_never_import() -> None:
    for init in PACKAGE.rglob("__init__.py"):
        if init.parent == PACKAGE:
            continue
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "never import" in doc.lower(), f"{_relative(init)} must say what it holds and never imports"


def test_the_top_level_stays_small() -> None:
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules


# Writes that queue outbox rows or publish live events, and the calls that follow them.
WRITE_PATH_CALLS = frozenset({"change_job", "record_opt_out", "publish", "wake"})
WRITE_PATH_HOMES = frozenset({"notify/changes.py", "notify/worker.py"})  # the worker wakes itself


def test_every_write_with_events_or_outbox_rows_goes_through_job_changes() -> None:
    for path in _modules():
        where = _relative(path)
        if where in WRITE_PATH_HOMES or where.startswith(("store/", "bus/")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in WRITE_PATH_CALLS, f"{where}:{node.lineno} calls {node.func.attr}"
