"""The ``fhirauth`` CLI: submit talks real HTTP to a server on loopback; validate is offline."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from werkzeug.serving import make_server

from fhirauth.cli import main
from tests.conftest import EXAMPLES


@pytest.fixture
def server_url(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/fhir"
    server.shutdown()
    thread.join()


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
