"""``fhirauth check`` over real HTTP, and ``fhirauth report expiring`` from the database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from fhirauth.cli import main
from fhirauth.cli import report as report_cli
from fhirauth.config import Settings
from tests.conftest import EXAMPLES

BILLING = EXAMPLES / "billing"


@pytest.fixture
def psychotherapy(runner: CliRunner, server_url: str) -> str:
    done = runner.invoke(
        main, ["submit", "--url", server_url, str(EXAMPLES / "partial-psychotherapy.json")]
    )
    assert done.exit_code == 0, done.output
    return done.output.split("authorization ", 1)[1].split()[0]


def test_check_prints_a_table_with_each_lines_authorization_and_mismatches(
    runner: CliRunner, server_url: str, psychotherapy: str
) -> None:
    result = runner.invoke(
        main,
        [
            "check",
            "--url",
            server_url,
            str(BILLING / "matches.json"),
            str(BILLING / "units-exceeded.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "matches.json: HTTP 200" in out and "units-exceeded.json: HTTP 200" in out
    assert "line  authorization" in out and "units left" in out
    assert f"1     {psychotherapy}-1  active  20" in out
    assert "ok: no mismatch" in out
    assert "units-exceeded: Billed 45 units; 20 of the 20" in out


def test_check_record_consumes_once_and_says_so(
    runner: CliRunner, server_url: str, psychotherapy: str
) -> None:
    args = ["check", "--record", "--url", server_url, str(BILLING / "matches.json")]
    first = runner.invoke(main, args)
    again = runner.invoke(main, args)
    assert first.exit_code == again.exit_code == 0
    row = f"1     {psychotherapy}-1  active  20          yes"
    assert row in first.output and row in again.output  # the retry: the first answer
    after = runner.invoke(main, ["check", "--url", server_url, str(BILLING / "matches.json")])
    assert f"{psychotherapy}-1  active  19" in after.output


def test_check_exits_1_with_the_issues_of_a_refused_claim(
    runner: CliRunner, server_url: str
) -> None:
    result = runner.invoke(
        main, ["check", "--url", server_url, str(EXAMPLES / "approve-ct-head.json")]
    )
    assert result.exit_code == 1
    assert "HTTP 400" in result.output and "Claim.use must be 'claim'" in result.output


def test_report_expiring_lists_active_authorizations_ending_soon_with_what_was_used(
    runner: CliRunner,
    server_url: str,
    psychotherapy: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner.invoke(main, ["check", "--record", "--url", server_url, str(BILLING / "matches.json")])
    db = ["--database-url", str(settings.database_url)]
    monkeypatch.setattr(report_cli, "system_clock", lambda: datetime(2027, 5, 30, tzinfo=UTC))
    soon = runner.invoke(main, ["report", "expiring", "--within", "14d", *db])
    assert soon.exit_code == 0, soon.output
    assert "authorization" in soon.output and "left" in soon.output
    row = soon.output.splitlines()[1].split()
    assert row == [f"{psychotherapy}-1", "90837", "2027-06-06", "7", "1", "20", "19", "1128394750"]
    monkeypatch.setattr(report_cli, "system_clock", lambda: datetime(2027, 1, 4, tzinfo=UTC))
    later = runner.invoke(main, ["report", "expiring", "--within", "14d", *db])
    assert later.output.startswith("no active authorization ends by 2027-01-18")
    wide = runner.invoke(main, ["report", "expiring", "--within", "6mo", "--json", *db])
    assert '"used": "1"' in wide.output and '"remaining": "19"' in wide.output
    bad = runner.invoke(main, ["report", "expiring", "--within", "soon", *db])
    assert bad.exit_code == 2 and "90d" in bad.output
