"""The rows of a run, their ratios to the floor, and the table and memory report printed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .load import Load


@dataclass(frozen=True)
class Row:
    config: str  # "floor" or Config's text
    endpoint: str
    method: str
    load: Load
    others: float = 0.0  # share of the machine's CPU that other work took during the row
    split: tuple[int, ...] = ()  # the clients' connections held by each gunicorn worker


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    memory: dict[int, dict[int, int]] = field(default_factory=dict)  # submissions: pid: KiB

    def find(self, config: str, endpoint: str) -> Row | None:
        return next((r for r in self.rows if r.config == config and r.endpoint == endpoint), None)

    def floors(self, method: str) -> list[float]:
        """The floor's throughput for ``method``, measured before and after the rest."""
        return [r.load.rps for r in self.rows if r.endpoint == f"floor {method}"]

    def ratio(self, row: Row) -> float:
        """To the mean of the floor's measurements: other work on the machine moves both."""
        floors = self.floors(row.method)
        mean = sum(floors) / len(floors) if floors else 0.0
        return row.load.rps / mean if mean else math.nan

    def floor_drift(self) -> float:
        """How far apart the floor's measurements are (0.2: the highest is 20 % above)."""
        spreads = [max(f) / min(f) - 1 for m in ("GET", "POST") if (f := self.floors(m))]
        return max(spreads, default=0.0)


def format_row(row: Row, results: Results) -> str:
    load = row.load
    return (
        f"{load.rps:9,.1f} {load.p50_ms:9.1f} {load.p99_ms:9.1f} "
        f"{results.ratio(row):7.2f} {load.errors:7,d} {row.others * 100:7.0f} "
        f"{'+'.join(map(str, row.split)) or '?':>8}"
    )


def table(results: Results) -> str:
    head = f"{'configuration':24} {'endpoint':20} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9}"
    head += f" {'ratio':>7} {'errors':>7} {'other%':>7} {'conns':>8}"
    lines = [head, "-" * len(head)]
    for row in results.rows:
        lines.append(f"{row.config:24} {row.endpoint:20} {format_row(row, results)}")
    return "\n".join(lines)


def memory_report(results: Results) -> str:
    (low, first), (high, last) = sorted(results.memory.items())
    lines = [f"worker RSS (VmRSS) after {low:,} and {high:,} submissions (SQLite, auth off):"]
    for pid in sorted(set(first) | set(last)):
        a, b = first.get(pid), last.get(pid)
        growth = f"{(b / a - 1) * 100:+.1f} %" if a and b else "worker replaced"
        lines.append(f"  pid {pid}: {a or 0:,} KiB -> {b or 0:,} KiB ({growth})")
    return "\n".join(lines)
