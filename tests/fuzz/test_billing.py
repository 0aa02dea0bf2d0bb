"""Generated inputs for ``Claim/$check-authorization`` on both bases: the billing examples broken
at every path (the sweep), then random combinations (hypothesis), checked and recorded."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLES
from tests.fuzz.conftest import AppFactory, Probe
from tests.fuzz.mutations import mutated, sweep

SEEDS = [json.loads(p.read_text()) for p in sorted((EXAMPLES / "billing").glob("*.json"))]
# The Claim alone, as a biller may send it.
SEEDS.append(SEEDS[0]["entry"][0]["resource"])
CHECK = "/fhir/Claim/$check-authorization"
CHECK_201 = "/fhir/pas/v2.0.1/Claim/$check-authorization"


@pytest.fixture(scope="module")
def probe(make_app: AppFactory, probe_for: Any) -> Probe:
    app, _ = make_app()
    probe: Probe = probe_for(app)
    # The authorizations the billing examples are checked against.
    for name in ("partial-psychotherapy.json", "deny-cosmetic-hair-transplant.json"):
        resp = probe.client.post(
            "/fhir/Claim/$submit",
            data=(EXAMPLES / name).read_bytes(),
            content_type="application/fhir+json",
        )
        assert resp.status_code == 200
    return probe


def test_check_every_path_every_kind_of_breakage(probe: Probe) -> None:
    for case in sweep(SEEDS):
        probe.send("POST", CHECK, case.body, label=case.label)
    probe.check(at_least=800)


def test_record_and_the_201_base_every_path_two_kinds_in_rotation(probe: Probe) -> None:
    start = probe.sent
    for case in sweep(SEEDS, classes=2):
        probe.send("POST", CHECK + "?record=true", case.body, label=case.label)
        probe.send("POST", CHECK_201, case.body, label=case.label)
    probe.check(at_least=start + 400)


@pytest.mark.parametrize("url", [CHECK, CHECK + "?record=true", CHECK_201])
def test_random_combinations(probe: Probe, url: str) -> None:
    @settings(
        max_examples=100,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        body=mutated(SEEDS),
        content_type=st.sampled_from(["application/fhir+json"] * 9 + ["application/json"]),
    )
    def run(body: bytes, content_type: str) -> None:
        probe.send("POST", url, body, content_type=content_type, raise_=True)

    run()
