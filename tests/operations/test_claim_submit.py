"""``claim_submit.submit``: a resubmission is answered from the store before any validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from fhirauth.errors import Forbidden, Invalid
from fhirauth.fhir import bundle
from fhirauth.fhir.bundle import parse_request, request_bundle
from fhirauth.operations import claim_submit
from fhirauth.principal import ANONYMOUS, Principal
from fhirauth.services import Services
from fhirauth.store import repository
from fhirauth.store.models import Authorization, Submission
from tests.conftest import EXAMPLES

NPI = "http://hl7.org/fhir/sid/us-npi"
# The requesting clinic of mixed-outcomes.json, as a registered client.
RIVERBEND = Principal("client-riverbend", (f"{NPI}|1268135906",), senders=("RIVERBENDMSC",))
REQUESTS = sorted(
    [
        *EXAMPLES.glob("*.json"),
        *(EXAMPLES / "errors").glob("*.json"),
        *(EXAMPLES / "updates").glob("*.json"),
    ]
)


def explode(*_: Any, **__: Any) -> Any:
    raise AssertionError("a resubmission must not be validated again")


def authorizations(services: Services) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(Authorization)) or 0


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: p.name)
def test_every_example_sent_again_is_a_replay_of_the_same_bytes(
    path: Path, services: Services
) -> None:
    raw = path.read_bytes()
    first = claim_submit.submit(raw, ANONYMOUS, services)
    assert not first.replayed
    # The hash read before validation is the one stored after it: nothing in between changes
    # the content.
    with services.sessions() as session:
        stored = session.scalars(select(Submission.content_hash)).one()
    assert stored == claim_submit.content_hash(request_bundle(raw))
    again = claim_submit.submit(raw, ANONYMOUS, services)
    assert again.replayed
    assert again.body == first.body
    assert again.authorization_id == first.authorization_id
    # Same content in another key order, and wrapped in Parameters: the same submission.
    data = json.loads(raw)
    reordered = json.dumps(dict(reversed(list(data.items()))), indent=2).encode()
    assert claim_submit.submit(reordered, ANONYMOUS, services).body == first.body
    wrapped = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": data}]}
    assert claim_submit.submit(wrapped, ANONYMOUS, services).body == first.body
    assert authorizations(services) == 1


@pytest.mark.parametrize("principal", [ANONYMOUS, RIVERBEND], ids=["anonymous", "client"])
def test_a_duplicate_is_answered_without_model_or_profile_validation(
    principal: Principal, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = (EXAMPLES / "mixed-outcomes.json").read_bytes()
    first = claim_submit.submit(raw, principal, services)
    monkeypatch.setattr(claim_submit, "validate_bundle", explode)
    monkeypatch.setattr(claim_submit, "decide_new", explode)
    monkeypatch.setattr(bundle, "validate_models", explode)
    again = claim_submit.submit(raw, principal, services)
    assert again.replayed and again.body == first.body


def test_a_replay_still_checks_the_submitters_registrations(services: Services) -> None:
    raw = (EXAMPLES / "mixed-outcomes.json").read_bytes()
    claim_submit.submit(raw, RIVERBEND, services)
    # The same client id, no longer registered for the sending system.
    narrowed = Principal(RIVERBEND.id, RIVERBEND.organizations)
    with pytest.raises(Forbidden) as refused:
        claim_submit.submit(raw, narrowed, services)
    assert "RIVERBENDMSC" in str(refused.value)


def test_a_replay_is_only_for_the_principal_that_sent_it(services: Services) -> None:
    raw = (EXAMPLES / "mixed-outcomes.json").read_bytes()
    mine = claim_submit.submit(raw, RIVERBEND, services)
    other = Principal("client-riverbend-2", RIVERBEND.organizations, senders=RIVERBEND.senders)
    theirs = claim_submit.submit(raw, other, services)
    assert not theirs.replayed
    assert theirs.authorization_id != mine.authorization_id


ODD_BODIES = [
    b"[]",
    b'"x"',
    b"null",
    b"1",
    b"{}",
    b'{"resourceType":"Bundle"}',
    b'{"resourceType":"Bundle","entry":[1, null, "x"]}',
    b'{"resourceType":"Parameters","parameter":[]}',
    b'{"resourceType":"Bundle","entry":[{"fullUrl":"urn:x","resource":{"resourceType":"Claim",'
    b'"use":"preauthorization","item":[{"sequence":true}]}}]}',
]


@pytest.mark.parametrize("body", ODD_BODIES)
def test_a_malformed_body_gets_the_issues_parsing_gives_it(body: bytes, services: Services) -> None:
    with pytest.raises(Invalid) as parsed:
        parse_request(body)
    with pytest.raises(Invalid) as submitted:
        claim_submit.submit(body, ANONYMOUS, services)
    assert submitted.value.issues == parsed.value.issues
    assert authorizations(services) == 0


def test_text_that_is_not_unicode_is_a_400_at_its_path(services: Services) -> None:
    request = json.loads((EXAMPLES / "mixed-outcomes.json").read_text())
    request["entry"][0]["resource"]["text"] = {
        "status": "generated",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml">\ud800</div>',
    }
    body = json.dumps(request).encode()  # "\ud800" as an escape: JSON lets it through
    for _ in range(2):  # nothing stored, so nothing to replay
        with pytest.raises(Invalid) as refused:
            claim_submit.submit(body, ANONYMOUS, services)
        (issue,) = refused.value.issues
        assert issue.code == "structure"
        assert issue.expression == ("Bundle.entry[0].resource.text.div",)
    assert authorizations(services) == 0


def test_the_same_content_stored_meanwhile_is_answered_from_the_store(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two identical requests at once: both look before either stores; the second to store
    meets the unique content hash and answers what the first stored."""
    raw = (EXAMPLES / "approve-ct-head.json").read_bytes()
    first = claim_submit.submit(raw, ANONYMOUS, services)
    find = repository.find_submission
    looks: list[str] = []

    def not_yet_on_the_first_look(*args: Any) -> Any:
        looks.append("look")
        return None if len(looks) == 1 else find(*args)

    monkeypatch.setattr(repository, "find_submission", not_yet_on_the_first_look)
    again = claim_submit.submit(raw, ANONYMOUS, services)
    assert looks == ["look", "look"]
    assert again.replayed and again.body == first.body
    assert authorizations(services) == 1
