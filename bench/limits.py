"""Bounded work (issue 11, point 1): requests at the limits are answered in under 2 s, requests
beyond them are refused in under 100 ms.

Run from the repository root::

    .venv/bin/python bench/limits.py             # about a minute on 2 cores
    .venv/bin/python bench/limits.py --rounds 5  # more rounds per case (median is printed)
    .venv/bin/python bench/limits.py --profile "items at the limit"  # plus a cProfile of a case

Every request goes through the Flask test client to ``POST /fhir/Claim/$submit`` of an app with
authentication off, a fresh SQLite database in a temporary folder, and the limits of the
environment (``FHIRAUTH_MAX_*``, defaults otherwise). The bodies are built from
``examples/mixed-outcomes.json`` (and ``supporting-document.json`` for the attachment) before
anything is timed; each round sends a different ``Bundle.identifier``, so no request is a
replayed duplicate. Within the limits: as many items as allowed, as many entries as allowed
(PractitionerRoles and Practitioners in the care team, each referencing the next), a string as
long as allowed in an item code, all of these at once with as many diagnoses as allowed that
every item reads (no item names its diagnosisSequence) and padded up to the values limit, and
a 15 MB base64 attachment. Beyond them: one more item, diagnosis, entry, character, level or
value than allowed, and the shapes a probe sent (10,000 items, 10,000 entries, a 1 MB code).

The script prints each case's body size, status, median wall time and median CPU time of this
process; it exits 1 when a case gets the wrong status, one within the limits takes 2 s or more,
or a refusal takes 100 ms or more (wall time). On a machine busy with other work the wall time
grows and the CPU time does not: the script says so when the load average exceeds the cores.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import json
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fhirauth import create_app
from fhirauth.clock import fixed_clock
from fhirauth.config import Settings
from fhirauth.fhir.limits import Limits
from fhirauth.services import Services

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "mixed-outcomes.json"
DOCUMENT = ROOT / "examples" / "supporting-document.json"
ACCEPT_MS, REFUSE_MS = 2000.0, 100.0
NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
BASE = "http://emr.riverbendclinic.example.org/fhir"


def _example(path: Path = EXAMPLE) -> dict[str, Any]:
    return json.loads(path.read_text())


def _claim(bundle: dict[str, Any]) -> dict[str, Any]:
    claim: dict[str, Any] = bundle["entry"][0]["resource"]
    return claim


def with_items(bundle: dict[str, Any], n: int) -> dict[str, Any]:
    items = _claim(bundle)["item"]
    _claim(bundle)["item"] = [
        {**copy.deepcopy(items[i % len(items)]), "sequence": i + 1} for i in range(n)
    ]
    return bundle


def with_entries(bundle: dict[str, Any], n: int, team: int = 100) -> dict[str, Any]:
    """Up to ``n`` entries: Practitioner and PractitionerRole pairs, each role referencing its
    Practitioner and the Organization (the shape that made resolution quadratic), the Claim's
    care team growing to ``team`` members."""
    claim = _claim(bundle)
    org = bundle["entry"][1]["fullUrl"]
    for i in range((n - len(bundle["entry"])) // 2):
        bundle["entry"] += [
            {
                "fullUrl": f"{BASE}/Practitioner/bench-{i}",
                "resource": {"resourceType": "Practitioner", "id": f"bench-{i}"},
            },
            {
                "fullUrl": f"{BASE}/PractitionerRole/bench-{i}",
                "resource": {
                    "resourceType": "PractitionerRole",
                    "id": f"bench-{i}",
                    "practitioner": {"reference": f"Practitioner/bench-{i}"},
                    "organization": {"reference": org},
                },
            },
        ]
        if len(claim["careTeam"]) >= team:
            continue
        claim["careTeam"].append(
            {
                "sequence": len(claim["careTeam"]) + 1,
                "provider": {"reference": f"PractitionerRole/bench-{i}"},
            }
        )
    return bundle


def with_code(bundle: dict[str, Any], length: int) -> dict[str, Any]:
    _claim(bundle)["item"][0]["productOrService"]["coding"][0]["code"] = "9" * length
    return bundle


def values(node: Any) -> int:
    if isinstance(node, dict):
        return 1 + sum(values(v) for v in node.values())
    if isinstance(node, list):
        return 1 + sum(values(v) for v in node)
    return 1


def padded(bundle: dict[str, Any], limit: int) -> dict[str, Any]:
    """More Patient.identifier, until the body holds as many JSON values as ``limit`` allows
    (a list that no item's decision reads: the fanned-out ones are held to the item limit)."""
    patient = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    one = {"system": "urn:fhirauth:bench", "value": "0"}
    room = (limit - values(bundle)) // values(one)
    patient["identifier"] += [{**one, "value": str(n)} for n in range(room)]
    return bundle


def with_diagnoses(bundle: dict[str, Any], n: int) -> dict[str, Any]:
    """``n`` Claim.diagnosis, which items naming no diagnosisSequence all read."""
    claim = _claim(bundle)
    one = claim["diagnosis"][0]
    claim["diagnosis"] = [{**copy.deepcopy(one), "sequence": i + 1} for i in range(n)]
    return bundle


def uncited(bundle: dict[str, Any]) -> dict[str, Any]:
    """Items that name no diagnosisSequence: each is answered with every diagnosis."""
    for item in _claim(bundle)["item"]:
        item.pop("diagnosisSequence", None)
    return bundle


def nested(bundle: dict[str, Any], depth: int) -> dict[str, Any]:
    ext: dict[str, Any] = {"url": "http://example.org/leaf", "valueString": "x"}
    for _ in range((depth - 6) // 2):  # Bundle, entry[], entry, resource, extension[], ext
        ext = {"url": "http://example.org/x", "extension": [ext]}
    _claim(bundle)["extension"].append(ext)
    return bundle


def with_attachment(megabytes: int) -> dict[str, Any]:
    bundle = _example(DOCUMENT)
    for entry in bundle["entry"]:
        for content in entry["resource"].get("content") or []:
            content["attachment"]["data"] = "QUJD" * (megabytes * 1024 * 1024 // 4)
    return bundle


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], dict[str, Any] | bytes]
    status: int


def cases(limits: Limits) -> list[Case]:
    ex = _example
    return [
        Case("items at the limit", lambda: with_items(ex(), limits.items), 200),
        Case("entries at the limit", lambda: with_entries(ex(), limits.entries, limits.items), 200),
        Case("string at the limit", lambda: with_code(ex(), limits.string), 200),
        Case(
            "all at once, padded to the values limit",
            lambda: padded(
                with_code(
                    with_diagnoses(
                        uncited(
                            with_entries(
                                with_items(ex(), limits.items), limits.entries, limits.items
                            )
                        ),
                        limits.items,
                    ),
                    limits.string,
                ),
                limits.values - 10,
            ),
            200,
        ),
        Case("depth at the limit", lambda: nested(ex(), limits.depth), 200),
        Case("15 MB attachment", lambda: with_attachment(15), 200),
        Case("one item too many", lambda: with_items(ex(), limits.items + 1), 413),
        Case("one entry too many", lambda: with_entries(ex(), limits.entries + 2, 0), 413),
        Case("one character too many", lambda: with_code(ex(), limits.string + 1), 413),
        Case("one level too deep", lambda: nested(ex(), limits.depth + 2), 413),
        Case("values over the limit", lambda: padded(ex(), limits.values + 1000), 413),
        Case(
            "one diagnosis too many",
            lambda: with_diagnoses(ex(), limits.items + 1),
            413,
        ),
        Case("probe: 10,000 items", lambda: with_items(ex(), 10_000), 413),
        Case("probe: 10,000 entries", lambda: with_entries(ex(), 10_000, 0), 413),
        Case("probe: 1 MB code", lambda: with_code(ex(), 1_000_000), 413),
    ]


def body_of(built: dict[str, Any] | bytes, round_: int) -> bytes:
    if isinstance(built, bytes):
        return built
    doc = copy.deepcopy(built)
    doc["identifier"] = {"system": "urn:fhirauth:bench", "value": f"round-{round_}"}
    return json.dumps(doc).encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", metavar="CASE", help="cProfile this case's last round")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # "authentication is off", stored-authorization lines

    tmp = Path(tempfile.mkdtemp(prefix="fhirauth-bench-"))
    settings = Settings.from_env(
        data_dir=tmp, database_url=f"sqlite:///{tmp / 'bench.sqlite3'}", auth_mode="off"
    )
    services = Services.build(settings, clock=fixed_clock(NOW))
    client = create_app(services=services).test_client()
    limits = settings.limits
    print(
        f"limits: {limits.entries} entries, {limits.items} items, {limits.string} characters "
        f"a string, {limits.depth} levels, {limits.values} values; "
        f"body {settings.max_body_bytes} bytes"
    )
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1):
        print(f"note: load average {load:.1f} on {os.cpu_count()} cores; wall times are inflated")
    warm = json.dumps(_example()).encode()
    client.post("/fhir/Claim/$submit", data=warm, content_type="application/fhir+json")

    failed = 0
    for case in cases(limits):
        built = case.build()
        bodies = [body_of(built, r) for r in range(args.rounds)]
        times, cpu, statuses = [], [], set()
        profiler = None
        for n, body in enumerate(bodies):
            if args.profile == case.name and n == len(bodies) - 1:
                profiler = cProfile.Profile()
                profiler.enable()
            start, start_cpu = time.perf_counter(), time.process_time()
            resp = client.post(
                "/fhir/Claim/$submit", data=body, content_type="application/fhir+json"
            )
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
            if profiler:
                profiler.disable()
            statuses.add(resp.status_code)
        median = statistics.median(times)
        target = ACCEPT_MS if case.status == 200 else REFUSE_MS
        ok = statuses == {case.status} and median < target
        failed += not ok
        print(
            f"{case.name:42s} {len(bodies[0]) / 1e6:7.2f} MB  "
            f"{'/'.join(map(str, sorted(statuses))):>3s}  {median:8.1f} ms  "
            f"(cpu {statistics.median(cpu):7.1f} ms)  "
            f"(target {case.status} in < {target:.0f} ms){'' if ok else '  FAIL'}",
            flush=True,
        )
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    services.engine.dispose()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
