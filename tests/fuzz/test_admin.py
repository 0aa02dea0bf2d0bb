"""Generated inputs for the admin API's JSON bodies: reviewer decisions, reopenings and
review-time extensions, and sandbox scripts. Every body is broken at every path with every
variant, against authorizations pended for the purpose, then combined at random."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLES
from tests.fuzz.conftest import AppFactory, Probe
from tests.fuzz.mutations import mutated, sweep

NPI = {"npi": "1234567893"}
DECISIONS = [
    {"item": 3, "action": "approve", "period_days": 30, "quantity": 1, "reviewer": NPI},
    {"item": 3, "action": "modify", "quantity": 0.5, "period_days": 10, "reviewer": NPI},
    {"item": 3, "action": "deny", "reason_code": "NC", "reason": "Not covered.", "reviewer": NPI},
    {"item": 3, "action": "request-info", "documents": ["11506-3", "18748-4"], "reviewer": NPI},
]
REOPEN = {"item": 3, "reason": "New information from the provider", "reviewer": NPI}
EXTEND = {"days": 2, "reason": "The member asked for time to send records"}
SCRIPT = {"outcome": "A2", "count": 2, "principal": "anonymous"}
JSON = "application/json"


@pytest.fixture(scope="module")
def probe(make_app: AppFactory, probe_for: Any) -> Probe:
    app, _ = make_app(sandbox=True)
    return probe_for(app)  # type: ignore[no-any-return]


class Pended:
    """A fresh pended authorization (mixed-outcomes.json: item 3 pends) every ``every`` uses,
    so that decisions keep meeting an item they can decide."""

    def __init__(self, probe: Probe, every: int = 25) -> None:
        self.probe, self.every, self.uses, self.key = probe, every, 0, ""

    def __call__(self) -> str:
        if self.uses % self.every == 0:
            bundle = json.loads((EXAMPLES / "mixed-outcomes.json").read_text())
            bundle["entry"][0]["resource"]["identifier"][0]["value"] += f"-{self.uses}"
            resp = self.probe.client.post(
                "/fhir/Claim/$submit", json=bundle, content_type="application/fhir+json"
            )
            assert resp.status_code == 200, resp.data[:300]
            self.key = resp.get_json()["entry"][0]["resource"]["preAuthRef"]
        self.uses += 1
        return self.key


def test_decisions_every_path_every_variant(probe: Probe) -> None:
    pended = Pended(probe)
    for seed in DECISIONS:
        for case in sweep([seed], every_variant=True):
            url = f"/admin/review/{pended()}/decisions"
            probe.send("POST", url, case.body, label=case.label, content_type=JSON)
    probe.check(at_least=400)


def test_reopen_every_path_every_variant(probe: Probe) -> None:
    start = probe.sent
    pended = Pended(probe)
    for case in sweep([REOPEN], every_variant=True):
        key = pended()
        probe.client.post(
            f"/admin/review/{key}/decisions",
            json={"item": 3, "action": "deny", "reason_code": "NC", "reason": "r"},
        )
        url = f"/admin/review/{key}/reopen"
        probe.send("POST", url, case.body, label=case.label, content_type=JSON)
    probe.check(at_least=start + 80)


def test_extend_every_path_every_variant(probe: Probe) -> None:
    start = probe.sent
    pended = Pended(probe, every=5)  # 14 days in all: a fresh clock before they run out
    for case in sweep([EXTEND], every_variant=True):
        url = f"/admin/review/{pended()}/extend"
        probe.send("POST", url, case.body, label=case.label, content_type=JSON)
    probe.check(at_least=start + 30)


def test_sandbox_scripts_every_path_every_variant(probe: Probe) -> None:
    start = probe.sent
    for case in sweep([SCRIPT], every_variant=True):
        probe.send("POST", "/admin/sandbox/scripts", case.body, label=case.label, content_type=JSON)
        probe.client.delete("/admin/sandbox/scripts")
    probe.check(at_least=start + 50)


@pytest.mark.parametrize("route", ["decisions", "reopen", "extend", "scripts"])
def test_random_combinations(probe: Probe, route: str) -> None:
    pended = Pended(probe, every=5 if route == "extend" else 50)
    seeds = {"decisions": DECISIONS, "reopen": [REOPEN], "extend": [EXTEND], "scripts": [SCRIPT]}[
        route
    ]

    @settings(
        max_examples=100,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=mutated(seeds), content_type=st.sampled_from([JSON, "application/fhir+json"]))
    def run(body: bytes, content_type: str) -> None:
        url = (
            "/admin/sandbox/scripts" if route == "scripts" else f"/admin/review/{pended()}/{route}"
        )
        probe.send("POST", url, body, content_type=content_type, raise_=True)

    run()
