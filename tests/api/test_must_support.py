"""Every must-support element of the PAS response profiles appears in some response we produce.

The conformance suite's response must-support tests (CONFORMANCE-TESTS.md, 3.1.3 and 3.2.3)
gather every ClaimResponse, CommunicationRequest and Task of all the session's ``$submit`` (or
``$inquire``) responses and fail unless each must-support element of the profile appears in at
least one of them. The suite counts only the answers to the tester's own bundles, so coverage
must hold twice: (a) across our examples, posted plainly, with the update sequence and
inquiries; (b) across the answers to one request posted once per sandbox outcome, its update
sequence and an inquiry, which is what a payer running the suite produces.

The must-support paths come from the IG package when ../shared holds it, else from our own
profiles, read so that they give the IG's paths for ClaimResponse (``SPELLED_OUT``): a bare
clone runs every test here. Elements that describe the member, the service or the stay are
echoed from the request, never invented (fhirauth/decision/items.py and response.py): a request
that does not carry them gets answers without them, which
``test_a_bare_request_misses_only_what_it_did_not_send`` pins.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from flask.testing import FlaskClient

from fhirauth import create_app
from fhirauth.clock import fixed_clock
from fhirauth.config import Settings
from fhirauth.conformance import Registry
from fhirauth.conformance.model import Element, Profile, unversioned
from fhirauth.decision.decide import Decision, ItemDecision
from fhirauth.decision.response import request_action
from fhirauth.services import Services
from tests.conftest import EXAMPLES, NOW
from tests.inquiries import inquiry_of
from tests.pas import PACKAGE, PAS, assert_conformant, assert_pas_response
from tests.updates import update_of

FHIR_JSON = "application/fhir+json"
# One request carrying every must-support element of the PAS Claim a response can echo, the
# way a tester's must-support payload does.
ORDINARY = "modify-wheelchair-nursing-facility.json"
# A request with none of the optional line details: what the answers to it cannot echo.
BARE = "approve-ct-head.json"
SANDBOX_OUTCOMES = ("A1", "A2", "A3", "A4", "A6", "NA", "CT", "error")
PROFILES = {
    "ClaimResponse": "profile-claimresponse",
    "ClaimInquiryResponse": "profile-claiminquiryresponse",
    "CommunicationRequest": "profile-communicationrequest",
    "Task": "profile-task",
}
# What an answer can only echo from the request (REQUIREMENTS.md §2.3): a request without it
# gets none, in the Claim Inquiry Response as in the ClaimResponse.
ECHOED_ONLY = {
    "ClaimResponse.identifier.extension:subDepartment",  # the Claim identifier's
    "ClaimResponse.identifier.extension:jurisdiction",
    "ClaimResponse.item.extension:admissionDates",  # supportingInfo admissionDates
    "ClaimResponse.item.extension:dischargeDate",  # supportingInfo dischargeDates
    "ClaimResponse.addItem.extension:nursingHomeResidentialStatus",  # the Claim item's ...
    "ClaimResponse.addItem.extension:nursingHomeLevelOfCare",
    "ClaimResponse.addItem.extension:productOrServiceCodeEnd",
    "ClaimResponse.addItem.extension:revenue",  # Claim.item.revenue
    "ClaimResponse.addItem.extension:revenueUnitRateLimit",
    "ClaimResponse.addItem.extension:requestedService",  # the order in the bundle
    "ClaimResponse.addItem.extension:admissionDates",
    "ClaimResponse.addItem.extension:dischargeDate",
    "ClaimResponse.addItem.modifier",
    "ClaimResponse.addItem.unitPrice",
}


# --- Must-support paths --------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One hop of an element path: a JSON key and, for a slice, what picks its members."""

    key: str
    picks: Callable[[Any], bool] | None = None


def registry() -> Registry:
    return Registry().load_package(PACKAGE) if PACKAGE.exists() else Registry().load_ours()


