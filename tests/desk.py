"""Requests for the dashboard's tests, sent through HTTP at chosen times: $submit of the
examples (each as a new request), reviewers' decisions through /admin/review, an update that
cancels, an immediate appeal."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from itertools import count
from typing import Any

from flask.testing import FlaskClient

from fhirauth.clock import fixed_clock
from fhirauth.services import Services
from tests.conftest import EXAMPLES, NOW
from tests.pas import review_actions
from tests.updates import appeal_of, update_of

H = timedelta(hours=1)
D = timedelta(days=1)


class Desk:
    """Sends requests and decisions at chosen times, as an EHR and a reviewer would."""

    def __init__(self, client: FlaskClient, services: Services) -> None:
        self.client, self.services = client, services
        self.n = count(1)

    def at(self, when: datetime) -> None:
        self.services.clock = fixed_clock(when)

    def post(self, bundle: dict[str, Any]) -> dict[str, Any]:
        resp = self.client.post(
            "/fhir/Claim/$submit", data=json.dumps(bundle), content_type="application/fhir+json"
        )
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    def submit(self, name: str, when: datetime) -> tuple[dict[str, Any], str]:
        """A new request made from an example (its own identifiers), received at ``when``."""
        self.at(when)
        bundle = copy.deepcopy(json.loads((EXAMPLES / name).read_text()))
        n = next(self.n)
        bundle["identifier"]["value"] += f"-D{n}"
        bundle["entry"][0]["resource"]["identifier"][0]["value"] += f"-D{n}"
        cr = self.post(bundle)["entry"][0]["resource"]
        return bundle, cr.get("preAuthRef", cr["id"])

    def decide(self, ref: str, when: datetime, item: int, **body: Any) -> None:
        self.at(when)
        resp = self.client.post(
            f"/admin/review/{ref}/decisions",
            json={"reviewer": {"npi": "1234567893"}, "item": item, **body},
        )
        assert resp.status_code == 200, resp.get_json()


def build(desk: Desk) -> dict[str, str]:
    """The requests of the test, by what each is meant to show; the clock back at NOW."""
    today = NOW.replace(hour=0, minute=0)
    made = {}
    _, made["old"] = desk.submit("approve-ct-head.json", NOW - 8 * D)  # before the week
    _, made["late"] = desk.submit("pend-mri-brain.json", NOW - 75 * H)  # expedited: 3 h late
    _, made["soon"] = desk.submit("pend-mri-brain.json", NOW - 50 * H)  # due in 22 h
    denied, made["appealed"] = desk.submit("deny-cosmetic-hair-transplant.json", NOW - 4 * D)
    desk.at(NOW - 60 * H)  # an immediate appeal: its 72 hours run out in 12 h
    assert review_actions(desk.post(appeal_of(denied, 1, kind="1")))[1] == "A4"
    _, made["knee"] = desk.submit("pend-knee-needs-note.json", NOW - 2 * D)  # standard: 5 d left
    _, made["mixed"] = desk.submit("mixed-outcomes.json", NOW - 1 * D)
    desk.decide(made["mixed"], NOW - 1 * H, 3, action="approve")  # partial, after 23 hours
    _, made["fast"] = desk.submit("pend-mri-brain.json", NOW - 3 * D - 1 * H)
    desk.decide(made["fast"], NOW - 3 * D + 9 * H, 1, action="approve")  # approved in 10 h
    _, made["early"] = desk.submit("pend-mri-brain.json", today + 2 * H)  # due in 58.5 h
    _, made["visit"] = desk.submit("no-auth-office-visit.json", today + 3 * H)
    _, made["refused"] = desk.submit("errors/error-coverage-ended.json", today + 4 * H)
    _, made["ct"] = desk.submit("approve-ct-head.json", today + 5 * H)
    knee, made["withdrawn"] = desk.submit("pend-knee-needs-note.json", today + 6 * H)
    desk.at(today + 7 * H)
    assert review_actions(desk.post(update_of(knee, 1, cancel_all=True))) == {}
    _, made["denied"] = desk.submit("deny-cosmetic-hair-transplant.json", NOW - 10 * H)
    desk.at(NOW)
    return made
