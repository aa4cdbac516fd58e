"""Every relative link and anchor in README.md and docs/ leads somewhere (GitHub's heading anchors)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.anchors import anchors_plugin

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
HTML_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")
PARSER = MarkdownIt("commonmark").enable("table").use(anchors_plugin, max_level=6)


def _tokens(path: Path) -> Iterator[Token]:
    for token in PARSER.parse(path.read_text(encoding="utf-8")):
        yield token
        yield from token.children or ()


def anchors(path: Path) -> set[str]:
    """The ids GitHub gives the headings of ``path`` (lower-cased, punctuation dropped, repeats numbered)."""
    return {str(t.attrs["id"]) for t in _tokens(path) if t.type == "heading_open" and "id" in t.attrs}


def links(path: Path) -> Iterator[str]:
    for token in _tokens(path):
        if token.type == "link_open":
            yield str(token.attrs["href"])
        elif token.type == "image":
            yield str(token.attrs["src"])
        elif token.type in ("html_block", "html_inline"):
            yield from HTML_LINK.findall(token.content)


def broken_links(path: Path) -> list[str]:
    broken = []
    for link in links(path):
        parts = urlsplit(link)
        if parts.scheme or parts.netloc:
            continue  # outside the repository
        target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif parts.fragment and target.suffix == ".md" and parts.fragment not in anchors(target):
            broken.append(f"{link}: no heading with that anchor in {target.name}")
    return broken


@pytest.mark.parametrize("path", DOCUMENTS, ids=[str(p.relative_to(ROOT)) for p in DOCUMENTS])
def test_every_relative_link_and_anchor_resolves(path: Path) -> None:
    assert broken_links(path) == []


def test_the_checker_sees_a_broken_anchor_and_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## Callbacks to the field system\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## Two words\n\n[ok](#two-words) [ok](other.md#callbacks-to-the-field-system)"
        " [bad](#notifications) [bad](other.md#nope) [bad](missing.md) [out](https://example.com/#x)\n"
        '<img src="gone.png">\n'
    )
    assert broken_links(page) == [
        "#notifications: no heading with that anchor in page.md",
        "other.md#nope: no heading with that anchor in other.md",
        "missing.md: no such file",
        "gone.png: no such file",
    ]
