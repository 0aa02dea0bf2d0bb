"""Metrics and lists (/console/metrics): the CMS-0057-F metrics of a year and the public PA list,
the same figures and CSV as ``fhirauth report``, for reviewers and administrators alike."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from fhirauth.cli import main
from fhirauth.clock import fixed_clock
from fhirauth.config import Settings
from fhirauth.decision.metrics import metrics
from fhirauth.operations.reports import metric_rows
from fhirauth.policy import load_policies
from fhirauth.services import Services
from tests.conftest import EXAMPLES, NOW
from tests.web.conftest import Console

ATTACK = "<script>alert(1)</script>"


def submit(client: FlaskClient, name: str) -> str:
    resp = client.post(
        "/fhir/Claim/$submit",
        data=(EXAMPLES / name).read_bytes(),
        content_type="application/fhir+json",
    )
    assert resp.status_code == 200
    cr = resp.get_json()["entry"][0]["resource"]
    return cr.get("preAuthRef", cr["id"])


@pytest.fixture
def year(client: FlaskClient, services: Services) -> dict[str, str]:
    """A few requests of 2026: approved, denied, partial, pended (undecided), no auth needed,
    refused; a reviewer approves one pended request a day later."""
    made = {
        name: submit(client, f"{name}.json")
        for name in (
            "approve-ct-head",
            "deny-cosmetic-hair-transplant",
            "partial-psychotherapy",
            "pend-mri-brain",
            "pend-knee-needs-note",
            "no-auth-office-visit",
        )
    }
    made["refused"] = submit(client, "errors/error-coverage-ended.json")
    services.clock = fixed_clock(NOW + timedelta(days=1))
    decided = client.post(
        f"/admin/review/{made['pend-knee-needs-note']}/decisions",
        json={"reviewer": {"npi": "1234567893"}, "item": 1, "action": "approve"},
    )
    assert decided.status_code == 200
    return made


def test_the_page_shows_the_years_figures_as_the_report_computes_them(
    console: Callable[..., Console], services: Services, year: dict[str, str]
) -> None:
    html = console().get("/console/metrics?year=2026").get_data(as_text=True)
    with services.sessions() as session:
        report = metrics(metric_rows(session, 2026), 2026, services.clock())
    standard, expedited = report["standard"], report["expedited"]
    assert (standard["received"], standard["determined"]) == (6, 4)
    assert '<tr><th scope="row">requests received</th><td>6</td><td>1</td></tr>' in html
    assert (
        '<th scope="row">approved</th><td>50.0% (2 of 4)</td><td>- (none determined)</td>' in html
    )
    assert '<th scope="row">denied</th><td>25.0% (1 of 4)</td>' in html
    assert (
        '<th scope="row">median time from receipt to decision</th><td>0.0 h (4 requests)</td>'
        in html
    )
    assert '<th scope="row">refused, not processed (outcome error)</th><td>1</td><td>0</td>' in html
    assert expedited["apart"]["undecided"][0]["preAuthRef"] == year["pend-mri-brain"]
    assert f">{year['pend-mri-brain']}</a>" in html  # listed apart, undecided


def test_the_csv_download_is_what_report_metrics_prints(
    console: Callable[..., Console],
    runner: CliRunner,
    settings: Settings,
    year: dict[str, str],
) -> None:
    resp = console().get("/console/metrics.csv?year=2026")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="pa-metrics-2026.csv"'
    db = str(settings.database_url)
    printed = runner.invoke(
        main,
        ["report", "metrics", "--year", "2026", "--format", "csv", "--database-url", db],
    )
    assert printed.exit_code == 0, printed.output
    assert resp.get_data(as_text=True) == printed.output
    rows = list(csv.DictReader(io.StringIO(printed.output)))
    approved = next(r for r in rows if r["class"] == "standard" and r["metric"] == "approved")
    assert (approved["count"], approved["of"], approved["value"]) == ("2", "4", "50.0")


def test_the_metrics_of_one_policy_and_of_a_year_with_nothing(
    console: Callable[..., Console], year: dict[str, str]
) -> None:
    c = console()
    ours = c.get("/console/metrics.csv?year=2026&policy=demo-health-plan")
    assert ours.headers["Content-Disposition"].endswith('pa-metrics-2026-demo-health-plan.csv"')
    assert "2026,standard,received,6,,,," in ours.get_data(as_text=True).splitlines()
    empty = c.get("/console/metrics?year=2025").get_data(as_text=True)
    assert '<th scope="row">requests received</th><td>0</td><td>0</td>' in empty
    assert "- (none determined)" in empty


@pytest.mark.parametrize(
    "query", ["year=1999", "year=20x6", "year=%3Cscript%3E", "policy=no-such-plan", "on=tomorrow"]
)
def test_a_query_the_page_cannot_use_is_refused_with_a_sentence(
    console: Callable[..., Console], query: str
) -> None:
    c = console()
    page = c.get(f"/console/metrics?{query}")
    assert page.status_code == 400
    assert 'class="error"' in page.get_data(as_text=True)
    assert "<script>" not in page.get_data(as_text=True)
    if not query.startswith("on="):
        assert c.get(f"/console/metrics.csv?{query}").status_code == 400


def test_the_year_defaults_to_the_current_one(console: Callable[..., Console]) -> None:
    html = console().get("/console/metrics").get_data(as_text=True)
    assert "Prior authorization metrics, 2026" in html and 'value="2026"' in html


def test_the_pa_list_shows_and_downloads_what_report_pa_list_writes(
    console: Callable[..., Console], runner: CliRunner
) -> None:
    c = console()
    html = c.get("/console/metrics").get_data(as_text=True)
    assert "<td><code>27447</code></td>" in html and "(11506-3)" in html
    resp = c.get("/console/pa-list.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    disposition = resp.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="pa-list-{NOW.date().isoformat()}.csv"'
    printed = runner.invoke(
        main, ["report", "pa-list", "--format", "csv", "--on", NOW.date().isoformat()]
    )
    assert printed.exit_code == 0, printed.output
    assert resp.get_data(as_text=True) == printed.output


def test_the_pa_list_of_another_day_leaves_out_policies_not_in_effect(
    console: Callable[..., Console], services: Services, tmp_path: Path
) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "plan.yaml").write_text(
        "id: small-plan\nname: Small Plan\neffective: {start: 2027-01-01}\n"
        "rules:\n  - id: ct\n    match: [{system: cpt, codes: ['70450']}]\n"
        "    outcome: auth-required\n"
    )
    services.policies = load_policies([folder])
    c = console()
    before = c.get("/console/metrics?on=2026-12-31").get_data(as_text=True)
    assert "70450" not in before and "No policy in effect on 2026-12-31" in before
    after = c.get("/console/pa-list.csv?on=2027-01-01").get_data(as_text=True)
    assert after.splitlines()[1].startswith("70450,http://www.ama-assn.org/go/cpt,")


def test_what_a_policy_says_is_shown_as_text(
    console: Callable[..., Console], services: Services, tmp_path: Path
) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "plan.yaml").write_text(
        json.dumps(
            {
                "id": "odd-plan",
                "name": ATTACK,
                "rules": [
                    {
                        "id": "ct",
                        "description": ATTACK,
                        "match": [{"system": "cpt", "codes": ["70450"]}],
                        "outcome": "auth-required",
                    }
                ],
            }
        )
    )
    services.policies = load_policies([folder])
    html = console().get("/console/metrics").get_data(as_text=True)
    assert ATTACK not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_reviewers_and_administrators_may_see_them(
    console: Callable[..., Console], role: str
) -> None:
    c = console(role)
    for url in ("/console/metrics", "/console/metrics.csv?year=2026", "/console/pa-list.csv"):
        assert c.get(url).status_code == 200, url


@pytest.mark.parametrize(
    "url", ["/console/metrics", "/console/metrics.csv?year=2026", "/console/pa-list.csv"]
)
def test_not_signed_in_goes_to_the_sign_in_page(client: FlaskClient, url: str) -> None:
    resp = client.get(url)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/console/login")
