"""Helpers shared by the bench scripts: timing statistics, a plain-text table and the closing JSON line.

Bench scripts print figures; they never fail on a timing and are never part of the test suite.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
from collections.abc import Sequence
from typing import Any


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100); with few samples p90 is close to the maximum."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.inf


def rounded(value: float, digits: int = 2) -> float | None:
    """A JSON-safe number: NaN and infinity become None."""
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return round(value, digits)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, file: Any = None) -> None:
    """Left-align the first column, right-align the others."""
    out = file or sys.stdout
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    print(line(cells[0]), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in cells[1:]:
        print(line(row), file=out)


def emit_json(payload: dict[str, Any]) -> None:
    """The last line of every bench script: one JSON object with every printed figure and the target."""
    print(json.dumps(payload, sort_keys=False, separators=(",", ":")), flush=True)


def machine_load() -> dict[str, float | int]:
    """The 1- and 5-minute load averages and the core count: other jobs on a shared machine move every
    figure, and a ratio whose two sides use different numbers of cores (a process beside the event loop)
    moves with them. Printed at the start and end of a run so a reader can tell a busy run."""
    one, five, _ = os.getloadavg()
    return {"load_1m": round(one, 2), "load_5m": round(five, 2), "cores": os.cpu_count() or 0}