def _contains(value: Any, pattern: Any) -> bool:
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            _contains(value.get(k), v) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else []
        return all(any(_contains(v, p) for v in items) for p in pattern)
    return bool(value == pattern)


def _slice_filter(owner: Element, piece: Element) -> Callable[[Any], bool]:
    if owner.name in ("extension", "modifierExtension"):
        url = unversioned(piece.types[0].profiles[0])
        return lambda v: isinstance(v, dict) and v.get("url") == url
    assert owner.slicing is not None, owner.id
    wanted = []
    for d in owner.slicing.discriminators:
        child = piece.children[d.path]
        wanted.append((d.path, child.pattern or child.fixed))
    return lambda v: isinstance(v, dict) and all(_contains(v.get(p), w) for p, w in wanted)


# The data-type profiles whose must-support elements the IG's snapshots list under the elements
# typed with them (ClaimResponse.identifier.extension:subDepartment). Our profiles only name
# them, so without ../shared the walk goes there to find the same paths. (The IG does not
# spell out profile-quantity's under ClaimResponse.addItem.quantity, so neither does this.)
SPELLED_OUT = {PAS + "profile-identifier"}


def _type_profile(el: Element, reg: Registry | None) -> Profile | None:
    """The :data:`SPELLED_OUT` profile an element of one of our profiles is typed with."""
    if reg is None or el.children or el.slices or len(el.types) != 1:
        return None
    (ref,) = el.types
    if len(ref.profiles) != 1 or unversioned(ref.profiles[0]) not in SPELLED_OUT:
        return None
    return reg.get(unversioned(ref.profiles[0]))


def must_support(profile: Profile, reg: Registry | None = None) -> dict[str, tuple[Step, ...]]:
    """Element id → how to reach it in an instance, for every must-support element; with
    ``reg`` and a profile that is not a snapshot, through the data-type profiles its elements
    name (see :func:`_type_profile`). A snapshot says all it requires itself."""
    out: dict[str, tuple[Step, ...]] = {}
    if profile.complete:
        reg = None

    def walk(el: Element, steps: tuple[Step, ...], prefix: tuple[str, str] | None) -> None:
        def key(e: Element) -> str:  # the element's id as the profiled resource's snapshot has it
            return e.id if prefix is None else prefix[1] + e.id[len(prefix[0]) :]

        for name, child in el.children.items():
            here = (*steps, Step(name))
            if child.must_support:
                out[key(child)] = here
            walk(child, here, prefix)
            typed = _type_profile(child, reg)
            if typed is not None:
                walk(typed.root, here, (typed.root.id, key(child)))
            for piece in child.slices.values():
                there = (*steps, Step(name, _slice_filter(child, piece)))
                if piece.must_support:
                    out[key(piece)] = there
                walk(piece, there, prefix)

    walk(profile.root, (), None)
    return out


def _values(node: Any, steps: tuple[Step, ...]) -> Iterator[Any]:
    if not steps:
        yield node
        return
    step, rest = steps[0], steps[1:]
    if not isinstance(node, dict):
        return
    if step.key.endswith("[x]"):
        prefix = step.key[:-3]
        found = [
            v for k, v in node.items() if k.startswith(prefix) and k[len(prefix) :][:1].isupper()
        ]
    else:
        found = [node[step.key]] if step.key in node else []
    for value in found:
        for item in value if isinstance(value, list) else [value]:
            if step.picks is None or step.picks(item):
                yield from _values(item, rest)


def present(resource: dict[str, Any], steps: tuple[Step, ...]) -> bool:
    return any(v not in (None, {}, [], "") for v in _values(resource, steps))


def missing(kind: str, resources: list[dict[str, Any]], reg: Registry) -> set[str]:
    paths = must_support(reg.get(PAS + PROFILES[kind]), reg)
    assert paths, kind
    return {i for i, steps in paths.items() if not any(present(r, steps) for r in resources)}


