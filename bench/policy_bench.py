"""Decision time per Claim item with 10 policy rules and with 10,000 (issue 3, point 9).

Run from the repository root::

    .venv/bin/python bench/policy_bench.py              # about 30 s on 2 cores
    .venv/bin/python bench/policy_bench.py --profile    # plus a cProfile of the LARGE loop
    .venv/bin/python bench/policy_bench.py --catch-all  # stress: one CPT-wide low-priority rule

Two policies are compiled with ``compile_policy``: SMALL holds the 10 benchmark rules the
measured items hit; LARGE holds the same 10 plus 9,984 generated rules and 6 broad
hand-written ones. The generated rules are live, not dead codes: exact codes, same-length
ranges and prefixes in the same systems, lengths and neighbourhoods as the measured codes
(ranges adjacent to and interleaved with them, prefixes sharing their leading characters),
disjoint from the measured codes so they never decide a measured item. The 6 broad rules sit
at a lower priority and contain measured codes, so they are candidates in the trace without
deciding. Item contexts come from examples/mixed-outcomes.json, parsed with ``parse_request``
once per scenario with the item codes, diagnoses, patient and documents varied; they are built
before anything is timed, and SMALL and LARGE must decide every item alike.

The script prints load time, items per second, microseconds per item for both policies and
``ratio large/small``; it exits 1 when that ratio is 2 or more. Lookup by code means the cost
of an item must not grow with the number of rules.

This file times and prints; what it measures is built in the package ``bench/policy/``:
``rules.py`` (the hand-written rules and probe codes), ``generated.py`` (the generated rules and
LARGE's rule list), ``scenarios.py`` (the measured items) and ``timing.py`` (the paired rounds).
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
import time

from policy.generated import code_kinds, large_policy_rules  # bench/ is the script's folder
from policy.rules import BENCHMARK_RULES, LARGE_RULES, policy_document
from policy.scenarios import SCENARIOS, build_contexts, decide_alike
from policy.timing import (
    evaluate_seconds,
    item_medians,
    lookup_seconds,
    median_per_item,
    paired_rounds,
)

from fhirauth.policy.engine import evaluate_item
from fhirauth.policy.loader import Policy, compile_policy

SEED = 20260309
TARGET = 2.0


def spans_walked(policy: Policy, system: str, code: str) -> int:
    """How many ranges cover ``code`` (what one segment lookup returns; a diagnostic)."""
    spans = policy.index.ranges.get((system, len(code)))
    return len(spans.containing(code)) if spans is not None else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--budget", type=float, default=14.0, help="seconds for the timed rounds")
    ap.add_argument("--profile", action="store_true", help="cProfile the LARGE loop as well")
    ap.add_argument(
        "--catch-all",
        action="store_true",
        help="add to LARGE a lowest-priority rule over nearly all CPT codes (a stress case)",
    )
    args = ap.parse_args()
    rng = random.Random(SEED)

    small_doc = policy_document(copy.deepcopy(BENCHMARK_RULES))
    generated, large_rules = large_policy_rules(rng, args.catch_all)
    large_doc = policy_document(large_rules)

    loads = []
    for _ in range(5):
        start = time.perf_counter()
        small = compile_policy(small_doc)
        loads.append(time.perf_counter() - start)
    small_load = statistics.median(loads)
    start = time.perf_counter()
    large = compile_policy(large_doc)
    large_load = time.perf_counter() - start
    assert len(small.rules) == len(BENCHMARK_RULES) == 10, len(small.rules)
    assert len(large.rules) == LARGE_RULES, len(large.rules)
    kinds = code_kinds(large, large_rules)

    measured = build_contexts()
    names = [name for name, _, _ in measured]
    contexts = [ctx for _, ctx, _ in measured]
    candidates = decide_alike(small, large, measured)
    near = sum(
        1
        for n in range(len(contexts))
        if candidates[n][1] > candidates[n][0]  # lower-priority rules among the candidates
    )

    # Size the repetitions to the time budget from one untimed pass.
    start = time.perf_counter()
    for ctx in contexts:
        evaluate_item(large, ctx)
    one_pass = time.perf_counter() - start
    reps = max(3, min(400, int(args.budget / (2 * args.rounds * one_pass))))

    s_rounds, l_rounds = paired_rounds(evaluate_seconds, small, large, contexts, reps, args.rounds)
    small_t, large_t = median_per_item(s_rounds), median_per_item(l_rounds)
    ratio = large_t / small_t
    start = time.perf_counter()
    for ctx in contexts:
        lookup_seconds(large, ctx, 10)
    lk_pass = (time.perf_counter() - start) / 10
    lk_reps = max(10, min(1000, int(args.budget / 4 / (2 * args.rounds * lk_pass))))
    ls_rounds, ll_rounds = paired_rounds(
        lookup_seconds, small, large, contexts, lk_reps, args.rounds
    )
    small_lk, large_lk = median_per_item(ls_rounds), median_per_item(ll_rounds)

    print(f"fhirauth policy benchmark  (Python {sys.version.split()[0]}, seed {SEED})")
    print(
        f"LARGE: {len(generated)} generated + {len(large_rules) - len(generated) - 10} "
        f"lower-priority overlapping{' (with --catch-all)' if args.catch_all else ''}"
        f" + {len(BENCHMARK_RULES)} benchmark rules; codes: {kinds['exact']} exact, "
        f"{kinds['range']} ranges, {kinds['prefix']} prefixes (generated + overlapping)"
    )
    print(
        f"items: {len(contexts)} from {len(SCENARIOS)} requests ({names.count('unlisted')} "
        f"unlisted); {near} items see lower-priority candidates in LARGE; "
        f"{args.rounds} rounds x {len(contexts)} items x {reps} reps, median of rounds"
    )
    print()
    print(f"{'':8}{'rules':>7}{'load ms':>10}{'us/item':>10}{'items/s':>10}{'lookup us':>11}")
    for label, pol, load, t, lk in (
        ("SMALL", small, small_load, small_t, small_lk),
        ("LARGE", large, large_load, large_t, large_lk),
    ):
        print(
            f"{label:8}{len(pol.rules):>7}{load * 1e3:>10.1f}{t * 1e6:>10.1f}"
            f"{1 / t:>10.0f}{lk * 1e6:>11.2f}"
        )
    print()
    # Per item: candidates and range spans stepped over in LARGE, lookup-only and full times.
    heads = (
        "item",
        "code",
        "action",
        "cand",
        "spans",
        "lk S us",
        "lk L us",
        "small us",
        "large us",
    )
    print(f"{heads[0]:26}{heads[1]:>12}" + "".join(f"{h:>9}" for h in heads[2:]) + "    ratio")
    s_med, l_med = item_medians(s_rounds), item_medians(l_rounds)
    ls_med, ll_med = item_medians(ls_rounds), item_medians(ll_rounds)
    for i, (name, ctx, want) in enumerate(measured):
        system, code = ctx.codes[0]
        print(
            f"{name:26}{code:>12}{want:>9}{candidates[i][1]:>9}"
            f"{spans_walked(large, system, code):>9}{ls_med[i] * 1e6:>9.2f}{ll_med[i] * 1e6:>9.2f}"
            f"{s_med[i] * 1e6:>9.1f}{l_med[i] * 1e6:>9.1f}{l_med[i] / s_med[i]:>9.2f}"
        )
    print()
    geo = statistics.geometric_mean(b / a for a, b in zip(s_med, l_med, strict=True))
    print(f"index lookup only: ratio large/small = {large_lk / small_lk:.2f} (informational)")
    print(f"geometric mean of the per-item ratios = {geo:.2f} (informational)")
    print(f"ratio large/small = {ratio:.2f} (target < {TARGET:g})")

    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        for ctx in contexts:
            profiler.runcall(evaluate_seconds, large, ctx, max(1, reps // 4))
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    return 0 if ratio < TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
