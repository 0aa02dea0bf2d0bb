"""The playground (sandbox mode): a bundle pasted or uploaded shows its issues with their
FHIRPaths and the answer, item by item; the next outcome can be scripted; it is not there
when sandbox mode is off."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from sqlalchemy import select

from fhirauth import create_app
from fhirauth.services import Services
from fhirauth.store.models import Authorization
from tests.conftest import EXAMPLES
from tests.web.conftest import Console, add_staff, form_csrf, sign_in

APPROVE = (EXAMPLES / "approve-ct-head.json").read_text()


@pytest.fixture
def sandbox_console(sandbox_services: Services) -> Iterator[Console]:
    app = create_app(services=sandbox_services)
    app.config["TESTING"] = False
    add_staff(sandbox_services, "rita", "reviewer")
    client = app.test_client()
    assert sign_in(client, "rita").status_code == 303
    yield Console(client, "rita", form_csrf(client.get("/console/").get_data(True)))


def test_a_pasted_bundle_is_decided_and_stored_as_the_playgrounds(
    sandbox_console: Console, sandbox_services: Services
) -> None:
    answer = sandbox_console.post("/console/playground", {"bundle": APPROVE})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "Answer: HTTP 200" in html
    assert "item 1: A1" in html  # the per-item summary the CLI prints
    assert "&#34;resourceType&#34;: &#34;ClaimResponse&#34;" in html
    with sandbox_services.sessions() as session:
        assert session.scalars(select(Authorization.principal)).all() == ["playground"]


def test_an_uploaded_bundle_is_taken_like_a_pasted_one(sandbox_console: Console) -> None:
    answer = sandbox_console.post(
        "/console/playground",
        {"file": (io.BytesIO(APPROVE.encode()), "approve.json")},
        content_type="multipart/form-data",
    )
    assert "item 1: A1" in answer.get_data(as_text=True)


def test_a_broken_bundle_shows_its_issues_with_their_paths(sandbox_console: Console) -> None:
    broken = json.loads(APPROVE)
    claim = broken["entry"][0]["resource"]
    del claim["patient"]
    html = sandbox_console.post("/console/playground", {"bundle": json.dumps(broken)}).get_data(
        as_text=True
    )
    assert "Answer: HTTP 4" in html or "outcome error" in html
    assert "Bundle.entry[0].resource" in html
    assert "patient" in html


def test_not_json_is_answered_with_the_issue(sandbox_console: Console) -> None:
    html = sandbox_console.post("/console/playground", {"bundle": "{not json"}).get_data(True)
    assert "Answer: HTTP 400" in html


def test_a_scripted_outcome_answers_the_next_playground_submission(
    sandbox_console: Console,
) -> None:
    scripted = sandbox_console.post("/console/playground/scripts", {"outcome": "A3", "count": "1"})
    assert "will be answered A3" in scripted.get_data(as_text=True)
    html = sandbox_console.post("/console/playground", {"bundle": APPROVE}).get_data(True)
    assert "item 1: A3" in html
    again = sandbox_console.post("/console/playground", {"bundle": APPROVE}).get_data(True)
    assert "item 1: A1" in again  # the script was used once


def test_what_a_bundle_carries_is_shown_as_text(sandbox_console: Console) -> None:
    hostile = json.loads(APPROVE)
    patient = next(
        e["resource"] for e in hostile["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    patient["name"] = [{"family": "<script>alert(1)</script>"}]
    html = sandbox_console.post("/console/playground", {"bundle": json.dumps(hostile)}).get_data(
        True
    )
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_post_without_its_csrf_token_tries_nothing(
    sandbox_console: Console, sandbox_services: Services
) -> None:
    answer = sandbox_console.client.post("/console/playground", data={"bundle": APPROVE})
    assert answer.status_code == 403
    with sandbox_services.sessions() as session:
        assert session.scalars(select(Authorization)).all() == []


def test_there_is_no_playground_outside_sandbox_mode(console: Callable[..., Console]) -> None:
    rita = console()
    assert rita.get("/console/playground").status_code == 404
    assert rita.post("/console/playground", {"bundle": APPROVE}).status_code == 404
    assert "Playground" not in rita.get("/console/").get_data(as_text=True)


def test_the_playground_is_in_the_menu_in_sandbox_mode(sandbox_console: Console) -> None:
    assert "Playground" in sandbox_console.get("/console/").get_data(as_text=True)


def test_the_scripts_shown_and_cleared_are_those_of_the_principal_named(
    sandbox_console: Console,
) -> None:
    html = sandbox_console.post(
        "/console/playground/scripts", {"outcome": "A6", "count": "2", "principal": "ehr-42"}
    ).get_data(True)
    assert "The next answers to <code>ehr-42</code>:" in html
    assert html.count('<span class="tag">A6</span>') == 2
    cleared = sandbox_console.post(
        "/console/playground/scripts/clear", {"principal": "ehr-42"}
    ).get_data(True)
    assert "The scripts of ehr-42 are cleared." in cleared
    assert "decided by the policies." in cleared


def test_a_bundle_larger_than_the_server_takes_is_refused(
    sandbox_services: Services,
) -> None:
    small = replace(
        sandbox_services, settings=replace(sandbox_services.settings, max_body_bytes=4096)
    )
    app = create_app(services=small)
    app.config["TESTING"] = False
    add_staff(small, "rita", "reviewer")
    client = app.test_client()
    assert sign_in(client, "rita").status_code == 303
    rita = Console(client, "rita", form_csrf(client.get("/console/").get_data(True)))
    answer = rita.post("/console/playground", {"bundle": APPROVE + " " * 8192})
    assert answer.status_code == 413
    assert "larger than this server accepts" in answer.get_data(True)
    with small.sessions() as session:
        assert session.scalars(select(Authorization)).all() == []
