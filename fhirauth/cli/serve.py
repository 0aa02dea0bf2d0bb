"""``fhirauth serve`` and ``fhirauth worker``."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import click

from fhirauth import logs, startup

# The module, not its ``run``: tests replace ``fhirauth.serve.run``.
from fhirauth import serve as server
from fhirauth.auth.demo import bootstrap, demo_reviewer
from fhirauth.cli.db import db_options, store
from fhirauth.clock import system_clock
from fhirauth.config import Settings
from fhirauth.notifications.worker import run_worker_process
from fhirauth.policy import PolicyError
from fhirauth.services import Services


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="Folder for the SQLite database (default ./fhirauth-data).",
)
@click.option("--database-url", help="SQLAlchemy URL, e.g. postgresql://host/db.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="gunicorn worker processes.",
)
@click.option("--sandbox", is_flag=True, help="Sandbox mode: scripted outcomes for testing.")
@click.option(
    "--no-worker",
    is_flag=True,
    help="Deliver no notifications here (run `fhirauth worker` instead).",
)
@click.option(
    "--demo",
    is_flag=True,
    help="Demo mode (FHIRAUTH_AUTH=demo): tokens required, and a demo client with every "
    "scope and a key in the data folder is created, and a demo reviewer for the console; "
    "prints how to get a token and how to sign in.",
)
def serve(
    host: str,
    port: int,
    data_dir: Path | None,
    database_url: str | None,
    workers: int,
    sandbox: bool,
    no_worker: bool,
    demo: bool,
) -> None:
    """Run the API with gunicorn, creating or migrating the database first."""
    # Without FHIRAUTH_BASE_URL, fullUrls use the address we listen on.
    base_url = None if "FHIRAUTH_BASE_URL" in os.environ else f"http://{host}:{port}/fhir"
    try:
        settings = Settings.from_env(
            data_dir=data_dir,
            database_url=database_url,
            base_url=base_url,
            sandbox=sandbox or None,
            auth_mode="demo" if demo else None,
        )
        if settings.auth_mode == "demo":
            _demo_banner(settings)
        elif settings.auth_mode == "off":
            click.echo(
                "WARNING: authentication is off (FHIRAUTH_AUTH=off): anyone who can reach this "
                "server acts as the anonymous client, /admin included.",
                err=True,
            )
        notice = startup.sandbox_notice(settings)
        if notice:
            click.echo(notice)
        for gap in startup.gaps(settings):
            click.echo(f"WARNING: {gap}", err=True)
        server.run(settings, host=host, port=port, workers=workers, notify=not no_worker)
    except (PolicyError, ValueError, OSError) as exc:
        click.echo(f"fhirauth cannot start: {exc}", err=True)
        sys.exit(2)


def _program() -> str:
    """How the user ran us, for commands we print: ``.venv/bin/fhirauth`` or ``fhirauth``."""
    argv0 = sys.argv[0] if sys.argv else ""
    return argv0 if Path(argv0).name == "fhirauth" else "fhirauth"


def _demo_banner(settings: Settings) -> None:
    """Create the demo client (once) and print how to get and use a token."""
    with store(settings) as sessions:
        made = bootstrap(sessions, settings.data_dir, system_clock())
        reviewer, password = demo_reviewer(sessions, settings.data_dir, system_clock())
    prog, url = _program(), settings.base_url
    key = shlex.quote(str(made.key_path))
    token_cmd = f"{prog} token --url {url} --client-id {made.client_id} --key {key}"
    lines = [
        "fhirauth demo mode: tokens are required; a demo client with every scope is "
        + ("registered." if made.created else "ready."),
        f"  client id:   {made.client_id}",
        f"  private key: {made.key_path}",
        f"Get an access token (valid {settings.token_lifetime} s):",
        f"  {token_cmd}",
        "Use it:",
        f'  curl -s -H "Authorization: Bearer $({token_cmd})" '
        f"-X POST '{url}/Claim/$submit' -H 'Content-Type: application/fhir+json' "
        "--data-binary @examples/mixed-outcomes.json",
        "Or let the CLI fetch its own tokens:",
        f"  export FHIRAUTH_CLIENT_ID={made.client_id} FHIRAUTH_KEY={key}",
        f"  {prog} submit examples/*.json",
        f"The console for the payer's staff: {url.removesuffix('/fhir')}/console",
        f"  sign in as {reviewer} / {password}",
    ]
    if not made.enabled:
        lines.append(f"NOTE: the demo client is disabled; `{prog} clients enable {made.client_id}`")
    click.echo("\n".join(lines))


@click.command()
@click.option(
    "--loops",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Delivery loops in this process.",
)
@db_options
def worker(loops: int, settings: Settings) -> None:
    """Deliver Subscription notifications from the outbox until SIGTERM or SIGINT (beside a
    `serve --no-worker`, or to add delivery capacity)."""
    logs.configure(settings.log_level, settings.log_format)
    try:
        services = Services.build(settings)
    except (PolicyError, ValueError, OSError) as exc:
        click.echo(f"fhirauth cannot start: {exc}", err=True)
        sys.exit(2)
    try:
        run_worker_process(services, loops=loops)
    finally:
        services.engine.dispose()
