"""``fhirauth report pa-list`` (from the policies) and ``report metrics`` options; the review
CLI's view of an appeal."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner
from flask.testing import FlaskClient

from fhirauth.cli import main
from fhirauth.config import Settings
from fhirauth.fhir.systems import HCPCS
from tests.conftest import EXAMPLES
from tests.updates import appeal_of


def test_pa_list_writes_the_demo_payers_services_with_the_documentation_required(
    runner: CliRunner, tmp_path: Path
) -> None:
    md = runner.invoke(main, ["report", "pa-list"])
    assert md.exit_code == 0, md.output
    assert md.output.startswith("# Items and services that need prior authorization")
    knee = next(line for line in md.output.splitlines() if line.startswith("| 27447 |"))
    assert "| cpt |" in knee and "(11506-3)" in knee and "| Demo Health Plan |" in knee
    table = runner.invoke(main, ["report", "pa-list", "--format", "csv"]).output
    drugs = next(r for r in csv.DictReader(io.StringIO(table)) if r["code"] == "J9*")
    assert drugs["system"] == HCPCS and drugs["policy"] == "demo-health-plan"
    out = tmp_path / "pa-list.json"
    written = runner.invoke(main, ["report", "pa-list", "--format", "json", "--output", str(out)])
    assert written.exit_code == 0 and written.output == ""
    listed = json.loads(out.read_text())
    assert {r["code"] for r in listed} >= {"27447", "70551-70553", "J9*"}


def test_pa_list_reads_the_policy_folders_it_is_given_and_the_day(
    runner: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "plan.yaml").write_text(
        "id: small-plan\nname: Small Plan\neffective: {start: 2027-01-01}\n"
        "rules:\n  - id: ct\n    match: [{system: cpt, codes: ['70450']}]\n"
        "    outcome: auth-required\n"
    )
    args = ["report", "pa-list", "--policies", str(tmp_path), "--format", "json"]
    assert json.loads(runner.invoke(main, [*args, "--on", "2026-12-31"]).output) == []
    (row,) = json.loads(runner.invoke(main, [*args, "--on", "2027-01-01"]).output)
    assert (row["code"], row["plan"], row["description"]) == ("70450", "Small Plan", None)
    (tmp_path / "bad.yaml").write_text("id: x\n")
    broken = runner.invoke(main, ["report", "pa-list", "--policies", str(tmp_path)])
    assert broken.exit_code == 1 and "bad.yaml" in broken.output


def test_metrics_of_one_policy_count_only_the_requests_it_decided(
    runner: CliRunner, client: FlaskClient, settings: Settings
) -> None:
    sent = client.post(
        "/fhir/Claim/$submit",
        data=(EXAMPLES / "approve-ct-head.json").read_bytes(),
        content_type="application/fhir+json",
    )
    assert sent.status_code == 200
    db = ["--database-url", str(settings.database_url), "--format", "json"]
    ours = runner.invoke(
        main, ["report", "metrics", "--year", "2026", "--policy", "demo-health-plan", *db]
    )
    other = runner.invoke(
        main, ["report", "metrics", "--year", "2026", "--policy", "no-such-plan", *db]
    )
    assert json.loads(ours.output)["policy"] == "demo-health-plan"
    assert json.loads(ours.output)["standard"]["approved"] == {
        "count": 1,
        "of": 1,
        "percent": 100.0,
    }
    assert json.loads(other.output)["standard"]["received"] == 0
    assert runner.invoke(main, ["report", "metrics"]).exit_code == 2  # --year is required


def test_review_list_and_show_say_what_an_appeal_appeals_and_who_denied_it(
    runner: CliRunner, client: FlaskClient, server_url: str
) -> None:
    request = json.loads((EXAMPLES / "deny-cosmetic-hair-transplant.json").read_text())
    ref = client.post("/fhir/Claim/$submit", json=request).get_json()["entry"][0]["resource"][
        "preAuthRef"
    ]
    client.post("/fhir/Claim/$submit", json=appeal_of(request, 1, kind="1"))
    listed = runner.invoke(main, ["review", "list", "--url", server_url]).output
    assert ref in listed and "EXPEDITED" in listed and "APPEAL (certificationType 1)" in listed
    shown = runner.invoke(main, ["review", "show", ref, "--url", server_url]).output
    assert "item 1 (denied by rule:cosmetic-hair-transplant)" in shown
    assert "item 1: A4" in shown
