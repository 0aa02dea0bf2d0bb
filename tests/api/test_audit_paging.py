"""GET /fhir/AuditEvent pages: ``_count`` per page, ``next`` links carrying a cursor."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from fhir.resources.R4B.bundle import Bundle
from flask.testing import FlaskClient
from sqlalchemy import select

from fhirauth.services import Services
from fhirauth.store.models import AuditRecord
from tests.conftest import BASE_URL


def get(client: FlaskClient, url: str) -> dict[str, Any]:
    resp = client.get(url.removeprefix(BASE_URL.removesuffix("/fhir")))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body: dict[str, Any] = resp.get_json()
    Bundle.model_validate(body)
    return body


def links(body: dict[str, Any]) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in body["link"]}


def ids(body: dict[str, Any]) -> list[int]:
    return [int(e["resource"]["id"]) for e in body.get("entry", [])]


def test_pages_follow_next_links_newest_first_without_gaps_or_repeats(
    client: FlaskClient, services: Services
) -> None:
    for _ in range(7):
        assert client.get("/fhir/ClaimResponse/unknown").status_code == 404
    with services.sessions() as session:
        recorded = sorted(session.scalars(select(AuditRecord.id)), reverse=True)
    assert len(recorded) == 7  # and every one at the same instant: the clock is fixed

    first = get(client, f"{BASE_URL}/AuditEvent?_count=3")
    assert first["total"] == 7
    assert links(first)["self"] == f"{BASE_URL}/AuditEvent?_count=3"
    assert "first" not in links(first)
    pages, body = [first], first
    while "next" in links(body):
        nxt = links(body)["next"]
        assert parse_qs(urlsplit(nxt).query)["_count"] == ["3"]
        body = get(client, nxt)
        assert links(body)["self"] == nxt
        assert links(body)["first"] == f"{BASE_URL}/AuditEvent?_count=3"
        pages.append(body)
    # The searches themselves are recorded meanwhile; a cursor is a position, so they neither
    # shift the pages nor show up in them.
    assert [ids(p) for p in pages] == [recorded[0:3], recorded[3:6], recorded[6:7]]


def test_the_cursor_keeps_the_other_search_parameters(client: FlaskClient) -> None:
    for _ in range(3):
        client.get("/fhir/ClaimResponse/unknown")
    body = get(client, f"{BASE_URL}/AuditEvent?agent=anonymous&date=ge2026-12-01&_count=2")
    query = parse_qs(urlsplit(links(body)["next"]).query)
    assert query["agent"] == ["anonymous"] and query["date"] == ["ge2026-12-01"]
    assert query["_count"] == ["2"] and query["_cursor"]
    last = get(client, links(body)["next"])
    assert len(ids(last)) >= 1 and set(ids(last)).isdisjoint(ids(body))


def test_an_exact_page_has_no_next_link_and_count_zero_only_counts(client: FlaskClient) -> None:
    for _ in range(2):
        client.get("/fhir/ClaimResponse/unknown")
    exact = get(client, f"{BASE_URL}/AuditEvent?_count=2&date=le2026-12-01T15:30:00Z")
    assert len(ids(exact)) == 2 and "next" not in links(exact)
    counted = get(client, f"{BASE_URL}/AuditEvent?_count=0")
    assert counted["total"] >= 2 and "entry" not in counted
    assert "next" not in links(counted)


def test_a_cursor_we_did_not_give_out_is_a_400(client: FlaskClient) -> None:
    for cursor in ("nonsense", "MjAyNi0xMi0wMVQxNTozMDowMHw3", "%%%"):
        resp = client.get(f"/fhir/AuditEvent?_cursor={cursor}")
        assert resp.status_code == 400, cursor
        issue = resp.get_json()["issue"][0]
        assert issue["expression"] == ["_cursor"]
