"""The playground's operation: a bundle is checked as ``fhirauth validate`` checks it and
submitted as ``$submit`` takes it, as the playground's own principal; scripted outcomes answer
the next submissions of the principal they name."""

from __future__ import annotations

import json

from sqlalchemy import select

from fhirauth.operations import playground
from fhirauth.services import Services
from fhirauth.store.models import Authorization
from tests.conftest import EXAMPLES

APPROVE = (EXAMPLES / "approve-ct-head.json").read_bytes()


def _principals(services: Services) -> list[str]:
    with services.sessions() as session:
        return list(session.scalars(select(Authorization.principal)))


def test_a_bundle_that_cannot_be_parsed_gives_its_issues_with_paths(
    sandbox_services: Services,
) -> None:
    broken = json.loads(APPROVE)
    broken["entry"][0]["resource"]["use"] = "claim"
    tried = playground.try_bundle(json.dumps(broken).encode(), sandbox_services)
    assert tried.status == 400
    assert tried.summary is None
    assert any("Bundle.entry[0].resource.use" in i.expression for i in tried.issues)
    assert all(i.severity == "error" for i in tried.issues)
    assert tried.response is not None and tried.response["resourceType"] == "OperationOutcome"
    assert _principals(sandbox_services) == []


def test_a_valid_bundle_is_decided_and_stored_as_the_playgrounds(
    sandbox_services: Services,
) -> None:
    tried = playground.try_bundle(APPROVE, sandbox_services)
    assert tried.status == 200
    assert tried.response is not None and tried.response["resourceType"] == "Bundle"
    assert tried.summary is not None and "item 1: A1" in tried.summary
    assert '"resourceType": "ClaimResponse"' in tried.pretty
    assert _principals(sandbox_services) == ["playground"]


def test_a_scripted_outcome_answers_the_next_playground_submission_only(
    sandbox_services: Services,
) -> None:
    assert [s["outcome"] for s in playground.script(sandbox_services, "playground", "A3", 1)] == [
        "A3"
    ]
    first = playground.try_bundle(APPROVE, sandbox_services)
    assert first.summary is not None and "item 1: A3" in first.summary
    assert playground.scripts(sandbox_services, "playground") == []
    second = playground.try_bundle(APPROVE, sandbox_services)
    assert second.summary is not None and "item 1: A1" in second.summary


def test_a_clients_script_waits_for_that_client_not_the_playground(
    sandbox_services: Services,
) -> None:
    playground.script(sandbox_services, "ehr-42", "A4", 1)
    mine = playground.try_bundle(APPROVE, sandbox_services)
    assert mine.summary is not None and "item 1: A1" in mine.summary  # not the client's script
    assert [s["outcome"] for s in playground.scripts(sandbox_services, "ehr-42")] == ["A4"]
    assert _principals(sandbox_services) == ["playground"]


def test_scripts_are_cleared_per_principal(sandbox_services: Services) -> None:
    playground.script(sandbox_services, "playground", "A2", 2)
    playground.script(sandbox_services, "ehr-42", "NA", 1)
    playground.clear(sandbox_services, "playground")
    assert playground.scripts(sandbox_services, "playground") == []
    assert [s["outcome"] for s in playground.scripts(sandbox_services, "ehr-42")] == ["NA"]
