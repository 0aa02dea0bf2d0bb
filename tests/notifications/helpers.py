"""A real rest-hook receiver on 127.0.0.1, a clock tests can move, and Subscription builders."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from flask.testing import FlaskClient
from sqlalchemy import select

from fhirauth.fhir.bundle import parse_request
from fhirauth.notifications import outbox
from fhirauth.notifications.topic import FILTER_CRITERIA, PAS_TOPIC, PAYLOAD_CONTENT
from fhirauth.services import Services
from fhirauth.store.models import Authorization
from tests.conftest import EXAMPLES
from tests.pas import review_actions

FHIR_JSON = "application/fhir+json"
WAIT = 20.0  # the longest any test waits for something to arrive


class TestClock:
    """Starts at the real time (so worker processes on the system clock agree) and moves only
    when told to."""

    __test__ = False

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += timedelta(seconds=seconds)


@dataclass
class Arrival:
    path: str
    headers: dict[str, str]
    body: bytes
    started: float
    ended: float | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def params(self) -> dict[str, Any]:
        """The SubscriptionStatus parameters by name (notification-event parts flattened)."""
        status = self.json["entry"][0]["resource"]
        out: dict[str, Any] = {}
        for p in status["parameter"]:
            if p["name"] == "notification-event":
                out["notification-event"] = {
                    part["name"]: next(v for k, v in part.items() if k.startswith("value"))
                    for part in p["part"]
                }
            else:
                out[p["name"]] = next(v for k, v in p.items() if k.startswith("value"))
        return out

    @property
    def kind(self) -> str:
        return self.params["type"]

    @property
    def subscription_id(self) -> str:
        return self.params["subscription"]["reference"].rsplit("/", 1)[-1]

    @property
    def event_number(self) -> int:
        return int(self.params["notification-event"]["event-number"])


# What the receiver answers: a status code (and optional headers), after anything it likes.
Behaviour = Callable[[Arrival], "int | tuple[int, dict[str, str]]"]


@dataclass
class Receiver:
    """A threaded HTTP server that records every POST and answers as ``behaviour`` says."""

    behaviour: Behaviour = field(default=lambda _a: 200)
    arrivals: list[Arrival] = field(default_factory=list)
    # Per subscription: requests being handled right now, and the most at once.
    in_flight: dict[str, int] = field(default_factory=dict)
    overlaps: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                arrival = Arrival(
                    self.path, dict(self.headers.items()), self.rfile.read(length), time.monotonic()
                )
                key = _sub_key(arrival)
                with receiver._cond:
                    receiver.arrivals.append(arrival)
                    receiver.in_flight[key] = receiver.in_flight.get(key, 0) + 1
                    if receiver.in_flight[key] > 1:
                        receiver.overlaps.append(key)
                    receiver._cond.notify_all()
                try:
                    answer = receiver.behaviour(arrival)
                finally:
                    with receiver._cond:
                        receiver.in_flight[key] -= 1
                        arrival.ended = time.monotonic()
                        receiver._cond.notify_all()
                status, headers = answer if isinstance(answer, tuple) else (answer, {})
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender is gone (a killed worker)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/notify"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, predicate: Callable[[list[Arrival]], bool], timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.arrivals):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out; {len(self.arrivals)} arrival(s) so far")
                self._cond.wait(left)

    def of_kind(self, kind: str) -> list[Arrival]:
        with self._cond:
            return [a for a in self.arrivals if a.kind == kind]


def _sub_key(arrival: Arrival) -> str:
    try:
        return arrival.subscription_id
    except (ValueError, KeyError, IndexError, TypeError, StopIteration):
        return "?"


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT, every: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(every)


def subscription(
    endpoint: str,
    *,
    filters: tuple[str, ...] = ("org-identifier=NSNEURO",),
    headers: tuple[str, ...] = ("Authorization: Bearer notify-token-1",),
    content: str = "full-resource",
    **extra: Any,
) -> dict[str, Any]:
    """A PAS Subscription as an EHR would POST it (``content``: its backport-payload-content)."""
    resource: dict[str, Any] = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "Final answers to our pended prior authorization requests",
        "criteria": PAS_TOPIC,
        "_criteria": {"extension": [{"url": FILTER_CRITERIA, "valueString": f} for f in filters]},
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            "payload": FHIR_JSON,
            "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": content}]},
            "header": list(headers),
        },
    }
    resource.update(extra)
    return resource


def broken(change: str) -> tuple[dict[str, Any], int, str]:
    """A Subscription with one rule broken, the status it earns and the FHIRPath blamed."""
    s = subscription("https://ehr.example.org/pas-notify")
    ch = s["channel"]
    expected = {
        "criteria": (422, "Subscription.criteria"),
        "channel-type": (422, "Subscription.channel.type"),
        "payload": (422, "Subscription.channel.payload"),
        "content-id-only": (422, f"Subscription.channel.payload.extension('{PAYLOAD_CONTENT}')"),
        "content-missing": (422, f"Subscription.channel.payload.extension('{PAYLOAD_CONTENT}')"),
        "filter-missing": (422, f"Subscription.criteria.extension('{FILTER_CRITERIA}')"),
        "filter-name": (422, f"Subscription.criteria.extension('{FILTER_CRITERIA}')[0]"),
        "filter-empty": (422, f"Subscription.criteria.extension('{FILTER_CRITERIA}')[0]"),
        "http-endpoint": (422, "Subscription.channel.endpoint"),
        "relative-endpoint": (422, "Subscription.channel.endpoint"),
        "private-endpoint": (422, "Subscription.channel.endpoint"),
        "header-shape": (400, "Subscription.channel.header[0]"),
        "header-reserved": (400, "Subscription.channel.header[0]"),
        "header-crlf": (400, "Subscription.channel.header[1]"),
        "header-nul": (400, "Subscription.channel.header[0]"),
        "header-not-latin-1": (400, "Subscription.channel.header[0]"),
        "header-too-long": (400, "Subscription.channel.header[0]"),
        "header-too-many": (400, "Subscription.channel.header[10]"),
        "no-reason": (400, "Subscription.reason"),
        "bad-status": (400, "Subscription.status"),
    }[change]
    match change:
        case "criteria":
            s["criteria"] = "http://example.org/SubscriptionTopic/other"
        case "channel-type":
            ch["type"] = "websocket"
        case "payload":
            ch["payload"] = "application/fhir+xml"
        case "content-id-only":
            ch["_payload"]["extension"][0]["valueCode"] = "id-only"
        case "content-missing":
            del ch["_payload"]
        case "filter-missing":
            del s["_criteria"]
        case "filter-name":
            s["_criteria"]["extension"][0]["valueString"] = "patient=Patient/1"
        case "filter-empty":
            s["_criteria"]["extension"][0]["valueString"] = "org-identifier="
        case "http-endpoint":
            ch["endpoint"] = "http://ehr.example.org/notify"
        case "relative-endpoint":
            ch["endpoint"] = "/notify"
        case "private-endpoint":
            ch["endpoint"] = "https://[2002:a00:1::]/notify"  # 6to4 around 10.0.0.1
        case "header-shape":
            ch["header"] = ["Bearer abc"]
        case "header-reserved":
            ch["header"] = ["Transfer-Encoding: chunked"]
        case "header-crlf":
            ch["header"] = ["X-A: 1", "X-B: 2\r\nX-Injected: 3"]
        case "header-nul":
            ch["header"] = ["Authorization: Bearer a\x00b"]
        case "header-not-latin-1":
            ch["header"] = ["X-Note: \u201cquoted\u201d"]
        case "header-too-long":
            ch["header"] = ["Authorization: Bearer " + "a" * 4096]
        case "header-too-many":
            ch["header"] = [f"X-H{i}: {i}" for i in range(11)]
        case "no-reason":
            del s["reason"]
        case "bad-status":
            s["status"] = "sleeping"
    return s, *expected


RULES = [
    "criteria",
    "channel-type",
    "payload",
    "content-id-only",
    "content-missing",
    "filter-missing",
    "filter-name",
    "filter-empty",
    "http-endpoint",
    "relative-endpoint",
    "private-endpoint",
    "header-shape",
    "header-reserved",
    "header-crlf",
    "header-nul",
    "header-not-latin-1",
    "header-too-long",
    "header-too-many",
    "no-reason",
    "bad-status",
]


PENDED_REQUEST = json.loads((EXAMPLES / "pend-mri-brain.json").read_text())


def change(services: Services, n: int) -> None:
    """Record the n-th change of an authorization ``auth-<n>`` of the pended example."""
    body = orjson.dumps({"resourceType": "Bundle", "id": f"r{n}", "type": "collection"})
    with services.sessions.begin() as session:
        outbox.record_change(
            session,
            authorization_id=f"auth-{n}",
            request=parse_request(PENDED_REQUEST),
            response_bundle=body,
            at=services.clock(),
        )


def subscribed(client: FlaskClient, receiver: Receiver, *filters: str) -> str:
    """Create a rest-hook Subscription to ``receiver`` and wait until its handshake arrived and
    it is active; its id."""
    created = client.post(
        "/fhir/Subscription",
        data=json.dumps(subscription(receiver.url, filters=filters)),
        content_type=FHIR_JSON,
    )
    assert created.status_code == 201 and created.get_json()["status"] == "requested"
    sub_id = str(created.get_json()["id"])
    receiver.wait_for(lambda arr: len(arr) == 1)
    assert receiver.arrivals[0].kind == "handshake"
    wait_until(lambda: client.get(f"/fhir/Subscription/{sub_id}").get_json()["status"] == "active")
    return sub_id


@dataclass(frozen=True)
class Pended:
    request: dict[str, Any]  # the request Bundle sent
    answer: dict[str, Any]  # the pended PAS response
    actions: dict[int, str]  # item sequence -> review action (all A4)
    authorization_id: str


def pend_mri(client: FlaskClient, services: Services) -> Pended:
    """Submit pend-mri-brain.json, whose items all pend for review, as the only request."""
    request = json.loads((EXAMPLES / "pend-mri-brain.json").read_text())
    answer = client.post(
        "/fhir/Claim/$submit", data=json.dumps(request), content_type=FHIR_JSON
    ).get_json()
    actions = review_actions(answer)
    assert set(actions.values()) == {"A4"}
    with services.sessions() as session:
        auth_id = session.scalars(select(Authorization.id)).one()
    return Pended(request, answer, actions, auth_id)
