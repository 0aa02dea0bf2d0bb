"""The issue's targets, each checked against a run's rows: PASS, FAIL or SKIP."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .servers import Config
from .table import Results

Verdict = tuple[str, str, bool | None]  # (which row or rows, measured, passed; None: skipped)


@dataclass(frozen=True)
class Target:
    text: str
    verdicts: Callable[[Results], list[Verdict]]


def ratio_at_least(endpoint: str, minimum: float) -> Callable[[Results], list[Verdict]]:
    def verdicts(results: Results) -> list[Verdict]:
        rows = [r for r in results.rows if r.endpoint == endpoint]
        return [(r.config, f"{results.ratio(r):.2f}", results.ratio(r) >= minimum) for r in rows]

    return verdicts


def p99_at_most(endpoint: str, ms: float) -> Callable[[Results], list[Verdict]]:
    def verdicts(results: Results) -> list[Verdict]:
        rows = [r for r in results.rows if r.endpoint == endpoint]
        return [(r.config, f"{r.load.p99_ms:.1f} ms", r.load.p99_ms <= ms) for r in rows]

    return verdicts


def postgresql_within(endpoint: str, factor: float) -> Callable[[Results], list[Verdict]]:
    """PostgreSQL's throughput at least SQLite's / factor, per auth mode."""

    def verdicts(results: Results) -> list[Verdict]:
        out: list[Verdict] = []
        for auth in ("off", "required"):
            lite = results.find(str(Config("sqlite", auth)), endpoint)
            pg = results.find(str(Config("postgresql", auth)), endpoint)
            if lite and pg:
                ratio = lite.load.rps / pg.load.rps if pg.load.rps else math.inf
                out.append((f"auth {auth}", f"SQLite/PostgreSQL {ratio:.2f}", ratio <= factor))
        return out or [("-", "no PostgreSQL rows (FHIRAUTH_DATABASE_URL)", None)]

    return verdicts


def auth_within(loss: float) -> Callable[[Results], list[Verdict]]:
    """Every row with authentication required at least (1 - loss) of the same row off."""

    def verdicts(results: Results) -> list[Verdict]:
        out: list[Verdict] = []
        for on in results.rows:
            if not on.config.endswith("auth required"):
                continue
            off = results.find(on.config.replace("auth required", "auth off"), on.endpoint)
            if off and off.load.rps:
                share = on.load.rps / off.load.rps
                where = f"{on.config}: {on.endpoint}"
                out.append((where, f"{share:.2f} of off", share >= 1 - loss))
        return out or [("-", "no rows with authentication required", None)]

    return verdicts


def memory_within(growth: float) -> Callable[[Results], list[Verdict]]:
    def verdicts(results: Results) -> list[Verdict]:
        if len(results.memory) < 2:
            return [("-", "not measured (--memory)", None)]
        (_, first), (_, last) = sorted(results.memory.items())
        out: list[Verdict] = []
        for pid in sorted(first):
            if pid in last:
                g = last[pid] / first[pid] - 1
                out.append((f"worker {pid}", f"{g * 100:+.1f} %", g <= growth))
        return out or [("-", "workers were replaced between the two points", False)]

    return verdicts


# The targets. Ratios are to the floor of the same method.
TARGETS: list[Target] = [
    Target("submit new >= 0.25 of the POST floor", ratio_at_least("submit new", 0.25)),
    Target("submit new p99 <= 100 ms", p99_at_most("submit new", 100.0)),
    Target("submit duplicate >= 0.50 of the POST floor", ratio_at_least("submit duplicate", 0.5)),
    Target("metadata >= 0.70 of the GET floor", ratio_at_least("metadata", 0.7)),
    Target(
        "read ClaimResponse >= 0.70 of the GET floor",
        ratio_at_least("read ClaimResponse", 0.7),
    ),
    Target("PostgreSQL submit new within 1.5x of SQLite", postgresql_within("submit new", 1.5)),
    Target("authentication on within 10 % of off", auth_within(0.10)),
    Target("worker RSS growth 2,000 -> 20,000 submissions <= 10 %", memory_within(0.10)),
]


def check_targets(results: Results) -> bool:
    """Print PASS, FAIL or SKIP per target and row; True when nothing failed."""
    ok = True
    print("\ntargets:")
    for target in TARGETS:
        for where, measured, passed in target.verdicts(results):
            word = "SKIP" if passed is None else "PASS" if passed else "FAIL"
            ok = ok and passed is not False
            print(f"  {word}  {target.text}  [{where}: {measured}]")
    return ok
