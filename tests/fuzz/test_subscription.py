"""Generated inputs for Subscriptions on both bases (create, update, ``$status``): a PAS
Subscription broken at every path with every variant, then random combinations."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.conftest import AppFactory, Probe
from tests.fuzz.mutations import mutated, sweep
from tests.notifications.helpers import subscription

SEED = subscription(
    "https://ehr.example.org/pas/notify",
    filters=("org-identifier=1952488215",),
    end="2027-12-31T00:00:00Z",
    contact=[{"system": "email", "value": "pas@ehr.example.org"}],
)
SEED_201 = subscription(
    "https://ehr.example.org/pas/notify", filters=("identifier=1952488215",), content="id-only"
)
STATUS = {
    "resourceType": "Parameters",
    "parameter": [{"name": "status", "valueCode": "active"}, {"name": "id", "valueId": "x"}],
}


@pytest.fixture(scope="module")
def probe(make_app: AppFactory, probe_for: Any) -> Probe:
    app, _ = make_app()
    return probe_for(app)  # type: ignore[no-any-return]


def created(probe: Probe, base: str, resource: dict[str, Any]) -> str:
    resp = probe.client.post(f"{base}/Subscription", json=resource)
    assert resp.status_code == 201, resp.data[:300]
    return str(resp.get_json()["id"])


def test_create_and_update_every_path_every_variant(probe: Probe) -> None:
    sub_id = created(probe, "/fhir", SEED)
    for case in sweep([SEED], every_variant=True):
        probe.send("POST", "/fhir/Subscription", case.body, label=case.label)
        probe.send("PUT", f"/fhir/Subscription/{sub_id}", case.body, label=case.label)
    probe.check(at_least=700)


def test_the_201_base_every_path_every_kind_of_breakage(probe: Probe) -> None:
    start = probe.sent
    base = "/fhir/pas/v2.0.1"
    sub_id = created(probe, base, SEED_201)
    for case in sweep([SEED_201]):
        probe.send("POST", f"{base}/Subscription", case.body, label=case.label)
        probe.send("PUT", f"{base}/Subscription/{sub_id}", case.body, label=case.label)
    probe.check(at_least=start + 200)


def test_status_parameters_every_path_every_variant(probe: Probe) -> None:
    start = probe.sent
    sub_id = created(probe, "/fhir", SEED)
    for case in sweep([STATUS], every_variant=True):
        probe.send("POST", "/fhir/Subscription/$status", case.body, label=case.label)
    for case in sweep([STATUS], classes=2):
        for url in (
            "/fhir/pas/v2.0.1/Subscription/$status",
            f"/fhir/Subscription/{sub_id}/$status",
            f"/fhir/pas/v2.0.1/Subscription/{sub_id}/$status",
        ):
            probe.send("POST", url, case.body, label=case.label)
    probe.check(at_least=start + 150)


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_random_combinations(probe: Probe, method: str) -> None:
    url = "/fhir/Subscription"
    if method == "PUT":
        url += "/" + created(probe, "/fhir", SEED)

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=mutated([SEED, SEED_201, json.loads(json.dumps(STATUS))]))
    def run(body: bytes) -> None:
        probe.send(method, url, body, raise_=True)

    run()
