"""Generated inputs for CDex ``$submit-attachment`` and ``CoverageEligibilityRequest/$submit``:
our examples broken at every path, then random combinations."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.conftest import EXAMPLES
from tests.fuzz.conftest import AppFactory, Probe
from tests.fuzz.mutations import mutated, sweep

ATTACH = "/fhir/$submit-attachment"
ELIGIBILITY = "/fhir/CoverageEligibilityRequest/$submit"
ELIGIBILITY_SEEDS = [
    json.loads(p.read_text()) for p in sorted((EXAMPLES / "eligibility").glob("*.json"))
]


@pytest.fixture(scope="module")
def probe(make_app: AppFactory, probe_for: Any) -> Probe:
    app, _ = make_app()
    return probe_for(app)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def attachment(probe: Probe) -> dict[str, Any]:
    """The example attachment, for a knee arthroplasty pended here for its progress note."""
    resp = probe.client.post(
        "/fhir/Claim/$submit",
        data=(EXAMPLES / "pend-knee-needs-note.json").read_bytes(),
        content_type="application/fhir+json",
    )
    assert resp.status_code == 200
    (tracking,) = [
        e["resource"]["identifier"][0]["value"]
        for e in resp.get_json()["entry"]
        if e["resource"]["resourceType"] == "CommunicationRequest"
    ]
    params: dict[str, Any] = json.loads(
        (EXAMPLES / "attachments" / "pend-knee-progress-note.json").read_text()
    )
    for p in params["parameter"]:
        if p["name"] == "TrackingId":
            p["valueIdentifier"]["value"] = tracking
    assert probe.client.post(ATTACH, json=params).status_code == 200
    return params


def test_attachment_every_path_every_variant(probe: Probe, attachment: dict[str, Any]) -> None:
    for case in sweep([attachment], every_variant=True):
        probe.send("POST", ATTACH, case.body, label=case.label)
    probe.check(at_least=600)


def test_eligibility_every_path_every_kind_of_breakage(probe: Probe) -> None:
    start = probe.sent
    for case in sweep(ELIGIBILITY_SEEDS):
        probe.send("POST", ELIGIBILITY, case.body, label=case.label)
    probe.check(at_least=start + 1_500)


@pytest.mark.parametrize("url", [ATTACH, ELIGIBILITY])
def test_random_combinations(probe: Probe, attachment: dict[str, Any], url: str) -> None:
    seeds = [attachment] if url == ATTACH else ELIGIBILITY_SEEDS

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=mutated(seeds))
    def run(body: bytes) -> None:
        probe.send("POST", url, body, raise_=True)

    run()
