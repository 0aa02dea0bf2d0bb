"""Subscription rules, ownership and topic matching, without HTTP."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.subscription import Subscription as R4Subscription
from sqlalchemy import select

from fhirauth.errors import FhirError, NotFound
from fhirauth.fhir.bundle import parse_request
from fhirauth.notifications import outbox
from fhirauth.notifications.settings import NotificationSettings
from fhirauth.notifications.topic import (
    PAYLOAD_CONTENT,
    FilterError,
    matches,
    parse_filter,
    request_keys,
)
from fhirauth.operations import subscription as ops
from fhirauth.principal import ANONYMOUS, Principal
from fhirauth.services import Services
from fhirauth.store.models import OutboxEvent, Subscription
from tests.conftest import EXAMPLES
from tests.notifications.helpers import RULES, TestClock, broken, subscription

pytest_plugins = ("tests.notifications.fixtures",)

ENDPOINT = "https://ehr.example.org/pas-notify"
# Each client is registered for the organizations its subscriptions name (spec-59).
_ORGS = ("NSNEURO", "SOMEONE-ELSE", "A", "B", "C", "http://hl7.org/fhir/sid/us-npi|1752039689")
ALICE = Principal("client-alice", _ORGS)
BOB = Principal("client-bob", _ORGS)
STRICT = NotificationSettings()
NPI = "http://hl7.org/fhir/sid/us-npi"


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


# --- filters and matching ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("org-identifier=N123456", ["N123456"]),
        ("org-identifier=N123456,4543315", ["N123456", "4543315"]),
        ("orgIdentifier=1234567893", ["1234567893"]),
        ("identifier=1234567893", ["1234567893"]),
        ("ClaimResponse?org-identifier=A1", ["A1"]),
        (f"org-identifier={NPI}|1752039689", [f"{NPI}|1752039689"]),
    ],
)
def test_filter_spellings(text: str, values: list[str]) -> None:
    assert parse_filter(text) == values


@pytest.mark.parametrize(
    "text",
    ["patient=123", "org-identifier=", "org-identifier=A,,B", "org-identifier=A B", "A1", ""],
)
def test_filters_we_cannot_honour(text: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(text)


def test_request_keys_organization_provider() -> None:
    keys = request_keys(parse_request(load("pend-mri-brain.json")))
    assert keys.sender == "NSNEURO"
    assert keys.requestor == {"1752039689", f"{NPI}|1752039689"}
    assert matches(["NSNEURO"], keys)
    assert matches([f"{NPI}|1752039689"], keys)
    assert matches(["other", "1752039689"], keys)
    assert not matches(["urn:other|1752039689", "1558244418"], keys)  # 1558244418: the insurer


def _practitioner_role_request() -> dict[str, Any]:
    """The MRI request, sent by a PractitionerRole at the organization."""
    bundle = load("pend-mri-brain.json")
    for e in bundle["entry"]:
        if e["resource"]["resourceType"] == "PractitionerRole":
            role = e
    claim = bundle["entry"][0]["resource"]
    claim["provider"] = {"reference": "PractitionerRole/" + role["resource"]["id"]}
    role["resource"]["organization"] = {"reference": "Organization/nsna"}
    claim["extension"] = [e for e in claim["extension"] if "Transmission" not in e["url"]]
    return bundle


def test_request_keys_practitioner_role_provider() -> None:
    keys = request_keys(parse_request(_practitioner_role_request()))
    assert keys.sender is None
    assert keys.requestor == {"1752039689", f"{NPI}|1752039689"}


# --- the Subscription rules ------------------------------------------------------------------


def test_parse_accepts_a_pas_subscription() -> None:
    spec = ops.parse(
        subscription(ENDPOINT, filters=("org-identifier=A,B", "orgIdentifier=B,C")), STRICT
    )
    assert spec.filters == ("A", "B", "C")
    assert spec.endpoint == ENDPOINT
    assert spec.headers == ("Authorization: Bearer notify-token-1",)
    assert not spec.off
    assert "status" not in spec.resource


@pytest.mark.parametrize("change", RULES)
def test_parse_rejects(change: str) -> None:
    body, status, path = broken(change)
    with pytest.raises(FhirError) as caught:
        ops.parse(body, STRICT)
    assert caught.value.status == status
    assert [i.expression for i in caught.value.issues] == [(path,)]


def test_parse_rejects_what_is_not_a_subscription() -> None:
    for body in (b"{", b"[]", b'{"resourceType": "Claim"}'):
        with pytest.raises(FhirError) as caught:
            ops.parse(body, STRICT)
        assert caught.value.status == 400


def test_http_endpoints_when_allowed() -> None:
    spec = ops.parse(
        subscription("http://inferno:4567/notify"), NotificationSettings(allow_http=True)
    )
    assert spec.endpoint == "http://inferno:4567/notify"


LOOPBACK_ENDPOINTS = [
    "https://localhost/notify",
    "https://LOCALHOST./notify",
    "https://ehr.localhost:8443/notify",
    "https://EHR.LocalHost./notify",
    "https://127.0.0.1/notify",
    "https://127.1/notify",
    "https://2130706433/notify",
    "https://[::1]/notify",
    "https://[::ffff:127.0.0.1]/notify",
]
PRIVATE_ENDPOINTS = [
    "https://10.0.0.8/notify",
    "https://169.254.169.254/latest/meta-data",
    "https://[fd00::1]/notify",
    "https://[::ffff:10.0.0.8]/notify",
    "https://[::10.0.0.8]/notify",  # IPv4-compatible
    "https://[2002:a00:8::]/notify",  # 6to4 around 10.0.0.8
    "https://[2002:7f00:1::]/notify",  # 6to4 around 127.0.0.1
    "https://[64:ff9b::a9fe:a9fe]/notify",  # NAT64 around 169.254.169.254
    "https://[64:ff9b::127.0.0.1]/notify",  # NAT64 around 127.0.0.1
    "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/notify",  # Teredo
]


@pytest.mark.parametrize("endpoint", LOOPBACK_ENDPOINTS + PRIVATE_ENDPOINTS)
def test_endpoints_we_never_call_are_refused(endpoint: str) -> None:
    with pytest.raises(FhirError) as caught:
        ops.parse(subscription(endpoint), STRICT)
    assert caught.value.status == 422
    [issue] = caught.value.issues
    assert issue.code == "security"
    assert issue.expression == ("Subscription.channel.endpoint",)


@pytest.mark.parametrize("endpoint", LOOPBACK_ENDPOINTS)
def test_loopback_endpoints_when_allowed(endpoint: str) -> None:
    """FHIRAUTH_NOTIFY_ALLOW_LOOPBACK, for tests and local harnesses."""
    assert ops.parse(subscription(endpoint), NotificationSettings(allow_loopback=True))


@pytest.mark.parametrize("endpoint", PRIVATE_ENDPOINTS)
def test_private_endpoints_even_when_loopback_is_allowed(endpoint: str) -> None:
    with pytest.raises(FhirError) as caught:
        ops.parse(subscription(endpoint), NotificationSettings(allow_loopback=True))
    assert caught.value.issues[0].expression == ("Subscription.channel.endpoint",)


def test_public_endpoints_are_taken() -> None:
    for endpoint in (
        "https://ehr.example.org/notify",
        "https://ehr.example.org./notify",
        "https://localhost.ehr.example.org/notify",
        "https://93.184.216.34/notify",
        "https://[2606:4700::1111]/notify",
        "https://[2002:5db8:d822::1]/notify",  # 6to4 around a public address
    ):
        assert ops.parse(subscription(endpoint), STRICT).endpoint == endpoint


def test_header_problems_are_all_reported_at_their_index() -> None:
    body = subscription(
        ENDPOINT, headers=("X-A: 1", "X-B: a\r\nHost: evil", "Host: evil", "X-C: \x00")
    )
    body["channel"]["endpoint"] = "https://10.0.0.1/notify"  # a 422 on its own
    with pytest.raises(FhirError) as caught:
        ops.parse(body, STRICT)
    assert caught.value.status == 400  # an unsafe header makes it a malformed request
    assert [i.expression for i in caught.value.issues] == [
        ("Subscription.channel.endpoint",),
        ("Subscription.channel.header[1]",),
        ("Subscription.channel.header[2]",),
        ("Subscription.channel.header[3]",),
    ]


def test_headers_are_stored_trimmed() -> None:
    spec = ops.parse(subscription(ENDPOINT, headers=("  X-A :  b  ", "X-Empty:")), STRICT)
    assert spec.headers == ("X-A: b", "X-Empty: ")


def test_update_checks_headers_like_create(nservices: Services) -> None:
    sub_id = ops.create(subscription(ENDPOINT), ALICE, nservices).id
    for version in ("2.2.1", "2.0.1"):
        body = {**subscription(ENDPOINT, headers=("X-A: 1\r\nX-B: 2",)), "id": sub_id}
        with pytest.raises(FhirError) as caught:
            ops.update(sub_id, body, ALICE, nservices, version)
        assert caught.value.status == 400
        assert caught.value.issues[0].expression == ("Subscription.channel.header[0]",)
    assert ops.read(sub_id, ALICE, nservices).resource["meta"]["versionId"] == "1"


# --- create, read, update, delete, $status --------------------------------------------------


def test_create_read_and_render(nservices: Services) -> None:
    stored = ops.create(subscription(ENDPOINT), ALICE, nservices)
    sub = stored.resource
    R4Subscription.model_validate(sub)
    assert sub["status"] == "requested" and sub["meta"]["versionId"] == "1"
    assert sub["channel"]["endpoint"] == ENDPOINT
    assert ops.read(stored.id, ALICE, nservices).resource == sub
    with nservices.sessions() as session:
        queued = session.scalars(select(OutboxEvent)).all()
    assert [(e.kind, e.event_number, e.status) for e in queued] == [("handshake", 0, "pending")]


def test_only_the_owner_sees_or_changes_a_subscription(nservices: Services) -> None:
    stored = ops.create(subscription(ENDPOINT), ALICE, nservices)
    with pytest.raises(NotFound):
        ops.read(stored.id, BOB, nservices)
    with pytest.raises(NotFound):
        ops.update(stored.id, subscription(ENDPOINT), BOB, nservices)
    with pytest.raises(NotFound):
        ops.status(stored.id, BOB, nservices)
    with pytest.raises(NotFound):
        ops.remove(stored.id, BOB, nservices)
    assert ops.status_all(BOB, nservices)["total"] == 0
    assert ops.read(stored.id, ALICE, nservices).resource["status"] == "requested"


def test_update_asks_for_a_new_handshake_and_off_pauses(nservices: Services) -> None:
    stored = ops.create(subscription(ENDPOINT), ALICE, nservices)
    body = {**subscription(ENDPOINT + "/v2"), "id": stored.id}
    again = ops.update(stored.id, body, ALICE, nservices)
    assert again.version == 2 and again.resource["channel"]["endpoint"] == ENDPOINT + "/v2"
    off = ops.update(stored.id, {**body, "status": "off"}, ALICE, nservices)
    assert off.resource["status"] == "off"
    with nservices.sessions() as session:
        rows = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
    assert [r.status for r in rows] == ["superseded", "superseded"]
    with pytest.raises(FhirError) as caught:
        ops.update(stored.id, {**body, "id": "other"}, ALICE, nservices)
    assert caught.value.issues[0].expression == ("Subscription.id",)


def test_delete_forgets_the_queue(nservices: Services) -> None:
    stored = ops.create(subscription(ENDPOINT), ALICE, nservices)
    ops.remove(stored.id, ALICE, nservices)
    with pytest.raises(NotFound):
        ops.read(stored.id, ALICE, nservices)
    with nservices.sessions() as session:
        assert session.scalars(select(OutboxEvent)).all() == []


def test_status_operation(nservices: Services) -> None:
    one = ops.create(subscription(ENDPOINT), ALICE, nservices)
    ops.create(subscription(ENDPOINT), ALICE, nservices)
    bundle = ops.status(one.id, ALICE, nservices)
    Bundle.model_validate(bundle)
    assert bundle["type"] == "searchset" and bundle["total"] == 1
    params = bundle["entry"][0]["resource"]
    Parameters.model_validate(params)
    by_name = {p["name"]: p for p in params["parameter"]}
    assert by_name["type"]["valueCode"] == "query-status"
    assert by_name["status"]["valueCode"] == "requested"
    assert by_name["events-since-subscription-start"]["valueString"] == "0"
    assert by_name["subscription"]["valueReference"]["reference"].endswith(
        f"/Subscription/{one.id}"
    )
    assert ops.status_all(ALICE, nservices)["total"] == 2
    assert ops.status_all(ALICE, nservices, ids=[one.id])["total"] == 1
    assert ops.status_all(ALICE, nservices, statuses=["active"])["total"] == 0


# --- record_change ---------------------------------------------------------------------------


def _activate(services: Services, sub_id: str) -> None:
    with services.sessions.begin() as session:
        sub = session.get(Subscription, sub_id)
        assert sub is not None
        sub.status = "active"


def test_record_change_queues_one_event_per_matching_subscription(
    nservices: Services, clock: TestClock
) -> None:
    req = parse_request(load("pend-mri-brain.json"))
    by_sender = ops.create(subscription(ENDPOINT), ALICE, nservices).id
    by_npi = ops.create(
        subscription(ENDPOINT, filters=(f"orgIdentifier={NPI}|1752039689",)), BOB, nservices
    ).id
    ops.create(subscription(ENDPOINT, filters=("org-identifier=SOMEONE-ELSE",)), ALICE, nservices)
    paused = ops.create(subscription(ENDPOINT), ALICE, nservices).id
    ops.update(paused, {**subscription(ENDPOINT), "status": "off"}, ALICE, nservices)
    ended = ops.create(
        subscription(ENDPOINT, end=(clock() - timedelta(days=1)).isoformat()), ALICE, nservices
    ).id
    for sub_id in (by_sender, by_npi, ended):
        _activate(nservices, sub_id)

    for n in range(2):
        with nservices.sessions.begin() as session:
            count = outbox.record_change(
                session,
                authorization_id=f"auth-{n}",
                request=req,
                response_bundle=b'{"resourceType":"Bundle","type":"collection"}',
                at=clock(),
            )
        assert count == 2
    with nservices.sessions() as session:
        events = session.scalars(
            select(OutboxEvent).where(OutboxEvent.kind == "event-notification")
        ).all()
        subs = {s.id: s for s in session.scalars(select(Subscription))}
    got = sorted((e.subscription_id, e.event_number, e.authorization_id) for e in events)
    assert got == sorted([(s, n + 1, f"auth-{n}") for s in (by_sender, by_npi) for n in range(2)])
    assert subs[by_sender].events_since_start == 2 and subs[paused].events_since_start == 0


def test_record_change_without_subscriptions_is_cheap(nservices: Services) -> None:
    req = parse_request(load("pend-mri-brain.json"))
    with nservices.sessions.begin() as session:
        assert (
            outbox.record_change(
                session,
                authorization_id="a",
                request=req,
                response_bundle=b"{}",
                at=nservices.clock(),
            )
            == 0
        )


def test_record_change_for_a_practitioner_role_requestor(nservices: Services) -> None:
    sub_id = ops.create(
        subscription(ENDPOINT, filters=("org-identifier=1752039689",)), ALICE, nservices
    ).id
    _activate(nservices, sub_id)
    req = parse_request(_practitioner_role_request())
    with nservices.sessions.begin() as session:
        assert outbox.record_change(
            session, authorization_id="a", request=req, response_bundle=b"{}", at=nservices.clock()
        )


def test_a_filter_may_name_only_the_clients_own_organizations(nservices: Services) -> None:
    from fhirauth.errors import Forbidden

    carol = Principal("client-carol", ("http://hl7.org/fhir/sid/us-npi|1952488215",))
    with pytest.raises(Forbidden):
        ops.create(subscription(ENDPOINT, filters=("org-identifier=NSNEURO",)), carol, nservices)
    made = ops.create(
        subscription(ENDPOINT, filters=("org-identifier=1952488215",)), carol, nservices
    )
    assert made.resource["status"] == "requested"


# --- PAS 2.0.1: id-only and the identifier= filter -------------------------------------------

V221_CONTENT = (
    "PAS notifications carry the full response Bundle: the payload needs exactly "
    "one backport-payload-content extension with the code full-resource"
)
BACKPORT_SUBSCRIPTION = (
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription"
)


def test_id_only_is_what_pas_201_asks_for() -> None:
    spec = ops.parse(
        subscription(ENDPOINT, filters=("identifier=1752039689",), content="id-only"),
        STRICT,
        "2.0.1",
    )
    assert (spec.content, spec.pas_version, spec.filters) == ("id-only", "2.0.1", ("1752039689",))
    full = ops.parse(
        subscription(ENDPOINT, filters=("org-identifier=NSNEURO",)), STRICT, pas_version="2.0.1"
    )
    assert (full.content, full.pas_version, full.filters) == (
        "full-resource",
        "2.0.1",
        ("NSNEURO",),
    )


def test_id_only_is_refused_through_the_221_base_as_before() -> None:
    body = subscription(ENDPOINT, filters=("identifier=1752039689",), content="id-only")
    for args in ((), ("2.2.1",)):
        with pytest.raises(FhirError) as caught:
            ops.parse(body, STRICT, *args)
        assert caught.value.status == 422
        (issue,) = caught.value.issues
        assert issue.diagnostics == V221_CONTENT
        assert issue.expression == (f"Subscription.channel.payload.extension('{PAYLOAD_CONTENT}')",)
    spec = ops.parse(subscription(ENDPOINT, filters=("identifier=1752039689",)), STRICT)
    assert (spec.content, spec.pas_version, spec.filters) == (
        "full-resource",
        "2.2.1",
        ("1752039689",),
    )


@pytest.mark.parametrize(
    "contents", [[], ["empty"], ["id-only", "full-resource"], ["id-only", "id-only"]]
)
def test_pas_201_payload_contents_we_refuse(contents: list[str]) -> None:
    body = subscription(ENDPOINT, filters=("identifier=1752039689",))
    body["channel"]["_payload"]["extension"] = [
        {"url": PAYLOAD_CONTENT, "valueCode": c} for c in contents
    ]
    if not contents:  # no content given; an empty JSON array is not FHIR JSON (a 400)
        del body["channel"]["_payload"]
    with pytest.raises(FhirError) as caught:
        ops.parse(body, STRICT, "2.0.1")
    assert caught.value.status == 422
    (issue,) = caught.value.issues
    assert issue.code == ("required" if not contents else "not-supported")
    assert "id-only" in issue.diagnostics


def test_pas_201_filter_messages_speak_of_identifier() -> None:
    body = subscription(ENDPOINT, filters=("patient=Patient/1",), content="id-only")
    with pytest.raises(FhirError) as caught:
        ops.parse(body, STRICT, "2.0.1")
    assert "'identifier=<identifier>" in caught.value.issues[0].diagnostics
    del body["_criteria"]
    with pytest.raises(FhirError) as caught:
        ops.parse(body, STRICT, "2.0.1")
    assert "'identifier=N123456'" in caught.value.issues[0].diagnostics


def test_unknown_pas_version() -> None:
    with pytest.raises(ValueError):
        ops.parse(subscription(ENDPOINT), STRICT, "3.0.0")


def test_a_201_subscription_is_stored_and_rendered_as_made(nservices: Services) -> None:
    body = subscription(ENDPOINT, filters=("identifier=1752039689",), content="id-only")
    stored = ops.create(body, ALICE, nservices, pas_version="2.0.1")
    sub = stored.resource
    R4Subscription.model_validate(sub)
    assert sub["meta"]["profile"] == [BACKPORT_SUBSCRIPTION]
    assert sub["channel"]["_payload"] == body["channel"]["_payload"]
    assert sub["_criteria"] == body["_criteria"]
    assert ops.read(stored.id, ALICE, nservices).resource == sub
    with nservices.sessions() as session:
        row = session.get(Subscription, stored.id)
        assert row is not None
        assert (row.pas_version, row.payload_content) == ("2.0.1", "id-only")
    bundle = ops.status(stored.id, ALICE, nservices)
    Bundle.model_validate(bundle)
    assert bundle["total"] == 1

    # Through the 2.2.1 base it follows 2.2.1's rules: id-only is refused, full-resource taken.
    with pytest.raises(FhirError) as caught:
        ops.update(stored.id, {**body, "id": stored.id}, ALICE, nservices)
    assert caught.value.status == 422
    again = ops.update(stored.id, subscription(ENDPOINT), ALICE, nservices)
    assert again.resource["meta"]["profile"] == [ops.PROFILE]
    with nservices.sessions() as session:
        row = session.get(Subscription, stored.id)
        assert row is not None
        assert (row.pas_version, row.payload_content) == ("2.2.1", "full-resource")


def test_a_221_subscription_keeps_its_defaults(nservices: Services) -> None:
    stored = ops.create(subscription(ENDPOINT), ALICE, nservices)
    assert stored.resource["meta"]["profile"] == [ops.PROFILE]
    with nservices.sessions() as session:
        row = session.get(Subscription, stored.id)
        assert row is not None
        assert (row.pas_version, row.payload_content) == ("2.2.1", "full-resource")


@pytest.mark.parametrize(
    ("value", "matched"),
    [
        ("1752039689", True),  # the requestor organization's NPI
        (f"{NPI}|1752039689", True),
        ("NSNEURO", True),  # the sending system, as org-identifier= would match
        ("urn:other|1752039689", False),
        ("1558244418", False),  # the insurer
    ],
)
def test_identifier_filters_match_like_org_identifier(
    nservices: Services, value: str, matched: bool
) -> None:
    body = subscription(ENDPOINT, filters=(f"identifier={value}",), content="id-only")
    sub_id = ops.create(body, ANONYMOUS, nservices, pas_version="2.0.1").id
    _activate(nservices, sub_id)
    req = parse_request(load("pend-mri-brain.json"))
    with nservices.sessions.begin() as session:
        count = outbox.record_change(
            session, authorization_id="a", request=req, response_bundle=b"{}", at=nservices.clock()
        )
    assert count == int(matched)
    assert matches([value], request_keys(req)) is matched
