"""What ``portal migrate-store`` shows while it copies: a live bar on a terminal, count lines elsewhere.

On a terminal one line is redrawn in place (``\r``): the share of all records copied, and
each kind's count against its total. Anywhere else (a log, a pipe, the tests) every kind
gets a plain line when done, and a line every ``PLAIN_EVERY`` records on the way, so a long
copy still shows it is alive without flooding the log.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import TextIO

BAR_WIDTH = 24  # characters of the bar itself; the counts follow it
REDRAW_SECONDS = 0.1  # a terminal is redrawn at most this often: drawing costs more than copying
PLAIN_EVERY = 500  # a progress line per this many records of a kind when not on a terminal


class Progress:
    def __init__(self, out: TextIO, live: bool | None = None) -> None:
        self.out = out
        self.live = out.isatty() if live is None else live
        self.totals: dict[str, int] = {}
        self.copied: dict[str, int] = {}
        self._drawn_at = 0.0
        self._width = 0

    def start(self, totals: dict[str, int]) -> None:
        """Totals per kind, read before the copy (a record may still appear or go meanwhile)."""
        self.totals = dict(totals)
        if self.live:
            self._draw()

    def step(self, kind: str, count: int) -> None:
        self.copied[kind] = count
        if self.live:
            if time.monotonic() - self._drawn_at >= REDRAW_SECONDS:
                self._draw()
        elif count % PLAIN_EVERY == 0:
            self._say(f"  {kind}: {count} copied ...")

    def done(self, kind: str, count: int) -> None:
        self.copied[kind] = count
        self.totals[kind] = count  # the true total, whatever the estimate was
        if self.live:
            self._draw()
        else:
            self._say(f"  {kind}: {count} copied")

    def finish(self) -> None:
        if self.live:
            self._draw()
            self.out.write("\n")
            self.out.flush()

    def line(self, columns: int = 0) -> str:
        """The live line: ``[#####-----]  42%  jobs 3/3  outbox 120/400``, fit to ``columns`` if set.

        When it does not fit, the kinds finished first give way: the one being copied stays.
        """
        total = sum(self.totals.values())
        copied = sum(self.copied.values())
        share = min(copied / total, 1.0) if total else 1.0
        filled = round(share * BAR_WIDTH)
        bar = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {share:4.0%}"
        kinds = [f"{kind} {n}/{max(self.totals.get(kind, 0), n)}" for kind, n in self.copied.items()]
        text = "  ".join([bar, *kinds])
        while columns and len(text) > columns and len(kinds) > 1:
            kinds.pop(0)
            text = "  ".join([bar, "...", *kinds])
        return text[:columns] if columns else text

    def _draw(self) -> None:
        self._drawn_at = time.monotonic()
        text = self.line(self._columns() - 1)  # the last column would wrap on some terminals
        # Pad over whatever a longer previous line left behind.
        self.out.write("\r" + text.ljust(self._width))
        self.out.flush()
        self._width = len(text)

    def _columns(self) -> int:
        try:
            columns = os.get_terminal_size(self.out.fileno()).columns
        except (OSError, ValueError):
            columns = 0
        return columns or shutil.get_terminal_size().columns

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)