# --- Collecting the answers -----------------------------------------------------------------------


@dataclass
class Answers:
    """The resources of every response, by the profile they are checked against."""

    submitted: list[dict[str, Any]]  # $submit response Bundles
    inquired: list[dict[str, Any]]  # inquiry response Bundles (Parameters.parameter.resource)

    def of(self, kind: str) -> list[dict[str, Any]]:
        if kind == "ClaimInquiryResponse":
            return self._in(self.inquired, "ClaimResponse")
        if kind == "Task":  # both the $submit and the $inquire Task tests
            return self._in(self.submitted, "Task")
        return self._in(self.submitted, kind)

    @staticmethod
    def _in(bundles: list[dict[str, Any]], rtype: str) -> list[dict[str, Any]]:
        return [
            e["resource"]
            for b in bundles
            for e in b["entry"]
            if e["resource"]["resourceType"] == rtype
        ]


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


class Session:
    """A client posting as the suite does, keeping every answer, each checked as it comes."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.answers = Answers([], [])

    def submit(self, bundle: dict[str, Any], outcome: str | None = None) -> dict[str, Any]:
        if outcome:
            resp = self.client.post("/admin/sandbox/scripts", json={"outcome": outcome})
            assert resp.status_code in (200, 201), resp.get_json()
        resp = self.client.post(
            "/fhir/Claim/$submit", data=json.dumps(bundle), content_type=FHIR_JSON
        )
        assert resp.status_code == 200, resp.data[:400]
        body = resp.get_json()
        cr = body["entry"][0]["resource"]
        items = bundle["entry"][0]["resource"].get("item")
        if cr["outcome"] == "complete" and items:
            assert_pas_response(body, bundle)
        else:
            assert_conformant(body)
        self.answers.submitted.append(body)
        return body

    def inquire(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        resp = self.client.post(
            "/fhir/Claim/$inquire", data=json.dumps(inquiry_of(request)), content_type=FHIR_JSON
        )
        assert resp.status_code == 200, resp.data[:400]
        found = [p["resource"] for p in resp.get_json().get("parameter", [])]
        assert found, "the inquiry finds the member's requests"
        for bundle in found:
            assert_conformant(bundle)
        self.answers.inquired += found
        return found

    def update_sequence(self, request: dict[str, Any], outcome: str | None = None) -> None:
        """The suite's four steps: the request, an added item, one item modified and one
        cancelled, the whole request cancelled; an inquiry after the third. The request
        gets its own identifiers, as a new request does (its TRN finds the authorization)."""
        request = renamed(request, "U")
        self.submit(request, outcome)
        added = copy_item(request)
        second = update_of(request, 1, add=[added])
        self.submit(second, outcome)
        quantity = {"value": 3, "unit": "unit"}
        third = update_of(second, 2, change={1: {"quantity": quantity}}, cancel=(2,))
        self.submit(third, outcome)
        self.inquire(third)
        self.submit(update_of(third, 3, cancel_all=True))


def renamed(request: dict[str, Any], tag: str) -> dict[str, Any]:
    """The same request under a new Claim identifier and Bundle identifier."""
    bundle = json.loads(json.dumps(request))
    claim = bundle["entry"][0]["resource"]
    claim["identifier"][0]["value"] += f"-{tag}"
    value = bundle["identifier"]["value"]
    bundle["identifier"]["value"] = (
        f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, value + tag)}"
        if value.startswith("urn:uuid:")
        else f"{value}-{tag}"
    )
    return bundle


def copy_item(request: dict[str, Any]) -> dict[str, Any]:
    """A second line like the request's first, as an EHR adds one in an update."""
    claim = request["entry"][0]["resource"]
    item = json.loads(json.dumps(claim["item"][0]))
    item["sequence"] = max(i["sequence"] for i in claim["item"]) + 1
    item["extension"] = [
        e for e in item.get("extension", []) if e["url"] != PAS + "extension-itemTraceNumber"
    ]
    return item


