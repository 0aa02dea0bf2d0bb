"""After the decision, through $submit on both PAS bases: an extension (certificationType 4)
lengthens and enlarges an authorization under its number, a renewal (R) makes a new one linked
to the old, a revision (S) is decided again; each is decided by the same policy and seen in
$inquire."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from fhirauth.services import Services
from fhirauth.store.models import Authorization, AuthorizationItem, DecisionEvent
from tests.billing import PAS, load, post, submit
from tests.inquiries import inquiry_of
from tests.pas import assert_pas_response, review_actions
from tests.updates import CERT_TYPE, update_of

PSYCHOTHERAPY = "partial-psychotherapy.json"  # A2: 20 visits, 2026-12-09 to 2027-06-06
EXTENSION = "updates/partial-psychotherapy-extension.json"  # 40 visits to 2027-11-30


def certification(bundle: dict[str, Any], code: str) -> dict[str, Any]:
    """The bundle with certificationType ``code`` on its Claim and every item."""
    out = copy.deepcopy(bundle)
    claim = out["entry"][0]["resource"]
    ext = {
        "url": PAS + "extension-certificationType",
        "valueCodeableConcept": {"coding": [{"system": CERT_TYPE, "code": code}]},
    }
    claim["extension"] = [e for e in claim.get("extension", []) if e["url"] != ext["url"]] + [ext]
    for item in claim.get("item", []):
        item["extension"] = [e for e in item["extension"] if e["url"] != ext["url"]] + [ext]
    return out


def item_answer(bundle: dict[str, Any], sequence: int = 1) -> dict[str, Any]:
    """number, period, quantity and note of one item of a response Bundle."""
    cr = bundle["entry"][0]["resource"]
    item = next(i for i in cr["item"] if i["itemSequence"] == sequence)
    out: dict[str, Any] = {}
    for ext in item["extension"]:
        if ext["url"].endswith("extension-itemPreAuthPeriod"):
            out["period"] = (ext["valuePeriod"]["start"], ext["valuePeriod"]["end"])
        if ext["url"].endswith("extension-itemAuthorizedDetail"):
            for sub in ext["extension"]:
                if sub["url"] == "quantity":
                    out["quantity"] = sub["valueQuantity"]["value"]
    for sub in item["adjudication"][0]["extension"][0]["extension"]:
        if sub["url"] == "number":
            out["number"] = sub["valueString"]
    notes = {n["number"]: n["text"] for n in cr.get("processNote", [])}
    out["note"] = notes.get((item.get("noteNumber") or [None])[0])
    return out


@pytest.mark.parametrize("base", ["/fhir", "/fhir/pas/v2.0.1"])
def test_an_extension_lengthens_and_enlarges_the_authorization_under_its_number(
    client: FlaskClient, services: Services, base: str
) -> None:
    first = post(client, f"{base}/Claim/$submit", load(PSYCHOTHERAPY))
    before = item_answer(first)
    assert review_actions(first) == {1: "A2"}
    assert before["period"] == ("2026-12-09", "2027-06-06") and before["quantity"] == 20

    extension = load(EXTENSION)
    second = post(client, f"{base}/Claim/$submit", extension)
    if base == "/fhir":
        assert_pas_response(second, extension)
    after = item_answer(second)
    assert review_actions(second) == {1: "A1"}
    assert after["number"] == before["number"]
    assert after["period"] == ("2026-12-09", "2027-11-30") and after["quantity"] == 40
    with services.sessions() as session:
        row = session.scalars(select(AuthorizationItem)).one()
        assert (row.authorized_quantity, row.status) == ("40", "active")
        assert len(session.scalars(select(Authorization)).all()) == 1


def test_an_extension_beyond_the_policy_bounds_is_cut_to_them_with_a_reason(
    client: FlaskClient,
) -> None:
    submit(client, load(PSYCHOTHERAPY))
    too_much = update_of(
        load(PSYCHOTHERAPY),
        1,
        change={
            1: {
                "quantity": {"value": 60, "unit": "visit"},
                "servicedPeriod": {"start": "2026-12-09", "end": "2028-03-31"},
            }
        },
    )
    answer = post(client, "/fhir/Claim/$submit", certification(too_much, "4"))
    got = item_answer(answer)
    assert review_actions(answer) == {1: "A2"}
    # valid_for 12mo from 2026-12-09, max_units 40 (policies/demo-payer.yaml, psychotherapy).
    assert got["period"] == ("2026-12-09", "2027-12-08") and got["quantity"] == 40
    assert "2027-12-08" in got["note"] and "40 units in all" in got["note"]


def test_an_extension_the_policy_would_not_certify_leaves_the_authorization_as_it_was(
    client: FlaskClient,
) -> None:
    first = submit(client, load(PSYCHOTHERAPY))
    no_diagnosis = update_of(load(PSYCHOTHERAPY), 1, change={1: {"diagnosisSequence": [2]}})
    claim = no_diagnosis["entry"][0]["resource"]
    claim["diagnosis"] = [d for d in claim["diagnosis"] if d["sequence"] == 2]
    claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["code"] = "Z71.89"
    answer = post(client, "/fhir/Claim/$submit", certification(no_diagnosis, "4"))
    got = item_answer(answer)
    assert review_actions(answer) == {1: "A2"}
    assert got["number"] == f"{first['preAuthRef']}-1"
    assert got["period"] == ("2026-12-09", "2027-06-06") and got["quantity"] == 20
    assert got["note"].startswith("The extension was not granted")


@pytest.mark.parametrize("base", ["/fhir", "/fhir/pas/v2.0.1"])
def test_a_renewal_is_a_new_authorization_linked_to_the_old_whose_item_it_supersedes(
    client: FlaskClient, services: Services, base: str
) -> None:
    old = submit(client, load(PSYCHOTHERAPY), base)
    renewal = update_of(
        load(PSYCHOTHERAPY),
        1,
        change={
            1: {
                "quantity": {"value": 12, "unit": "visit"},
                "servicedPeriod": {"start": "2027-06-07", "end": "2027-11-30"},
            }
        },
    )
    answer = post(client, f"{base}/Claim/$submit", certification(renewal, "R"))
    new = answer["entry"][0]["resource"]
    assert review_actions(answer) == {1: "A1"}
    assert new["preAuthRef"] != old["preAuthRef"] and new["id"] != old["id"]
    # The policy's approval period (180 days) from the requested start, as for any request.
    assert item_answer(answer)["period"] == ("2027-06-07", "2027-12-03")
    with services.sessions() as session:
        renewed = session.scalar(
            select(Authorization).where(Authorization.pre_auth_ref == new["preAuthRef"])
        )
        previous = session.scalar(
            select(Authorization).where(Authorization.pre_auth_ref == old["preAuthRef"])
        )
        assert renewed is not None and previous is not None
        assert renewed.renews == previous.id
        (old_item,) = previous.items
        assert (old_item.status, old_item.superseded_by) == ("superseded", renewed.id)
        events = session.scalars(
            select(DecisionEvent.actor).where(DecisionEvent.authorization_id == previous.id)
        ).all()
        assert "provider:renewal" in events
    summary = client.get(f"/admin/authorizations/{new['preAuthRef']}").get_json()
    assert summary["renews"] == previous.id and summary["items"][0]["status"] == "active"
    old_summary = client.get(f"/admin/authorizations/{old['preAuthRef']}").get_json()
    assert old_summary["items"][0]["supersededBy"] == renewed.id
    # Both are found by $inquire: the old one as it was, the renewal with its own number.
    found = post(client, "/fhir/Claim/$inquire", inquiry_of(load(PSYCHOTHERAPY)))
    refs = [p["resource"]["entry"][0]["resource"]["preAuthRef"] for p in found["parameter"]]
    assert sorted(refs) == sorted([old["preAuthRef"], new["preAuthRef"]])


def test_a_renewal_of_a_denied_authorization_is_refused(client: FlaskClient) -> None:
    request = load("deny-cosmetic-hair-transplant.json")
    submit(client, request)
    answer = post(client, "/fhir/Claim/$submit", certification(update_of(request, 1), "R"))
    cr = answer["entry"][0]["resource"]
    assert cr["outcome"] == "error"
    assert cr["error"][0]["code"]["coding"][0]["code"] == "41"


def test_a_revision_is_decided_again_by_the_policy_under_the_same_number(
    client: FlaskClient,
) -> None:
    first = submit(client, load(PSYCHOTHERAPY))
    revision = certification(
        update_of(load(PSYCHOTHERAPY), 1, change={1: {"quantity": {"value": 15, "unit": "visit"}}}),
        "S",
    )
    answer = post(client, "/fhir/Claim/$submit", revision)
    assert review_actions(answer) == {1: "A1"}  # 15 visits: within the 20 at a time
    got = item_answer(answer)
    assert got["number"] == f"{first['preAuthRef']}-1" and got["quantity"] == 15


def test_inquire_shows_the_extended_period_and_units(client: FlaskClient) -> None:
    submit(client, load(PSYCHOTHERAPY))
    submit(client, load(EXTENSION))
    found = post(client, "/fhir/Claim/$inquire", inquiry_of(load(PSYCHOTHERAPY)))
    (bundle,) = [p["resource"] for p in found["parameter"]]
    got = item_answer(bundle)
    assert got["period"] == ("2026-12-09", "2027-11-30") and got["quantity"] == 40
    assert review_actions(bundle) == {1: "A1"}


def test_a_cancel_still_works_and_leaves_the_item_cancelled(
    client: FlaskClient, services: Services
) -> None:
    submit(client, load(PSYCHOTHERAPY))
    answer = post(client, "/fhir/Claim/$submit", update_of(load(PSYCHOTHERAPY), 1, cancel_all=True))
    assert answer["entry"][0]["resource"]["adjudication"][0]["reason"]["coding"][0]["code"] == "C"
    with services.sessions() as session:
        assert session.scalars(select(AuthorizationItem.status)).one() == "cancelled"
