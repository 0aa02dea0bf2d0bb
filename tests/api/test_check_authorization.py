"""POST /fhir/Claim/$check-authorization: billing claims we wrote, one kind of mismatch each
(examples/billing/), against the authorizations the examples get through $submit."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from fhirauth.clock import fixed_clock
from fhirauth.services import Services
from fhirauth.store.models import AuthorizationItem, BillingUsage
from tests.billing import BILLING, billed, check, codes, lines, load, post, submit
from tests.updates import update_of

PSYCHOTHERAPY = "partial-psychotherapy.json"  # A2: 20 visits, 2026-12-09 to 2027-06-06


@pytest.fixture
def psychotherapy(client: FlaskClient) -> str:
    cr = submit(client, load(PSYCHOTHERAPY))
    return f"{cr['preAuthRef']}-1"


def bill(name: str) -> dict[str, Any]:
    return billed(name)


def test_a_claim_that_fits_is_answered_with_its_authorization_number_and_no_mismatch(
    client: FlaskClient, psychotherapy: str
) -> None:
    answer = check(client, bill("matches.json"))
    (line,) = lines(answer).values()
    assert line["authorizationNumber"] == psychotherapy
    assert line["mismatches"] == []
    assert line["status"] == "active" and line["unitsRemaining"] == 20
    assert line["certifiedPeriod"] == {"start": "2026-12-09", "end": "2027-06-06"}
    assert answer["parameter"][0] == {"name": "recorded", "valueBoolean": False}


@pytest.mark.parametrize(
    ("example", "mismatch", "words"),
    [
        ("units-exceeded.json", "units-exceeded", "Billed 45 units; 20 of the 20"),
        ("date-outside-period.json", "date-outside-period", "2026-12-02 is outside"),
        ("code-differs.json", "code-differs", "Billed 90834"),
        ("place-differs.json", "place-differs", "Place of service 02"),
        ("provider-differs.json", "provider-differs", "NPI 1396027584"),
        ("no-authorization.json", "no-authorization", "70551 needs prior authorization"),
    ],
)
def test_each_billing_example_is_answered_with_exactly_its_mismatch(
    client: FlaskClient, psychotherapy: str, example: str, mismatch: str, words: str
) -> None:
    (line,) = lines(check(client, bill(example))).values()
    assert [code for code, _ in line["mismatches"]] == [mismatch]
    assert words in line["mismatches"][0][1]
    if mismatch != "no-authorization":
        assert line["authorizationNumber"] == psychotherapy
    else:
        assert "authorizationNumber" not in line


def test_a_denied_service_billed_is_answered_authorization_denied(client: FlaskClient) -> None:
    submit(client, load("deny-cosmetic-hair-transplant.json"))
    assert codes(check(client, bill("authorization-denied.json"))) == ["authorization-denied"]


def test_a_cancelled_authorization_billed_is_answered_authorization_cancelled(
    client: FlaskClient,
) -> None:
    for name in ("pend-mri-brain.json", "updates/pend-mri-brain-update.json"):
        submit(client, load(name))
    assert codes(check(client, bill("authorization-cancelled.json"))) == []  # approved (A1)
    submit(client, load("updates/pend-mri-brain-cancel.json"))
    answer = check(client, bill("authorization-cancelled.json"))
    assert codes(answer) == ["authorization-cancelled"]
    assert lines(answer)[1]["status"] == "cancelled"


def test_a_service_after_the_end_of_an_expired_authorization_is_authorization_expired(
    client: FlaskClient, services: Services, psychotherapy: str
) -> None:
    late = bill("matches.json")
    late["entry"][0]["resource"]["item"][0]["servicedDate"] = "2027-06-20"
    assert codes(check(client, late)) == ["date-outside-period"]  # the period has not ended yet
    services.clock = fixed_clock(datetime(2027, 7, 1, 12, tzinfo=UTC))
    answer = check(client, late)
    assert codes(answer) == ["authorization-expired"]
    assert lines(answer)[1]["status"] == "expired"
    assert "expired on 2027-06-06" in lines(answer)[1]["mismatches"][0][1]


def test_record_true_twice_consumes_the_units_once(
    client: FlaskClient, services: Services, psychotherapy: str
) -> None:
    claim = billed("matches.json", quantity={"value": 4, "unit": "visit"})
    first = check(client, claim, record=True)
    assert lines(first)[1]["recorded"] is True
    again = check(client, claim, record=True)
    assert again == first  # answered as the first recording was
    with services.sessions() as session:
        row = session.scalars(select(AuthorizationItem)).one()
        assert row.used_quantity == "4" and row.status == "active"
        assert len(session.scalars(select(BillingUsage)).all()) == 1
    # Checking without recording consumes nothing, and sees what is left.
    assert lines(check(client, billed("matches.json")))[1]["unitsRemaining"] == 16


def test_a_second_claim_with_its_own_identifier_consumes_again_until_nothing_is_left(
    client: FlaskClient, services: Services, psychotherapy: str
) -> None:
    for n, units in enumerate((12, 8)):
        claim = billed("matches.json", quantity={"value": units, "unit": "visit"})
        claim["entry"][0]["resource"]["identifier"][0]["value"] += f"-{n}"
        assert codes(check(client, claim, record=True)) == []
    with services.sessions() as session:
        row = session.scalars(select(AuthorizationItem)).one()
        assert (row.used_quantity, row.status) == ("20", "exhausted")
    answer = check(client, billed("matches.json"))
    assert codes(answer) == ["units-exceeded"] and lines(answer)[1]["status"] == "exhausted"


def test_a_line_with_a_mismatch_consumes_nothing_when_recorded(
    client: FlaskClient, services: Services, psychotherapy: str
) -> None:
    answer = check(client, bill("units-exceeded.json"), record=True)
    assert "recorded" not in lines(answer)[1]
    with services.sessions() as session:
        assert session.scalars(select(AuthorizationItem.used_quantity)).one() is None


def test_two_lines_of_one_claim_share_the_units_left(
    client: FlaskClient, psychotherapy: str
) -> None:
    claim = billed("matches.json", quantity={"value": 15, "unit": "visit"})
    items = claim["entry"][0]["resource"]["item"]
    items.append({**copy.deepcopy(items[0]), "sequence": 2, "servicedDate": "2026-12-23"})
    answer = check(client, claim)
    assert codes(answer, 1) == [] and codes(answer, 2) == ["units-exceeded"]


def test_the_claim_may_name_its_authorization_number(
    client: FlaskClient, psychotherapy: str
) -> None:
    claim = bill("code-differs.json")
    claim["entry"][0]["resource"]["insurance"][0]["preAuthRef"] = [psychotherapy]
    answer = check(client, claim)
    assert lines(answer)[1]["authorizationNumber"] == psychotherapy
    assert codes(answer) == ["code-differs"]
    claim["entry"][0]["resource"]["insurance"][0]["preAuthRef"] = ["PANOSUCHONE-1"]
    assert codes(check(client, claim)) == ["no-authorization"]


def test_a_code_inside_an_authorized_range_fits_and_a_different_modifier_does_not(
    client: FlaskClient,
) -> None:
    request = load(PSYCHOTHERAPY)
    item = request["entry"][0]["resource"]["item"][0]
    item["extension"].append(
        {
            "url": "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
            "extension-productOrServiceCodeEnd",
            "valueCodeableConcept": {
                "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "90838"}]
            },
        }
    )
    item["modifier"] = [{"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "95"}]}]
    submit(client, request)
    in_range = bill("code-differs.json")  # 90834, inside 90837-90838? no: below it
    assert codes(check(client, in_range)) == ["code-differs"]
    fits = billed(
        "matches.json",
        productOrService={
            "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "90838"}]
        },
        modifier=[{"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "95"}]}],
    )
    assert codes(check(client, fits)) == []
    other_modifier = copy.deepcopy(fits)
    other_modifier["entry"][0]["resource"]["item"][0]["modifier"][0]["coding"][0]["code"] = "GT"
    answer = check(client, other_modifier)
    assert (
        codes(answer) == ["code-differs"] and "modifier 95" in lines(answer)[1]["mismatches"][0][1]
    )


def test_a_service_that_needs_no_authorization_is_fine_without_one(client: FlaskClient) -> None:
    visit = billed(
        "no-authorization.json",
        productOrService={
            "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "99214"}]
        },
    )
    (line,) = lines(check(client, visit)).values()
    assert line["mismatches"] == [] and "authorizationNumber" not in line


def test_a_claim_sent_alone_names_its_member_on_the_coverage_reference(
    client: FlaskClient, psychotherapy: str
) -> None:
    claim = copy.deepcopy(bill("matches.json")["entry"][0]["resource"])
    claim["insurance"][0]["coverage"] = {
        "identifier": {
            "system": "http://demohealthplan.example.org/fhir/sid/member-id",
            "value": "DHP843106275",
        }
    }
    claim["patient"] = {"display": "the member"}
    del claim["careTeam"], claim["item"][0]["careTeamSequence"]
    answer = check(client, claim)
    assert lines(answer)[1]["authorizationNumber"] == psychotherapy
    assert codes(answer) == []


def test_the_parameters_form_carries_the_claim_and_record(
    client: FlaskClient, services: Services, psychotherapy: str
) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": bill("matches.json")},
            {"name": "record", "valueBoolean": True},
        ],
    }
    answer = post(client, "/fhir/Claim/$check-authorization", body)
    assert answer["parameter"][0] == {"name": "recorded", "valueBoolean": True}
    with services.sessions() as session:
        assert session.scalars(select(AuthorizationItem.used_quantity)).one() == "1"


@pytest.mark.parametrize(
    ("change", "status", "where"),
    [
        (lambda b: b["entry"][0]["resource"].update(use="preauthorization"), 400, "use"),
        (lambda b: b["entry"][0]["resource"].update(item=[]), 400, "item"),
        (lambda b: b.update(entry=b["entry"][:1]), 400, "insurance[0].coverage"),
    ],
)
def test_malformed_claims_are_400_with_one_operation_outcome_at_the_fhirpath(
    client: FlaskClient, change: Any, status: int, where: str
) -> None:
    body = bill("matches.json")
    change(body)
    resp = client.post(
        "/fhir/Claim/$check-authorization",
        json=body,
        content_type="application/fhir+json",
    )
    assert resp.status_code == status
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert any(where in e for i in outcome["issue"] for e in i.get("expression", []))


def test_record_needs_a_claim_identifier_and_a_plain_flag(client: FlaskClient) -> None:
    body = bill("matches.json")
    del body["entry"][0]["resource"]["identifier"]
    resp = client.post("/fhir/Claim/$check-authorization?record=true", json=body)
    assert resp.status_code == 400
    assert resp.get_json()["issue"][0]["expression"] == ["Bundle.entry[0].resource.identifier"]
    resp = client.post("/fhir/Claim/$check-authorization?record=yes", json=bill("matches.json"))
    assert resp.status_code == 400


def test_the_same_check_answers_at_the_pas_201_base(
    client: FlaskClient, psychotherapy: str
) -> None:
    answer = post(client, "/fhir/pas/v2.0.1/Claim/$check-authorization", bill("matches.json"))
    assert lines(answer)[1]["authorizationNumber"] == psychotherapy


def test_every_billing_example_is_a_valid_r4_claim_bundle() -> None:
    from fhir.resources.R4B.bundle import Bundle

    names = sorted(p.name for p in BILLING.glob("*.json"))
    assert len(names) == 9
    for path in BILLING.glob("*.json"):
        bundle = Bundle.model_validate_json(path.read_text())
        assert bundle.entry[0].resource.use == "claim"


def test_a_billed_claim_is_audited_without_its_content(
    client: FlaskClient, psychotherapy: str
) -> None:
    check(client, billed("matches.json"), record=True)
    events = client.get("/fhir/AuditEvent?_count=5").get_json()["entry"]
    mine = [
        e["resource"] for e in events if "check-authorization" in str(e["resource"].get("subtype"))
    ]
    assert mine and "1 lines recorded" in mine[0]["outcomeDesc"]


def test_an_update_that_changes_nothing_keeps_the_used_units(
    client: FlaskClient, services: Services, psychotherapy: str
) -> None:
    check(client, billed("matches.json"), record=True)
    request = load(PSYCHOTHERAPY)
    submit(client, update_of(request, 1))
    with services.sessions() as session:
        assert session.scalars(select(AuthorizationItem.used_quantity)).one() == "1"
