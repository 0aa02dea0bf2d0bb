"""``fhirauth serve --demo`` creates a demo reviewer for the console and prints its login; the
same login on every start."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from fhirauth.auth import demo
from fhirauth.cli import main
from fhirauth.config import Settings
from tests.web.conftest import sign_in

pytest_plugins = ("tests.auth.fixtures",)


def test_serve_demo_prints_a_console_login_that_works(
    runner: CliRunner,
    secure_settings: Settings,
    secure_app: Flask,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    import fhirauth.serve

    monkeypatch.setattr(fhirauth.serve, "run", lambda settings, **_: None)
    data = tmp_path / "demo-data"
    args = ["serve", "--demo", "--data-dir", str(data), "--database-url", secure_settings.db_url]
    first = runner.invoke(main, args, env={"FHIRAUTH_AUTH": None})
    assert first.exit_code == 0, first.output
    assert "The console for the payer's staff: http://127.0.0.1:8080/console" in first.output
    found = re.search(r"sign in as (\S+) / (\S+)", first.output)
    assert found and found.group(1) == demo.DEMO_REVIEWER
    password = found.group(2)
    assert (data / demo.DEMO_REVIEWER_FILE).stat().st_mode & 0o077 == 0
    again = runner.invoke(main, args, env={"FHIRAUTH_AUTH": None})
    assert f"sign in as {demo.DEMO_REVIEWER} / {password}" in again.output
    browser = secure_app.test_client()
    assert sign_in(browser, demo.DEMO_REVIEWER, password).status_code == 303
    assert "demo-reviewer · reviewer" in browser.get("/console/").get_data(as_text=True)
