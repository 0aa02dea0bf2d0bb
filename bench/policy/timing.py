"""Timing SMALL and LARGE on the same items, paired so that other load falls on both alike."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

from fhirauth.policy.context import ItemContext
from fhirauth.policy.engine import evaluate_item
from fhirauth.policy.loader import Policy


def evaluate_seconds(policy: Policy, ctx: ItemContext, reps: int) -> float:
    start = time.perf_counter()
    for _ in range(reps):
        evaluate_item(policy, ctx)
    return (time.perf_counter() - start) / reps


def lookup_seconds(policy: Policy, ctx: ItemContext, reps: int) -> float:
    lookup = policy.index.lookup
    start = time.perf_counter()
    for _ in range(reps):
        for system, code in ctx.codes:
            lookup(system, code)
    return (time.perf_counter() - start) / reps


Rounds = list[list[float]]  # [round][item] -> seconds per call


def paired_rounds(
    measure: Callable[[Policy, ItemContext, int], float],
    small: Policy,
    large: Policy,
    contexts: list[ItemContext],
    reps: int,
    rounds: int,
) -> tuple[Rounds, Rounds]:
    """Each item is timed with SMALL and LARGE back to back, in alternating order, so that
    other load on the machine and clock drift fall on both policies alike."""
    for ctx in contexts:  # warm up: lazy imports, caches, branch predictors
        measure(small, ctx, max(1, reps // 4))
        measure(large, ctx, max(1, reps // 4))
    s_rounds: Rounds = []
    l_rounds: Rounds = []
    gc.collect()
    gc.disable()
    try:
        for r in range(rounds):
            s_times, l_times = [], []
            for i, ctx in enumerate(contexts):
                if (r + i) % 2:
                    l_times.append(measure(large, ctx, reps))
                    s_times.append(measure(small, ctx, reps))
                else:
                    s_times.append(measure(small, ctx, reps))
                    l_times.append(measure(large, ctx, reps))
            s_rounds.append(s_times)
            l_rounds.append(l_times)
    finally:
        gc.enable()
    return s_rounds, l_rounds


def median_per_item(rounds: Rounds) -> float:
    """Median over rounds of the mean time per item in the round."""
    return statistics.median(statistics.fmean(r) for r in rounds)


def item_medians(rounds: Rounds) -> list[float]:
    return [statistics.median(r[i] for r in rounds) for i in range(len(rounds[0]))]
