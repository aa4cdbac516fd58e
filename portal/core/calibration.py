"""Arrival ranges measured to hold: the 10th-90th percentile of how past estimates turned out. Pure.

The default range (``eta.arrival_range``) is a rule of thumb: a fifth of the time left either
side. Once the portal has seen enough arrivals, it can say instead how wrong its estimates
actually were. Each arrival contributes samples: an estimate shown some time before (its lead)
from some source (``field``, ``route``, ``position``), and how late or early the technician
really arrived. The error is kept relative to the lead (an estimate 30 minutes out is wrong
by more minutes than one 5 minutes out, in proportion), per source and lead bucket; the range
shown is then ``at + p10 * left`` to ``at + p90 * left``: about 8 in 10 arrivals fall inside
(the benchmark, bench/eta_accuracy.py, measures it). Between two lead buckets the percentiles
are interpolated, so the range does not jump when the time left crosses from one to the next.

The median error says how the portal's own estimates lean: a routing engine without live
traffic quotes free-flow times, and in town technicians take longer. So the portal's own
estimates (``route``, ``position``; never the field system's ETA, which is shown as given) are
moved by the median before they are shown (``adjusted``), which is the engine's duration
scaled by the ratio observed on past arrivals. The estimate before that move is kept beside
the shown one in the ETA log, and samples are taken from it, so the table keeps measuring the
estimator itself and a correction never corrects itself away.

Until ``min_arrivals`` arrivals exist, or for a source and lead with too few samples, the
table answers nothing and the rule of thumb stands.

The samples are kept as statistics counters (``core/tallies.py``): each arrival adds one to
``eta_ratio.<source>.<lead bucket>.<relative error in hundredths>`` in its quarter hour, so
the table is rebuilt from one read of the counters of recent weeks (``from_tallies``), on every
backend, without reading a single job.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

LEAD_BUCKETS = (5, 10, 15, 20, 30)  # minutes: the lead times ranges are recorded at (portal/core/eta_log.py)
LOW, MIDDLE, HIGH = 0.10, 0.50, 0.90  # the range covers the middle 80% of past errors
ADJUSTED_SOURCES = frozenset({"route", "position"})  # the portal's own estimates: moved by the median
MAX_REACH_MINUTES = 10  # a lead only measured on one side borrows a bucket at most this far away
MIN_SAMPLES_PER_CELL = 20  # fewer than this in a (source, lead) cell is too few for a 10th percentile
MIN_LEAD_SECONDS = 60.0  # errors are divided by the lead; a lead under a minute is counted as a minute
DEFAULT_MIN_ARRIVALS = 50
SOURCES = ("field", "route", "position")
RATIO_PREFIX = "eta_ratio."  # the counters a table is built from
RATIO_STEP = 0.01  # relative errors are counted in hundredths of the lead (9 seconds at 15 minutes)
MAX_RATIO = 5.0  # an estimate off by more than five times its lead is counted as five times


@dataclass(frozen=True)
class Sample:
    """One estimate and how it turned out."""

    source: str
    lead_s: float  # how long before the estimated arrival it was shown (the time left then)
    error_s: float  # actual arrival minus the estimate: positive means later than said


@dataclass(frozen=True)
class Calibration:
    """Per (source, lead bucket): the 10th, 50th and 90th percentile of the relative error."""

    arrivals: int = 0
    cells: dict[tuple[str, int], tuple[float, float, float]] = field(default_factory=dict)

    def ready(self, min_arrivals: int) -> bool:
        return self.arrivals >= min_arrivals and bool(self.cells)


def bucket(lead_s: float) -> int:
    """The lead bucket (minutes) nearest to ``lead_s`` seconds."""
    minutes = lead_s / 60
    return min(LEAD_BUCKETS, key=lambda b: abs(b - minutes))


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile of sorted ``values`` (q in [0, 1])."""
    position = q * (len(values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def ratio(sample: Sample) -> float:
    """The error relative to the lead, held within +-``MAX_RATIO``."""
    return max(-MAX_RATIO, min(MAX_RATIO, sample.error_s / max(MIN_LEAD_SECONDS, sample.lead_s)))


def build(samples: Iterable[Sample], arrivals: int) -> Calibration:
    """The table from past samples (``arrivals``: how many arrivals they came from)."""
    ratios: dict[tuple[str, int], list[float]] = defaultdict(list)
    for sample in samples:
        ratios[(sample.source, bucket(sample.lead_s))].append(ratio(sample))
    return _table(ratios, arrivals)


def tally_name(sample: Sample) -> str | None:
    """The counter one sample adds to (None for a source the portal does not make)."""
    if sample.source not in SOURCES:
        return None
    return f"{RATIO_PREFIX}{sample.source}.{bucket(sample.lead_s)}.{round(ratio(sample) / RATIO_STEP)}"


def from_tallies(totals: Mapping[str, float]) -> Calibration:
    """The table from counter totals over a stretch of time (``arrivals`` and ``eta_ratio.*``).

    Counters that do not parse are skipped: a table is advice, and a stray name must not stop it.
    """
    ratios: dict[tuple[str, int], list[float]] = defaultdict(list)
    for name, amount in totals.items():
        parts = name.removeprefix(RATIO_PREFIX).split(".")
        if not name.startswith(RATIO_PREFIX) or len(parts) != 3:
            continue
        source, lead, step = parts
        try:
            key, value, count = (source, int(lead)), int(step) * RATIO_STEP, round(amount)
        except ValueError:
            continue
        if source in SOURCES and key[1] in LEAD_BUCKETS and count > 0:
            ratios[key].extend([value] * count)
    return _table(ratios, max(0, round(totals.get("arrivals", 0))))


def _table(ratios: dict[tuple[str, int], list[float]], arrivals: int) -> Calibration:
    cells = {}
    for key, values in ratios.items():
        if len(values) >= MIN_SAMPLES_PER_CELL:
            values.sort()
            cells[key] = (percentile(values, LOW), percentile(values, MIDDLE), percentile(values, HIGH))
    return Calibration(arrivals, cells)


def quantiles(table: Calibration, source: str, left_s: float) -> tuple[float, float, float] | None:
    """The 10th, 50th and 90th percentile for an estimate ``left_s`` seconds out; None when not measured.

    Between the two nearest measured buckets on either side the percentiles are interpolated
    by lead; otherwise the nearest measured bucket answers if it is within ``MAX_REACH_MINUTES``
    (or is the outermost bucket and the lead lies beyond it), else none.
    """
    minutes = max(MIN_LEAD_SECONDS, left_s) / 60
    measured = [b for b in LEAD_BUCKETS if (source, b) in table.cells]
    lower = max((b for b in measured if b <= minutes), default=None)
    upper = min((b for b in measured if b >= minutes), default=None)
    if lower is not None and upper is not None and lower != upper:
        below, above = table.cells[(source, lower)], table.cells[(source, upper)]
        f = (minutes - lower) / (upper - lower)
        low, mid, high = (b + (a - b) * f for b, a in zip(below, above, strict=True))
        return low, mid, high
    reach = [
        b
        for b in measured
        if abs(b - minutes) <= MAX_REACH_MINUTES
        or (b == LEAD_BUCKETS[-1] and minutes > b)
        or (b == LEAD_BUCKETS[0] and minutes < b)
    ]
    nearest = min(reach, key=lambda b: abs(b - minutes), default=None)
    return None if nearest is None else table.cells[(source, nearest)]


def adjusted(table: Calibration, at: datetime, now: datetime, source: str, min_arrivals: int) -> datetime:
    """The portal's own estimate ``at`` moved by the median of how past ones turned out."""
    if source not in ADJUSTED_SOURCES or not table.ready(min_arrivals):
        return at
    left = max(MIN_LEAD_SECONDS, (at - now).total_seconds())
    found = quantiles(table, source, left)
    return at if found is None else at + timedelta(seconds=found[1] * left)


def calibrated_range(
    table: Calibration, at: datetime, now: datetime, source: str, min_arrivals: int, shown: datetime | None = None
) -> tuple[datetime, datetime] | None:
    """The measured range for the estimate ``at`` in whole minutes (not before the current one); None when not measured.

    ``shown`` is the time the page shows (``at`` moved by ``adjusted``); the range always holds it.
    Each end goes to the nearest whole minute, not outwards: widening both ends to the minute
    adds a minute to every range, which on a road estimate's five-minute range turned the
    measured 10th-90th percentile into about an 85% range (bench/eta_accuracy.py).
    """
    if not table.ready(min_arrivals):
        return None
    left = max(MIN_LEAD_SECONDS, (at - now).total_seconds())
    found = quantiles(table, source, left)
    if found is None:
        return None
    low, _, high = found
    middle = _nearest_minute(shown or at)
    start = min(middle, _nearest_minute(max(now, at + timedelta(seconds=low * left))))
    end = max(middle, _nearest_minute(max(now, at + timedelta(seconds=high * left))))
    return start, end


def _nearest_minute(moment: datetime) -> datetime:
    floor = moment.replace(second=0, microsecond=0)
    return floor + timedelta(minutes=1) if moment - floor >= timedelta(seconds=30) else floor


def samples_of(log: dict[str, Any] | None, arrived_at: datetime) -> list[Sample]:
    """The samples one arrival gives from the ranges recorded on the way (``portal.eta_log``).

    One estimate can fill several entries at once (a short trip's first estimate is also its
    30 and 15-minute one): it is one observation, so it gives one sample. Entries that do not
    parse give none: this runs inside the store write of the arrival, which must not fail.
    """
    if not isinstance(log, dict) or not isinstance(log.get("shown"), list):
        return []
    found, seen = [], set()
    for entry in log["shown"]:
        try:
            at = datetime.fromisoformat(entry.get("estimated") or entry["at"])  # before any adjustment
            shown = datetime.fromisoformat(entry["recorded_at"])
            source = str(entry["source"])
            key = (at, shown)
            lead, error = (at - shown).total_seconds(), (arrived_at - at).total_seconds()
        except (AttributeError, TypeError, KeyError, ValueError):
            continue
        if key not in seen:
            seen.add(key)
            found.append(Sample(source, lead, error))
    return found