@pytest.fixture
def sandbox_client(settings: Settings) -> Iterator[FlaskClient]:
    services = Services.build(replace(settings, sandbox=True), clock=fixed_clock(NOW))
    app = create_app(services=services)
    app.config["TESTING"] = False
    yield app.test_client()
    services.engine.dispose()


def every_example(client: FlaskClient) -> Answers:
    """(a): every example posted plainly, an inquiry after each, the update sequence."""
    session = Session(client)
    names = [*sorted(p.name for p in EXAMPLES.glob("*.json")), "errors/error-coverage-ended.json"]
    for name in names:
        request = load(name)
        session.submit(request)
        session.inquire(request)
    session.update_sequence(load(ORDINARY))
    # A refused update: a denied request cannot be updated (outcome error, X12 901 41).
    denied = load("deny-cosmetic-hair-transplant.json")
    session.submit(update_of(denied, 1, change={1: {"quantity": {"value": 2, "unit": "unit"}}}))
    session.inquire(denied)
    return session.answers


def every_outcome(client: FlaskClient, name: str) -> Answers:
    """(b): one request posted once per sandbox outcome, its update sequence, an inquiry."""
    session = Session(client)
    request = load(name)
    for outcome in SANDBOX_OUTCOMES:
        session.submit(request, outcome)
    session.update_sequence(request, "A6")
    session.inquire(request)
    return session.answers


# --- The tests -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reg() -> Registry:
    return registry()


def test_the_must_support_paths_are_the_profiles(reg: Registry) -> None:
    claim_response = must_support(reg.get(PAS + PROFILES["ClaimResponse"]))
    for path in (
        "ClaimResponse.extension:transmissionIdentifiers",
        "ClaimResponse.error.extension:errorElement",
        "ClaimResponse.request.extension:DataAbsentReason",
        "ClaimResponse.addItem.provider.extension:providerType",
        "ClaimResponse.communicationRequest",
    ):
        assert path in claim_response
    task = must_support(reg.get(PAS + PROFILES["Task"]))
    assert "Task.input:QuestionnaireContext.value[x]" in task
    assert "Task.restriction.period" in task


@pytest.mark.parametrize("kind", list(PROFILES))
def test_every_must_support_element_appears_across_our_examples(
    client: FlaskClient, reg: Registry, kind: str
) -> None:
    answers = every_example(client)
    resources = answers.of(kind)
    assert resources, kind
    assert missing(kind, resources, reg) == set()
    if kind == "Task":  # the $inquire Task test too
        inquired = Answers._in(answers.inquired, "Task")
        assert inquired and missing("Task", inquired, reg) == set()


@pytest.mark.parametrize("kind", list(PROFILES))
def test_every_must_support_element_is_reachable_through_the_sandbox(
    sandbox_client: FlaskClient, reg: Registry, kind: str
) -> None:
    answers = every_outcome(sandbox_client, ORDINARY)
    resources = answers.of(kind)
    assert resources, kind
    assert missing(kind, resources, reg) == set()
    if kind == "Task":
        inquired = Answers._in(answers.inquired, "Task")
        assert inquired and missing("Task", inquired, reg) == set()


def test_a_bare_request_misses_only_what_it_did_not_send(
    sandbox_client: FlaskClient, reg: Registry
) -> None:
    """The same sandbox run over a request without optional line details: every payer-owned
    element is there; only what the answers echo from the request is not."""
    answers = every_outcome(sandbox_client, BARE)
    assert missing("ClaimResponse", answers.of("ClaimResponse"), reg) == ECHOED_ONLY
    assert missing("ClaimInquiryResponse", answers.of("ClaimInquiryResponse"), reg) == ECHOED_ONLY
    assert missing("CommunicationRequest", answers.of("CommunicationRequest"), reg) == set()
    assert missing("Task", answers.of("Task"), reg) == set()


