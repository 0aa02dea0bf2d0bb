"""``fhirauth users``: staff accounts for the console (acts on the database directly)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
import orjson
from sqlalchemy.orm import Session

from fhirauth.auth import staff
from fhirauth.cli.db import db_options, store
from fhirauth.clock import system_clock
from fhirauth.config import Settings

_STDIN_HELP = "Read the password from standard input (one line) instead of prompting."


@click.group()
def users() -> None:
    """Staff accounts (reviewers, administrators) who sign in to the console at /console."""


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@contextmanager
def _changing(settings: Settings) -> Iterator[Session]:
    """A transaction on the accounts; what the change refuses is the command's error."""
    try:
        with store(settings) as sessions, sessions.begin() as session:
            yield session
    except staff.StaffError as exc:
        raise click.ClickException(str(exc)) from None


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(staff.ROLES), required=True)
@click.option("--password-stdin", is_flag=True, help=_STDIN_HELP)
@db_options
def users_add(name: str, role: str, password_stdin: bool, settings: Settings) -> None:
    """Create an account; the password is asked for (twice) unless --password-stdin."""
    password = _password(password_stdin)
    with _changing(settings) as session:
        made = staff.add(session, name, role, password, system_clock())
    click.echo(f"{made.username} ({made.role}) can sign in at /console/login")


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
@db_options
def users_list(as_json: bool, settings: Settings) -> None:
    """Every account: name, role, state, last sign-in."""
    now = system_clock()
    with store(settings) as sessions, sessions() as session:
        rows = [
            {
                "username": u.username,
                "role": u.role,
                "state": "disabled"
                if not u.enabled
                else "locked"
                if u.locked_until and u.locked_until > now
                else "active",
                "last_login": u.last_login_at.isoformat() if u.last_login_at else None,
            }
            for u in staff.listing(session)
        ]
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    if not rows:
        click.echo("no staff users: add one with `fhirauth users add NAME --role reviewer`")
    for r in rows:
        last = (r["last_login"] or "never")[:16]
        click.echo(f"{r['username']:<24} {r['role']:<9} {r['state']:<9} last sign-in {last}")


@users.command("disable")
@click.argument("name")
@db_options
def users_disable(name: str, settings: Settings) -> None:
    """Refuse the account's sign-in and end its sessions now."""
    _set_enabled(name, False, settings)


@users.command("enable")
@click.argument("name")
@db_options
def users_enable(name: str, settings: Settings) -> None:
    """Let a disabled account sign in again."""
    _set_enabled(name, True, settings)


def _set_enabled(name: str, enabled: bool, settings: Settings) -> None:
    with _changing(settings) as session:
        staff.set_enabled(session, name, enabled)
    click.echo(f"{name.lower()} {'enabled' if enabled else 'disabled'}")


@users.command("reset")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help=_STDIN_HELP)
@db_options
def users_reset(name: str, password_stdin: bool, settings: Settings) -> None:
    """Set a new password: lifts a lockout and ends the account's sessions."""
    password = _password(password_stdin)
    with _changing(settings) as session:
        staff.reset(session, name, password)
    click.echo(f"{name.lower()}: new password set, sessions ended")
