"""The ``fhirauth`` CLI: submit talks real HTTP to a server on loopback; validate is offline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from fhirauth.cli import main
from tests.conftest import EXAMPLES


def test_submit_prints_each_items_decision_number_and_reason(
    runner: CliRunner, server_url: str
) -> None:
    result = runner.invoke(
        main, ["submit", "--url", server_url, str(EXAMPLES / "mixed-outcomes.json")]
    )
    assert result.exit_code == 0, result.output
    assert "HTTP 200" in result.output
    lines = {ln.split(":")[0].strip(): ln for ln in result.output.splitlines() if "item " in ln}
    assert lines["item 1"].split()[-1] == "NA"
    assert (
        "A1" in lines["item 2"]
        and "auth PA" in lines["item 2"]
        and "valid 2026-" in lines["item 2"]
    )
    assert "A4" in lines["item 3"]
    assert "A3" in lines["item 4"] and "reason " in lines["item 4"]
    assert "cosmetic" in result.output


def test_submit_exits_non_zero_and_prints_the_issues_on_an_http_error(
    runner: CliRunner, server_url: str, tmp_path: Path
) -> None:
    bad = json.loads((EXAMPLES / "approve-ct-head.json").read_text())
    bad["entry"][0]["resource"]["use"] = "claim"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    result = runner.invoke(main, ["submit", "--url", server_url, str(path)])
    assert result.exit_code == 1
    assert "HTTP 400" in result.output
    assert "Bundle.entry[0].resource.use" in result.output


def test_submit_exits_non_zero_when_the_server_is_unreachable(runner: CliRunner) -> None:
    result = runner.invoke(
        main, ["submit", "--url", "http://127.0.0.1:9/fhir", str(EXAMPLES / "approve-ct-head.json")]
    )
    assert result.exit_code == 1
    assert "cannot reach" in result.output


def test_validate_accepts_every_example(runner: CliRunner) -> None:
    result = runner.invoke(main, ["validate", *map(str, sorted(EXAMPLES.glob("*.json")))])
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok (") == len(list(EXAMPLES.glob("*.json")))


def test_validate_prints_every_structural_issue_with_its_path(
    runner: CliRunner, tmp_path: Path
) -> None:
    bad = json.loads((EXAMPLES / "mixed-outcomes.json").read_text())
    claim = bad["entry"][0]["resource"]
    claim["item"][1]["sequence"] = claim["item"][0]["sequence"]
    claim["insurer"]["reference"] = "Organization/missing"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    result = runner.invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    assert "invalid (2 issues)" in result.output
    assert "Bundle.entry[0].resource.insurer.reference" in result.output
    assert "Bundle.entry[0].resource.item[1].sequence" in result.output


def test_explain_prints_each_items_rules_conditions_and_outcome_without_storing(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["explain", str(EXAMPLES / "mixed-outcomes.json")])
    assert result.exit_code == 0, result.output
    assert "item 2: A1" in result.output
    assert "approve: %diagnoses.exists() -> True" in result.output
    assert "item 3: A4" in result.output and "decided by: mri-brain" in result.output
    assert "item 4: A3" in result.output
    assert not (tmp_path / "fhirauth-data").exists()


def test_explain_json_gives_the_trace_of_every_item(runner: CliRunner) -> None:
    result = runner.invoke(main, ["explain", "--json", str(EXAMPLES / "mixed-outcomes.json")])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert [t["outcome"] for t in doc["items"]] == ["NA", "A1", "A4", "A3"]
    assert doc["policy"] == "demo-health-plan"


def test_policy_check_accepts_the_demo_policy_and_names_what_is_wrong_in_a_bad_one(
    runner: CliRunner, tmp_path: Path
) -> None:
    assert runner.invoke(main, ["policy", "check"]).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: bad\nname: Bad\nrules:\n  - id: scan\n    match: [{system: cpt, codes: ['70450']}]\n"
        "    outcome: auth-required\n    approve: {when: '%nothing = 1'}\n"
    )
    result = runner.invoke(main, ["policy", "check", str(bad)])
    assert result.exit_code == 1
    assert str(bad) in result.output and "rule scan" in result.output
    assert "approve.when" in result.output


def test_eligibility_prints_per_item_whether_authorization_is_needed(
    runner: CliRunner, server_url: str, tmp_path: Path
) -> None:
    request = {
        "resourceType": "CoverageEligibilityRequest",
        "status": "active",
        "purpose": ["auth-requirements"],
        "created": "2026-12-01",
        "contained": [
            {"resourceType": "Patient", "id": "p", "birthDate": "1958-02-03"},
            {
                "resourceType": "Coverage",
                "id": "c",
                "status": "active",
                "beneficiary": {"reference": "#p"},
                "payor": [{"reference": "#i"}],
            },
            {"resourceType": "Organization", "id": "i"},
        ],
        "patient": {"reference": "#p"},
        "insurer": {"reference": "#i"},
        "insurance": [{"coverage": {"reference": "#c"}}],
        "item": [
            {
                "productOrService": {
                    "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": code}]
                }
            }
            for code in ("99213", "27447", "15776")
        ],
    }
    path = tmp_path / "cer.json"
    path.write_text(json.dumps(request))
    result = runner.invoke(main, ["eligibility", "--url", server_url, str(path)])
    assert result.exit_code == 0, result.output
    assert "item 1 (99213): no authorization needed" in result.output
    assert "item 2 (27447): authorization required" in result.output
    assert "needs: Surgeon's progress note" in result.output
    assert "item 3 (15776): not covered" in result.output


def test_trace_prints_the_stored_decision_of_an_authorization(
    runner: CliRunner, server_url: str
) -> None:
    out = runner.invoke(
        main, ["submit", "--url", server_url, str(EXAMPLES / "approve-ct-head.json")]
    ).output
    ref = out.split("authorization ")[1].split()[0]
    result = runner.invoke(main, ["trace", "--url", server_url, ref])
    assert result.exit_code == 0, result.output
    assert f"authorization {ref}" in result.output
    assert "item 1: A1 by rule:ct-head" in result.output
    assert "approve: %diagnoses.exists() -> True" in result.output
    missing = runner.invoke(main, ["trace", "--url", server_url, "PANOTHERE"])
    assert missing.exit_code == 1 and "HTTP 404" in missing.output


def test_trace_of_a_refused_request_says_it_has_no_authorization_number(
    runner: CliRunner, server_url: str
) -> None:
    bundle = json.loads((EXAMPLES / "approve-ct-head.json").read_text())
    del bundle["entry"][0]["resource"]["item"]  # no services: outcome error, X12 901 15
    answer = requests.post(
        f"{server_url}/Claim/$submit",
        data=json.dumps(bundle),
        headers={"Content-Type": "application/fhir+json"},
        timeout=30,
    ).json()
    cr = answer["entry"][0]["resource"]
    assert cr["outcome"] == "error" and "preAuthRef" not in cr
    result = runner.invoke(main, ["trace", "--url", server_url, cr["id"]])
    assert result.exit_code == 0, result.output
    assert "no authorization number" in result.output and "None" not in result.output


def test_sandbox_next_is_refused_when_sandbox_mode_is_off(
    runner: CliRunner, server_url: str
) -> None:
    result = runner.invoke(main, ["sandbox", "next", "A3", "--url", server_url])
    assert result.exit_code == 1
    assert "sandbox mode is off" in result.output


def test_review_list_show_and_decide_work_the_queue_over_http(
    runner: CliRunner, server_url: str
) -> None:
    out = runner.invoke(
        main, ["submit", "--url", server_url, str(EXAMPLES / "pend-mri-brain.json")]
    ).output
    ref = out.split("authorization ")[1].split()[0]
    listed = runner.invoke(main, ["review", "list", "--url", server_url])
    assert listed.exit_code == 0 and ref in listed.output and "EXPEDITED" in listed.output
    shown = runner.invoke(main, ["review", "show", ref, "--url", server_url])
    assert shown.exit_code == 0 and "item 1: A4" in shown.output
    decided = runner.invoke(
        main,
        [
            "review",
            "decide",
            ref,
            "--item",
            "1",
            "--deny",
            "MN",
            "--reason",
            "Migraine without red flags: imaging is not indicated (guideline RAD-12).",
            "--npi",
            "1234567893",
            "--url",
            server_url,
        ],
    )
    assert decided.exit_code == 0, decided.output
    assert "item 1: A3" in decided.output and "RAD-12" in decided.output
    overdue = runner.invoke(main, ["review", "overdue", "--url", server_url]).output
    assert f"{ref}" in overdue and "not delivered yet" in overdue


def test_review_reopen_puts_a_final_item_back_and_decide_then_works(
    runner: CliRunner, server_url: str
) -> None:
    out = runner.invoke(
        main, ["submit", "--url", server_url, str(EXAMPLES / "approve-ct-head.json")]
    ).output
    (ref,) = set(re.findall(r"\bauthorization (PA[2-9A-HJ-NP-Z]{10})\b", out))
    approve = ["review", "decide", ref, "--item", "1", "--approve", "--url", server_url]
    refused = runner.invoke(main, approve)
    assert refused.exit_code == 1
    assert "HTTP 409" in refused.output and f"fhirauth review reopen {ref}" in refused.output
    reopen = ["review", "reopen", ref, "--item", "1", "--reason", "Entered in error"]
    reopened = runner.invoke(main, [*reopen, "--url", server_url])
    assert reopened.exit_code == 0, reopened.output
    assert "HTTP 200" in reopened.output and "item 1: A4" in reopened.output
    decided = runner.invoke(main, approve)
    assert decided.exit_code == 0 and "item 1: A1" in decided.output
    needs_reason = runner.invoke(main, ["review", "reopen", ref, "--item", "1"])
    assert needs_reason.exit_code == 2


def test_review_decide_needs_exactly_one_decision(runner: CliRunner, server_url: str) -> None:
    result = runner.invoke(
        main,
        [
            "review",
            "decide",
            "PAX",
            "--item",
            "1",
            "--approve",
            "--deny",
            "MN",
            "--url",
            server_url,
        ],
    )
    assert result.exit_code == 2


def test_validate_with_the_ig_package_accepts_the_ig_examples_and_catches_a_defect(
    runner: CliRunner, tmp_path: Path
) -> None:
    from tests.conftest import SHARED_PAS

    package = SHARED_PAS / "packages" / "hl7.fhir.us.davinci-pas-2.2.1.tgz"
    if not package.exists():
        pytest.skip(f"{package} is absent: the IG package lives in ../shared beside the checkout")
    examples = sorted((SHARED_PAS / "examples").glob("*.json"))
    result = runner.invoke(
        main, ["validate", "--errors-only", "--package", str(package), *map(str, examples)]
    )
    assert result.exit_code == 0, result.output[-2000:]
    claim = json.loads(
        (SHARED_PAS / "examples" / "Claim-ReferralAuthorizationExample.json").read_text()
    )
    claim["use"] = "claim"  # fixed to preauthorization by the PAS Claim profiles
    bad = tmp_path / "claim.json"
    bad.write_text(json.dumps(claim))
    result = runner.invoke(main, ["validate", "--package", str(package), str(bad)])
    assert result.exit_code == 1
    assert "Claim.use" in result.output


def test_review_show_lists_what_a_decided_request_deviated_in(
    runner: CliRunner, server_url: str
) -> None:
    request = json.loads((EXAMPLES / "approve-ct-head.json").read_text())
    del request["entry"][0]["resource"]["item"][0]["category"]  # PAS Claim: item.category 1..1
    posted = requests.post(
        f"{server_url}/Claim/$submit",
        data=json.dumps(request),
        headers={"Content-Type": "application/fhir+json"},
        timeout=10,
    )
    ref = posted.json()["entry"][0]["resource"]["preAuthRef"]
    shown = runner.invoke(main, ["review", "show", ref, "--url", server_url])
    assert shown.exit_code == 0, shown.output
    assert "request warnings" in shown.output
    assert "Bundle.entry[0].resource.item[0].category" in shown.output