# --- What the elements say -----------------------------------------------------------------------


def _ext(node: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [e for e in node.get("extension", []) if e["url"] == PAS + name]


def test_transmission_identifiers_are_the_requests_with_sender_and_receiver_swapped(
    client: FlaskClient,
) -> None:
    request = load(ORDINARY)
    cr = Session(client).submit(request)["entry"][0]["resource"]
    sent = _ext(request["entry"][0]["resource"], "extension-TransmissionIdentifiers")[0]
    (back,) = _ext(cr, "extension-TransmissionIdentifiers")
    given = {e["url"]: e["valueString"] for e in sent["extension"]}
    assert {e["url"]: e["valueString"] for e in back["extension"]} == {
        "applicationSenderCode": given["applicationReceiverCode"],
        "applicationReceiverCode": given["applicationSenderCode"],
        "interchangeSenderID": given["interchangeReceiverID"],
        "interchangeReceiverID": given["interchangeSenderID"],
    }


def test_an_error_names_its_fhir_element_and_links_the_note_that_explains_it(
    client: FlaskClient,
) -> None:
    cr = Session(client).submit(load("errors/error-coverage-ended.json"))["entry"][0]["resource"]
    (error,) = cr["error"]
    (element,) = _ext(error, "extension-errorElement")
    parts = {e["url"]: e for e in element["extension"]}
    assert parts["error"]["valueString"] == "Coverage.period"  # FHIR-native, not 2010C-NM1
    notes = {n["number"]: n["text"] for n in cr["processNote"]}
    assert notes[parts["processNote"]["valuePositiveInt"]] == error["code"]["text"]


def test_a_scripted_pend_gets_one_task_per_line_with_both_kinds_of_request(
    sandbox_client: FlaskClient,
) -> None:
    bundle = Session(sandbox_client).submit(load(BARE), "A4")
    cr = bundle["entry"][0]["resource"]
    (task,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Task"]
    kinds = [i["type"]["coding"][0]["code"] for i in task["input"]]
    assert kinds == ["payer-url", "attachments-needed", "questionnaire-context"]
    (trace,) = [
        e["valueIdentifier"]["value"]
        for e in _ext(cr["item"][0], "extension-itemTraceNumber")
        if e["valueIdentifier"]["value"].startswith(cr["preAuthRef"])
    ]
    assert task["input"][2]["valueString"] == trace  # the DTR context id is the line's TRN
    assert len(task["basedOn"]) == len(cr["communicationRequest"]) == 2
    assert task["owner"]["identifier"]["system"] == "http://hl7.org/fhir/sid/us-npi"


def test_an_inquiry_response_gives_one_diagnosis_per_line_and_the_outstanding_tasks(
    client: FlaskClient,
) -> None:
    session = Session(client)
    request = load("pend-knee-needs-note.json")
    session.submit(request)
    (found,) = session.inquire(request)
    cr = found["entry"][0]["resource"]
    assert len(_ext(cr["item"][0], "extension-communicatedDiagnosis")) == 1  # 0..1 there
    kinds = [e["resource"]["resourceType"] for e in found["entry"]]
    assert "Task" in kinds and "CommunicationRequest" not in kinds


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        (["A1", "A1"], "A1"),
        (["NA", "A1", "A4", "A3"], "A4"),
        (["A1", "A3"], "A2"),
        (["A1", "A6"], "A6"),
        (["A2", "A6"], "A2"),
        (["A3", "CT"], "CT"),
        (["NA", "NA"], "NA"),
        (["C", "NA"], "C"),
        (["A1", "C"], "A1"),
    ],
)
def test_the_request_level_review_action(actions: list[str], expected: str) -> None:
    items = tuple(ItemDecision(n, a, None) for n, a in enumerate(actions, start=1))
    assert request_action(Decision("PA1", NOW, items)) == expected
