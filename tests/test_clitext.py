"""What the client commands print about a PAS answer: errors with their paths, and what pended
items await."""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient

from fhirauth.cli import describe_response
from fhirauth.fhir.response_text import awaited, error_lines
from tests.conftest import EXAMPLES


def answer(client: FlaskClient, name: str) -> dict[str, Any]:
    resp = client.post(
        "/fhir/Claim/$submit",
        data=(EXAMPLES / name).read_bytes(),
        content_type="application/fhir+json",
    )
    assert resp.status_code == 200
    body: dict[str, Any] = resp.get_json()
    return body


def test_a_pended_item_awaits_each_requested_document_by_loinc_with_tracking_and_due_date(
    client: FlaskClient,
) -> None:
    bundle = answer(client, "pend-knee-needs-note.json")
    cr = bundle["entry"][0]["resource"]
    (wanted,) = awaited(bundle)[1]
    assert wanted.startswith("LOINC 11506-3: Surgeon's progress note")
    assert f"tracking {cr['preAuthRef']}-1-1" in wanted and "due 2026-12-08" in wanted
    text = describe_response(bundle)
    assert "  item 1: A4\n      awaits: LOINC 11506-3: " in text


def test_a_questionnaire_request_is_named_by_its_loinc_code_and_description(
    client: FlaskClient,
) -> None:
    bundle = answer(client, "pend-aba-needs-questionnaire.json")
    (wanted,) = awaited(bundle)[1]
    assert wanted.startswith("LOINC 102089-0: Applied behavior analysis")


def test_a_pended_item_without_documentation_requests_awaits_a_reviewer(
    client: FlaskClient,
) -> None:
    bundle = answer(client, "pend-mri-brain.json")
    assert awaited(bundle) == {}
    assert "  item 1: A4\n      awaits: a reviewer's decision" in describe_response(bundle)


def test_decided_items_await_nothing(client: FlaskClient) -> None:
    assert "awaits" not in describe_response(answer(client, "approve-ct-head.json"))


def test_task_inputs_say_what_is_awaited_when_there_are_no_communication_requests(
    client: FlaskClient,
) -> None:
    bundle = answer(client, "pend-knee-needs-note.json")
    bundle["entry"] = [
        e for e in bundle["entry"] if e["resource"]["resourceType"] != "CommunicationRequest"
    ]
    (wanted,) = awaited(bundle)[1]
    assert wanted.startswith("LOINC 11506-3: Surgeon's progress note") and "due " in wanted


def test_an_error_answer_prints_its_x12_code_text_error_path_and_follow_up(
    client: FlaskClient,
) -> None:
    bundle = answer(client, "errors/error-coverage-ended.json")
    cr = bundle["entry"][0]["resource"]
    (line,) = error_lines(cr)
    assert line.startswith("  error 78: The coverage period does not include the service date")
    assert "\n      at Bundle.entry[3].resource.period" in line
    assert "\n      follow-up: Please correct and resubmit" in line
    assert line in describe_response(bundle)


def test_error_lines_tolerate_errors_without_text_path_or_follow_up() -> None:
    cr = {"error": [{"code": {"coding": [{"code": "T4"}]}, "itemSequence": 2}, "junk"]}
    assert error_lines(cr) == ["  error T4 (item 2)"]
    assert awaited({"entry": [{"resource": {"resourceType": "Task", "input": "x"}}]}) == {}


def test_an_answer_as_json_round_trips_through_the_helpers(client: FlaskClient) -> None:
    bundle = json.loads(json.dumps(answer(client, "mixed-outcomes.json")))
    text = describe_response(bundle)
    assert text.count("awaits:") == 1 and "item 3: A4" in text
