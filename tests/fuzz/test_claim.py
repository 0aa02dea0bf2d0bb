"""Generated inputs for ``Claim/$submit`` and ``Claim/$inquire`` on both bases: our example
Bundles broken at every path (the sweep), then random combinations (hypothesis)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLES
from tests.fuzz.conftest import AppFactory, Probe
from tests.fuzz.mutations import mutated, sweep

# Every request Bundle we ship (initial requests, updates, the coverage error): the sweep
# takes each path shape once, from the first seed that has it.
SUBMIT_SEEDS = [
    json.loads(p.read_text())
    for p in sorted(EXAMPLES.rglob("*.json"))
    if p.parent.name not in ("eligibility", "inquiry", "attachments", "billing")
]
INQUIRY_SEEDS = [json.loads(p.read_text()) for p in sorted((EXAMPLES / "inquiry").glob("*.json"))]
SUBMIT = "/fhir/Claim/$submit"
INQUIRE = "/fhir/Claim/$inquire"
SUBMIT_201 = "/fhir/pas/v2.0.1/Claim/$submit"
INQUIRE_201 = "/fhir/pas/v2.0.1/Claim/$inquire"


@pytest.fixture(scope="module")
def probe(make_app: AppFactory, probe_for: Any) -> Probe:
    app, _ = make_app()
    probe: Probe = probe_for(app)
    # Authorizations for the inquiries to find (inquire-ct-head.json asks about this one), and
    # a denial for the appeal among the seeds to appeal.
    for name in (
        "approve-ct-head.json",
        "mixed-outcomes.json",
        "deny-cosmetic-hair-transplant.json",
    ):
        resp = probe.client.post(
            SUBMIT, data=(EXAMPLES / name).read_bytes(), content_type="application/fhir+json"
        )
        assert resp.status_code == 200
    return probe


def test_submit_every_path_every_kind_of_breakage(probe: Probe) -> None:
    for case in sweep(SUBMIT_SEEDS):
        probe.send("POST", SUBMIT, case.body, label=case.label)
    probe.check(at_least=3_000)


def test_inquire_every_path_every_kind_of_breakage(probe: Probe) -> None:
    start = probe.sent
    for case in sweep(INQUIRY_SEEDS):
        probe.send("POST", INQUIRE, case.body, label=case.label)
    probe.check(at_least=start + 1_500)


def test_the_201_base_every_path_two_kinds_in_rotation(probe: Probe) -> None:
    """The 2.0.1 base parses and decides with the same code; its answers are said another way."""
    start = probe.sent
    for case in sweep(SUBMIT_SEEDS, classes=2):
        probe.send("POST", SUBMIT_201, case.body, label=case.label)
    for case in sweep(INQUIRY_SEEDS, classes=2):
        probe.send("POST", INQUIRE_201, case.body, label=case.label)
    probe.check(at_least=start + 1_000)


@pytest.mark.parametrize(
    ("url", "seeds"),
    [
        (SUBMIT, SUBMIT_SEEDS),
        (SUBMIT_201, SUBMIT_SEEDS),
        (INQUIRE, INQUIRY_SEEDS),
        (INQUIRE_201, INQUIRY_SEEDS),
    ],
)
def test_random_combinations(probe: Probe, url: str, seeds: list[Any]) -> None:
    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        body=mutated(seeds),
        content_type=st.sampled_from(["application/fhir+json"] * 9 + ["application/json"]),
    )
    def run(body: bytes, content_type: str) -> None:
        probe.send("POST", url, body, content_type=content_type, raise_=True)

    run()
