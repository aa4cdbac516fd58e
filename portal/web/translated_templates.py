"""Page templates compiled once per language, with their fixed phrases already written in.

Most of a page's ``t()`` calls name a phrase and nothing else (``{{ t("tracking.appointment") }}``):
their text depends on the reader's language only, yet each page called, looked up and escaped
them again. A language's copy of a template has those calls replaced at compile time by the
escaped phrase itself, so Jinja joins them into the template's fixed text; the static file names
of ``asset("css/portal.css")`` are written in the same way. Calls with values
(``t("tracking.vehicle", vehicle=...)``) or with a computed key stay calls.

A template is left as written when folding could change what it says: when it is not escaped
HTML, switches escaping itself (``{% autoescape %}``), or binds ``t`` or ``asset`` to something
else. A phrase missing from the catalogue also stays a call, so it is still logged on each page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import nodes
from jinja2.visitor import NodeTransformer

from portal.i18n import Localizer

FOLDED_CALLS = ("t", "asset")


def folds(template: nodes.Template, autoescaped: bool) -> bool:
    """Whether ``t("key")`` and ``asset("name")`` in ``template`` may be written in at compile time."""
    if not autoescaped:
        return False
    if any(True for _ in template.find_all((nodes.EvalContextModifier, nodes.ScopedEvalContextModifier))):
        return False
    for name in template.find_all(nodes.Name):
        if name.name in FOLDED_CALLS and name.ctx != "load":  # assigned, a loop target or a macro parameter
            return False
    for imported in template.find_all(nodes.Import):
        if imported.target in FOLDED_CALLS:
            return False
    for from_import in template.find_all(nodes.FromImport):
        for entry in from_import.names:
            if (entry[1] if isinstance(entry, tuple) else entry) in FOLDED_CALLS:
                return False
    return True


class _Folder(NodeTransformer):
    def __init__(self, replacements: dict[str, Callable[[str], nodes.Expr | None]]) -> None:
        self.replacements = replacements

    def visit_Call(self, call: nodes.Call) -> nodes.Node:
        node = self.generic_visit(call)
        if not isinstance(node, nodes.Call):
            return node
        callee, args = node.node, node.args
        if not (
            isinstance(callee, nodes.Name)
            and callee.name in self.replacements
            and len(args) == 1
            and isinstance(args[0], nodes.Const)
            and isinstance(args[0].value, str)
            and not node.kwargs
            and node.dyn_args is None
            and node.dyn_kwargs is None
        ):
            return node
        found = self.replacements[callee.name](args[0].value)
        if found is None:
            return node
        found.set_lineno(node.lineno)
        if node.environment is not None:
            found.set_environment(node.environment)
        return found


def fold(template: nodes.Template, reader: Localizer, asset: Callable[[str], str] | None) -> None:
    """Replace, in place, ``t("key")`` by the reader's escaped phrase and ``asset("name")`` by its URL."""

    def phrase(key: str) -> nodes.Expr | None:
        if reader.text(key) == key:  # missing: left to log at render
            return None
        return nodes.MarkSafe(nodes.Const(str(reader.markup(key))))

    def static_url(name: str) -> nodes.Expr | None:
        return nodes.Const(asset(name)) if asset is not None else None

    _Folder({"t": phrase, "asset": static_url}).visit(template)


def env_asset(globals_: dict[str, Any]) -> Callable[[str], str] | None:
    found = globals_.get("asset")
    return found if callable(found) else None
