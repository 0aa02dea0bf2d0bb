"""fhirauth.decision.v201: a 2.2.1 answer said in PAS 2.0.1 terms, ours only, deterministically."""

from __future__ import annotations

import json
from typing import Any

from fhirauth.decision.v201 import as_v201

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
BASE = "http://payer.example/fhir"
V201 = BASE + "/pas/v2.0.1"


def ext(name: str, **value: Any) -> dict[str, Any]:
    return {"url": PAS + name, **value}


def answer() -> dict[str, Any]:
    claim_response = {
        "resourceType": "ClaimResponse",
        "id": "cr1",
        "meta": {"profile": [PAS + "profile-claimresponse"]},
        "extension": [
            ext("extension-claimResponseReviewer", extension=[]),
            ext("extension-itemAuthorizedProvider", extension=[]),
        ],
        "communicationRequest": [{"reference": f"{BASE}/CommunicationRequest/c1"}],
        "patient": {"reference": "http://ehr.example/fhir/Patient/p1"},
        "adjudication": [{"extension": [ext("extension-reviewAction", extension=[])]}],
        "addItem": [{"extension": [ext("extension-itemTraceNumber")], "adjudication": []}],
        "error": [
            {
                "extension": [
                    ext(
                        "extension-errorElement",
                        extension=[
                            {"url": "processNote", "valuePositiveInt": 1},
                            {"url": "error", "valueString": "2010C-NM109"},
                        ],
                    ),
                    ext("extension-errorPath", valueString="Bundle.entry[3].resource.identifier"),
                ]
            }
        ],
    }
    task = {
        "resourceType": "Task",
        "id": "t1",
        "meta": {"profile": [PAS + "profile-task"]},
        "input": [
            {
                "extension": [
                    ext("extension-serviceLineNumber", valuePositiveInt=2),
                    ext("extension-contentModifier", valueCodeableConcept={}),
                ]
            }
        ],
    }
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "extension": [ext("extension-claimResponseReviewer")],  # the sender's, untouched
    }
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [PAS + "profile-pas-response-bundle"]},
        "entry": [
            {"fullUrl": f"{BASE}/ClaimResponse/cr1", "resource": claim_response},
            {"fullUrl": f"{BASE}/Task/t1", "resource": task},
            {"fullUrl": "http://ehr.example/fhir/Patient/p1", "resource": patient},
        ],
    }


def test_our_resources_claim_the_201_profiles() -> None:
    out = as_v201(answer())
    assert out["meta"]["profile"] == [PAS + "profile-pas-response-bundle|2.0.1"]
    assert out["entry"][0]["resource"]["meta"]["profile"] == [PAS + "profile-claimresponse|2.0.1"]
    assert out["entry"][1]["resource"]["meta"]["profile"] == [PAS + "profile-task|2.0.1"]


def test_extensions_201_does_not_know_or_allow_there_are_left_out() -> None:
    cr = as_v201(answer())["entry"][0]["resource"]
    assert "extension" not in cr  # claimResponseReviewer (2.2.1) and a root authorizedProvider
    assert "extension" not in cr["adjudication"][0]  # header reviewAction: not a 2.0.1 context
    assert "extension" not in cr["addItem"][0]


def test_the_error_element_is_a_plain_string_in_201() -> None:
    cr = as_v201(answer())["entry"][0]["resource"]
    (element,) = [e for e in cr["error"][0]["extension"] if e["url"].endswith("errorElement")]
    assert element == {"url": PAS + "extension-errorElement", "valueString": "2010C-NM109"}


def test_a_task_input_is_numbered_with_pa_line_number() -> None:
    task = as_v201(answer())["entry"][1]["resource"]
    assert task["input"][0]["extension"] == [
        {"url": PAS + "extension-paLineNumber", "valueInteger": 2}
    ]


def test_the_senders_resources_pass_unchanged() -> None:
    before = answer()
    out = as_v201(before)
    assert out["entry"][2] == before["entry"][2]


def test_our_resources_move_under_the_201_base_with_the_references_to_them() -> None:
    out = as_v201(answer(), V201)
    assert [e["fullUrl"] for e in out["entry"]] == [
        f"{V201}/ClaimResponse/cr1",
        f"{V201}/Task/t1",
        "http://ehr.example/fhir/Patient/p1",
    ]
    cr = out["entry"][0]["resource"]
    assert cr["patient"] == {"reference": "http://ehr.example/fhir/Patient/p1"}


def test_the_same_answer_is_always_said_the_same_way() -> None:
    assert json.dumps(as_v201(answer(), V201)) == json.dumps(as_v201(answer(), V201))
    original = answer()
    as_v201(original, V201)
    assert original == answer()  # the input is not changed
