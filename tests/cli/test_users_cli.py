"""``fhirauth users``: add (password prompted twice or from stdin), list, disable, enable,
reset; the accounts sign in to the console."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result
from flask import Flask

from fhirauth.cli import main
from fhirauth.config import Settings
from tests.web.conftest import sign_in


def _run(runner: CliRunner, settings: Settings, *args: str, stdin: str | None = None) -> Result:
    return runner.invoke(main, ["users", *args, "--database-url", settings.db_url], input=stdin)


def _users(runner: CliRunner, settings: Settings, *args: str, stdin: str | None = None) -> str:
    result = _run(runner, settings, *args, stdin=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def _add(runner: CliRunner, settings: Settings, name: str, role: str, password: str) -> Result:
    """``users add NAME --role ROLE --password-stdin``, the password on standard input."""
    return _run(
        runner, settings, "add", name, "--role", role, "--password-stdin", stdin=f"{password}\n"
    )


def test_an_account_added_from_the_command_line_signs_in(
    runner: CliRunner, settings: Settings, app: Flask
) -> None:
    out = _users(
        runner, settings, "add", "Rita", "--role", "reviewer",
        stdin="a long passphrase\na long passphrase\n",
    )  # fmt: skip
    assert "rita (reviewer) can sign in" in out
    assert sign_in(app.test_client(), "rita", "a long passphrase").status_code == 303


def test_the_password_comes_from_stdin_when_asked(
    runner: CliRunner, settings: Settings, app: Flask
) -> None:
    assert _add(runner, settings, "ada", "admin", "stdin passphrase 1").exit_code == 0
    listed = json.loads(_users(runner, settings, "list", "--json"))
    assert [(u["username"], u["role"], u["state"]) for u in listed] == [("ada", "admin", "active")]
    assert sign_in(app.test_client(), "ada", "stdin passphrase 1").status_code == 303


def test_a_short_password_and_a_second_account_of_one_name_are_refused(
    runner: CliRunner, settings: Settings
) -> None:
    short = _add(runner, settings, "rita", "reviewer", "short")
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    assert _add(runner, settings, "rita", "reviewer", "a long passphrase").exit_code == 0
    again = _add(runner, settings, "rita", "admin", "a long passphrase")
    assert again.exit_code == 1 and "exists already" in again.output


def test_disable_enable_and_reset(runner: CliRunner, settings: Settings, app: Flask) -> None:
    assert _add(runner, settings, "rita", "reviewer", "a long passphrase").exit_code == 0
    browser = app.test_client()
    assert sign_in(browser, "rita", "a long passphrase").status_code == 303
    _users(runner, settings, "disable", "rita")
    assert browser.get("/console/").status_code == 303  # its session ended
    assert sign_in(browser, "rita", "a long passphrase").status_code == 401
    assert "disabled" in _users(runner, settings, "list")
    _users(runner, settings, "enable", "rita")
    _users(runner, settings, "reset", "rita", "--password-stdin", stdin="another passphrase\n")
    assert sign_in(browser, "rita", "a long passphrase").status_code == 401
    assert sign_in(browser, "rita", "another passphrase").status_code == 303
