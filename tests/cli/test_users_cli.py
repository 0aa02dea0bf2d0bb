"""``fhirauth users``: add (password prompted twice or from stdin), list, disable, enable,
reset; the accounts sign in to the console."""

from __future__ import annotations

import json

from click.testing import CliRunner
from flask import Flask

from fhirauth.cli import main
from fhirauth.config import Settings
from tests.web.conftest import sign_in


def _users(runner: CliRunner, settings: Settings, *args: str, stdin: str | None = None) -> str:
    result = runner.invoke(main, ["users", *args, "--database-url", settings.db_url], input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def test_an_account_added_from_the_command_line_signs_in(
    runner: CliRunner, settings: Settings, app: Flask
) -> None:
    out = _users(
        runner,
        settings,
        "add",
        "Rita",
        "--role",
        "reviewer",
        stdin="a long passphrase\na long passphrase\n",
    )
    assert "rita (reviewer) can sign in" in out
    assert sign_in(app.test_client(), "rita", "a long passphrase").status_code == 303


def test_the_password_comes_from_stdin_when_asked(
    runner: CliRunner, settings: Settings, app: Flask
) -> None:
    _users(
        runner,
        settings,
        "add",
        "ada",
        "--role",
        "admin",
        "--password-stdin",
        stdin="stdin passphrase 1\n",
    )
    listed = json.loads(_users(runner, settings, "list", "--json"))
    assert [(u["username"], u["role"], u["state"]) for u in listed] == [("ada", "admin", "active")]
    assert sign_in(app.test_client(), "ada", "stdin passphrase 1").status_code == 303


def test_a_short_password_and_a_second_account_of_one_name_are_refused(
    runner: CliRunner, settings: Settings
) -> None:
    short = runner.invoke(
        main,
        [
            "users",
            "add",
            "rita",
            "--role",
            "reviewer",
            "--password-stdin",
            "--database-url",
            settings.db_url,
        ],
        input="short\n",
    )
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    _users(
        runner,
        settings,
        "add",
        "rita",
        "--role",
        "reviewer",
        "--password-stdin",
        stdin="a long passphrase\n",
    )
    again = runner.invoke(
        main,
        [
            "users",
            "add",
            "rita",
            "--role",
            "admin",
            "--password-stdin",
            "--database-url",
            settings.db_url,
        ],
        input="a long passphrase\n",
    )
    assert again.exit_code == 1 and "exists already" in again.output


def test_disable_enable_and_reset(runner: CliRunner, settings: Settings, app: Flask) -> None:
    _users(
        runner,
        settings,
        "add",
        "rita",
        "--role",
        "reviewer",
        "--password-stdin",
        stdin="a long passphrase\n",
    )
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
