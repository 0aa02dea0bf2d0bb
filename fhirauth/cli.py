"""``fhirauth`` command line: serve, submit, validate."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import orjson

from fhirauth.config import Settings
from fhirauth.errors import FhirError

DEFAULT_URL = "http://127.0.0.1:8080/fhir"
_PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
_CREDENTIALS = "fhirauth.credentials"


def auth_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--token``, or ``--client-id`` with ``--key`` (a token is then fetched with
    client_credentials), for commands that call the server."""

    @click.option("--token", envvar="FHIRAUTH_TOKEN", help="An access token (FHIRAUTH_TOKEN).")
    @click.option(
        "--client-id",
        envvar="FHIRAUTH_CLIENT_ID",
        help="Fetch a token as this client (FHIRAUTH_CLIENT_ID), signing with --key.",
    )
    @click.option(
        "--key",
        "key_file",  # not ``key``: trace and review take a KEY argument
        envvar="FHIRAUTH_KEY",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="The client's private key: a JWK or PEM file (FHIRAUTH_KEY).",
    )
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        token: str | None,
        client_id: str | None,
        key_file: Path | None,
        **kwargs: Any,
    ) -> Any:
        if bool(client_id) != bool(key_file):
            raise click.UsageError("--client-id and --key go together")
        click.get_current_context().meta[_CREDENTIALS] = (token, client_id, key_file)
        return command(*args, **kwargs)

    return wrapper


def _auth(url: str) -> dict[str, str]:
    """The Authorization header for calls to the server at ``url`` (a FHIR base), if any."""
    ctx = click.get_current_context()
    token, client_id, key = ctx.meta.get(_CREDENTIALS, (None, None, None))
    if not token and client_id and key:
        from fhirauth.auth.credentials import TokenError, fetch_token

        try:
            token = fetch_token(url, client_id, key)["access_token"]
        except (TokenError, ValueError) as exc:
            click.echo(f"no access token: {exc}", err=True)
            sys.exit(1)
        ctx.meta[_CREDENTIALS] = (token, client_id, key)
    return {"Authorization": f"Bearer {token}"} if token else {}


@click.group()
@click.version_option(package_name="fhirauth")
def main() -> None:
    """fhirauth: a payer-side Da Vinci PAS prior-authorization server."""


@main.command()
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
    "scope and a key in the data folder is created; prints how to get a token.",
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
    from fhirauth import startup
    from fhirauth.policy import PolicyError
    from fhirauth.serve import run

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
        run(settings, host=host, port=port, workers=workers, notify=not no_worker)
    except (PolicyError, ValueError, OSError) as exc:
        click.echo(f"fhirauth cannot start: {exc}", err=True)
        sys.exit(2)


def _program() -> str:
    """How the user ran us, for commands we print: ``.venv/bin/fhirauth`` or ``fhirauth``."""
    argv0 = sys.argv[0] if sys.argv else ""
    return argv0 if Path(argv0).name == "fhirauth" else "fhirauth"


def _demo_banner(settings: Settings) -> None:
    """Create the demo client (once) and print how to get and use a token."""
    import shlex

    from fhirauth.auth import demo

    with _store(settings) as (svc_settings, sessions):
        from fhirauth.clock import system_clock

        made = demo.bootstrap(sessions, svc_settings.data_dir, system_clock())
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
    ]
    if not made.enabled:
        lines.append(f"NOTE: the demo client is disabled; `{prog} clients enable {made.client_id}`")
    click.echo("\n".join(lines))


@contextmanager
def _store(settings: Settings) -> Iterator[tuple[Settings, Any]]:
    """Sessions on the configured database, migrated to the current schema."""
    from fhirauth.store.db import make_engine, migrate, session_factory

    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    try:
        migrate(engine)
        yield settings, session_factory(engine)
    finally:
        engine.dispose()


def db_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--data-dir`` and ``--database-url``, as ``serve`` takes them, into ``settings``."""

    @click.option(
        "--data-dir",
        type=click.Path(path_type=Path),
        help="Folder of the SQLite database (default ./fhirauth-data).",
    )
    @click.option("--database-url", help="SQLAlchemy URL, e.g. postgresql://host/db.")
    @functools.wraps(command)
    def wrapper(*args: Any, data_dir: Path | None, database_url: str | None, **kw: Any) -> Any:
        try:
            settings = Settings.from_env(data_dir=data_dir, database_url=database_url)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        return command(*args, settings=settings, **kw)

    return wrapper


@main.command()
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="FHIRAUTH_URL")
@click.option("--client-id", required=True, envvar="FHIRAUTH_CLIENT_ID")
@click.option(
    "--key",
    required=True,
    envvar="FHIRAUTH_KEY",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The client's private key: a JWK or PEM file.",
)
@click.option(
    "--scope",
    "scope",
    multiple=True,
    help="Scopes to ask for (repeatable; default every scope the client has).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole token response.")
def token(url: str, client_id: str, key: Path, scope: tuple[str, ...], as_json: bool) -> None:
    """Get an access token with client_credentials and a signed assertion; print it."""
    from fhirauth.auth.credentials import TokenError, fetch_token

    try:
        answer = fetch_token(url, client_id, key, " ".join(scope) or None)
    except (TokenError, ValueError) as exc:
        click.echo(f"no access token: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(answer["access_token"])


@main.group()
def clients() -> None:
    """SMART Backend Services clients (acts on the database directly)."""


def _read_jwks(path: Path) -> dict[str, Any]:
    """A JWKS from a file holding a JWKS, one public JWK, or a PEM public key."""
    from cryptography.hazmat.primitives import serialization

    from fhirauth.auth.keys import public_jwk

    raw = path.read_bytes()
    if raw.lstrip().startswith(b"{"):
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise click.UsageError(f"{path} is not valid JSON") from None
        return doc if isinstance(doc, dict) and "keys" in doc else {"keys": [doc]}
    if b"PRIVATE KEY" in raw:
        raise click.UsageError(
            f"{path} is a private key: register the public key only, keep the private one"
        )
    try:
        key = serialization.load_pem_public_key(raw)
        return {"keys": [public_jwk(key)]}  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.UsageError(f"{path} is not a JWKS, a JWK or a PEM public key: {exc}") from None


@clients.command("add")
@click.option("--name", required=True, help="Who the client is, e.g. 'Riverbend Clinic EHR'.")
@click.option(
    "--jwks",
    "jwks_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The client's public keys: a JWKS, one JWK, or a PEM public key.",
)
@click.option("--jwks-url", help="Where the client publishes its JWKS (https).")
@click.option(
    "--org-identifier",
    "organizations",
    multiple=True,
    required=True,
    metavar="SYSTEM|VALUE",
    help="An organization the client acts for (repeatable).",
)
@click.option(
    "--sender-id",
    "sender_ids",
    multiple=True,
    metavar="ID",
    help="An X12 interchange sender id (ISA06, interchangeSenderID) it sends as (repeatable).",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="A scope it may be granted (repeatable, or several in one quoted value).",
)
@db_options
def clients_add(
    name: str,
    jwks_file: Path | None,
    jwks_url: str | None,
    organizations: tuple[str, ...],
    sender_ids: tuple[str, ...],
    scopes: tuple[str, ...],
    settings: Settings,
) -> None:
    """Register a client; prints its new client id."""
    from fhirauth.auth import clients as registry
    from fhirauth.clock import system_clock

    jwks = _read_jwks(jwks_file) if jwks_file else None
    new = registry.NewClient(
        name, organizations, scopes, jwks=jwks, jwks_url=jwks_url, sender_ids=sender_ids
    )
    try:
        with _store(settings) as (_, sessions), sessions.begin() as session:
            client = registry.add(session, new, system_clock())
            client_id = client.id
    except registry.ClientError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(client_id)


@clients.command("list")
@click.option("--json", "as_json", is_flag=True)
@db_options
def clients_list(as_json: bool, settings: Settings) -> None:
    """Every client: id, state, name, organizations, scopes, where its keys are."""
    from fhirauth.auth import clients as registry

    with _store(settings) as (_, sessions), sessions() as session:
        rows = [
            {
                "id": c.id,
                "name": c.name,
                "enabled": c.enabled,
                "organizations": c.organizations,
                "sender_ids": c.sender_ids or [],
                "scopes": c.scopes,
                "keys": c.jwks_url or f"{len((c.jwks or {}).get('keys', []))} inline",
                "created": c.created_at.isoformat(),
            }
            for c in registry.all_clients(session)
        ]
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    for c in rows:
        state = "enabled" if c["enabled"] else "DISABLED"
        click.echo(f"{c['id']}  {state}  {c['name']}")
        click.echo(f"    organizations: {', '.join(c['organizations'])}")
        click.echo(f"    sender ids: {', '.join(c['sender_ids']) or '(none)'}")
        click.echo(f"    scopes: {' '.join(c['scopes'])}")
        click.echo(f"    keys: {c['keys']}")
    if not rows:
        click.echo("no clients")


def _set_enabled(client_id: str, enabled: bool, settings: Settings) -> None:
    from fhirauth.auth import clients as registry
    from fhirauth.clock import system_clock

    try:
        with _store(settings) as (_, sessions), sessions.begin() as session:
            registry.set_enabled(session, client_id, enabled, system_clock())
    except registry.ClientError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"{client_id} {'enabled' if enabled else 'disabled'}")


@clients.command("update")
@click.argument("client_id")
@click.option("--add-sender-id", "add", multiple=True, metavar="ID", help="Register a sender id.")
@click.option("--remove-sender-id", "remove", multiple=True, metavar="ID", help="Take one away.")
@db_options
def clients_update(
    client_id: str, add: tuple[str, ...], remove: tuple[str, ...], settings: Settings
) -> None:
    """Change the X12 interchange sender ids registered to a client; prints them."""
    from fhirauth.auth import clients as registry

    if not add and not remove:
        raise click.UsageError("give --add-sender-id or --remove-sender-id")
    try:
        with _store(settings) as (_, sessions), sessions.begin() as session:
            senders = list(registry.change_sender_ids(session, client_id, add, remove).sender_ids)
    except registry.ClientError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"{client_id} sender ids: {', '.join(senders) or '(none)'}")


@clients.command("disable")
@click.argument("client_id")
@db_options
def clients_disable(client_id: str, settings: Settings) -> None:
    """Refuse the client's tokens and token requests from now on."""
    _set_enabled(client_id, False, settings)


@clients.command("enable")
@click.argument("client_id")
@db_options
def clients_enable(client_id: str, settings: Settings) -> None:
    """Accept a disabled client again."""
    _set_enabled(client_id, True, settings)


@main.command("audit")
@click.option("--since", help="Only events at or after this ISO date or date-time (UTC).")
@click.option("--client", "client_id", help="Only this client's requests ('anonymous' too).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True, help="Print FHIR AuditEvents as JSON.")
@db_options
def audit_cmd(
    since: str | None, client_id: str | None, limit: int, as_json: bool, settings: Settings
) -> None:
    """The audit trail, newest first (acts on the database directly)."""
    from fhirauth.api.audit import parse_when
    from fhirauth.auth import audit
    from fhirauth.errors import FhirError as _FhirError

    try:
        after = [(parse_when(since)[0], True)] if since else []
    except _FhirError:
        raise click.UsageError(f"--since {since!r} is not an ISO date or date-time") from None
    stmt = audit.query(after=after, agents=[client_id] if client_id else [])
    with _store(settings) as (_, sessions), sessions() as session:
        rows, _total = audit.search(session, stmt, limit)
        names = audit.client_names(session, rows)
        events = [audit.to_fhir(r, names) for r in rows]
    if as_json:
        click.echo(orjson.dumps(events, option=orjson.OPT_INDENT_2).decode())
        return
    for r in rows:
        line = (
            f"{r.recorded_at.isoformat().replace('+00:00', 'Z')}  {r.agent}  {r.method} "
            f"{r.route or '(no such route)'}  {r.status}"
        )
        if r.entities:
            line += "  " + " ".join(r.entities)
        if r.detail:
            line += f"  ({r.detail})"
        click.echo(line)
    if not rows:
        click.echo("no audit events")


@main.command()
@auth_options
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--url",
    default=DEFAULT_URL,
    show_default=True,
    envvar="FHIRAUTH_URL",
    help="The server's FHIR base.",
)
def submit(files: tuple[Path, ...], url: str) -> None:
    """POST request bundles to Claim/$submit and print each item's decision."""
    import requests

    failed = False
    for path in files:
        try:
            resp = requests.post(
                f"{url.rstrip('/')}/Claim/$submit",
                data=path.read_bytes(),
                headers={
                    "Content-Type": "application/fhir+json",
                    "Accept": "application/fhir+json",
                    **_auth(url),
                },
                timeout=60,
            )
        except requests.RequestException as exc:
            click.echo(f"{path}: cannot reach {url}: {exc}", err=True)
            failed = True
            continue
        click.echo(f"{path}: HTTP {resp.status_code}")
        body = _json(resp.content)
        if resp.ok and isinstance(body, dict) and body.get("resourceType") == "Bundle":
            click.echo(describe_response(body))
        else:
            failed = True
            if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
                click.echo(describe_outcome(body))
    sys.exit(1 if failed else 0)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--package",
    "packages",
    multiple=True,
    metavar="PATH|NAME#VERSION",
    help="Validate against a FHIR package's StructureDefinitions (.tgz, folder, or NAME#VERSION "
    "from the package cache) instead of fhirauth's own PAS profiles; repeatable.",
)
@click.option("--errors-only", is_flag=True, help="Print errors, not warnings.")
def validate(files: tuple[Path, ...], packages: tuple[str, ...], errors_only: bool) -> None:
    """Check resources offline: $submit's structural checks for PAS request bundles, then every
    resource against its profiles (meta.profile, or what the bundle implies). Exit 1 on errors."""
    from fhirauth.conformance import PackageError, Registry, validate_resource
    from fhirauth.conformance.cache import resolve
    from fhirauth.fhir.bundle import parse_request
    from fhirauth.fhir.strict_json import load_json

    try:
        registry = Registry()
        for package in packages:
            registry = registry.load_package(resolve(package))
        if not packages:
            registry = registry.load_ours()
    except (PackageError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    for note in registry.issues:
        if not errors_only and note.severity == "warning":
            click.echo(f"note: {note.diagnostics}")
    failed = False
    for path in files:
        try:
            data = load_json(path.read_bytes())
            first = (
                ((data.get("entry") or [{}])[0] or {}).get("resource", {})
                if isinstance(data, dict) and data.get("resourceType") == "Bundle"
                else {}
            )
            structural = parse_request(data) if first.get("resourceType") == "Claim" else None
        except FhirError as exc:
            failed = True
            click.echo(f"{path}: invalid ({len(exc.issues)} issues)")
            for issue in exc.issues:
                click.echo(f"  {_issue_line(issue.severity, issue.diagnostics, issue.expression)}")
            continue
        issues = list(structural.warnings) if structural else []
        issues += validate_resource(data, registry)
        errors = [i for i in issues if i.severity == "error"]
        failed = failed or bool(errors)
        shown = errors if errors_only else [i for i in issues if i.severity != "information"]
        click.echo(
            f"{path}: {'invalid' if errors else 'ok'} ({len(errors)} errors, "
            f"{sum(1 for i in issues if i.severity == 'warning')} warnings)"
        )
        for issue in shown:
            click.echo(f"  {_issue_line(issue.severity, issue.diagnostics, issue.expression)}")
    sys.exit(1 if failed else 0)


@main.group()
@click.option(
    "--cache",
    "cache_dir",
    envvar="FHIR_PACKAGE_CACHE",
    type=click.Path(file_okay=False, path_type=Path),
    help="The FHIR package cache (FHIR_PACKAGE_CACHE; default ~/.fhir/packages).",
)
@click.pass_context
def packages(ctx: click.Context, cache_dir: Path | None) -> None:
    """FHIR packages in the cache the HL7 validator and Firely tools share."""
    ctx.obj = cache_dir


@packages.command("install")
@click.argument("target", metavar="FILE.tgz|NAME[#VERSION]")
@click.option(
    "--registry",
    default="https://packages.fhir.org",
    show_default=True,
    help="npm-protocol package registry to download NAME#VERSION from.",
)
@click.pass_obj
def packages_install(cache_dir: Path | None, target: str, registry: str) -> None:
    """Install a package tarball, or NAME#VERSION (NAME alone: the latest) from a registry."""
    from fhirauth.conformance.cache import install_file, install_from_registry, parse_spec
    from fhirauth.conformance.package import PackageError

    try:
        if Path(target).is_file() or target.endswith((".tgz", ".tar.gz")):
            pkg = install_file(target, cache_dir)
        else:
            name, version = parse_spec(target)
            pkg = install_from_registry(name, version, registry, cache_dir)
    except (PackageError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"installed {pkg.spec} in {pkg.path}")


@packages.command("list")
@click.pass_obj
def packages_list(cache_dir: Path | None) -> None:
    """Installed packages: name, version, StructureDefinitions, folder."""
    from fhirauth.conformance.cache import cache_dir as where
    from fhirauth.conformance.cache import installed

    try:
        found = installed(cache_dir)
        if not found:
            click.echo(f"no packages in {where(cache_dir)}")
            return
        rows = [(p.name, p.version, str(p.structure_definitions()), str(p.path)) for p in found]
    except OSError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    head = ("NAME", "VERSION", "STRUCTDEFS", "FOLDER")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    for row in [head, *rows]:
        click.echo("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[3]]))


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the traces as JSON.")
def explain(files: tuple[Path, ...], as_json: bool) -> None:
    """Decide request bundles with the configured policies and print why, storing nothing."""
    from fhirauth.clock import system_clock
    from fhirauth.decision.decide import decide
    from fhirauth.fhir.bundle import parse_request
    from fhirauth.operations.claim_submit import evaluate
    from fhirauth.policy import load_policies

    settings = Settings.from_env()
    policies = load_policies(list(settings.policy_dirs))
    from fhirauth.services import membership_source

    membership = membership_source(settings)
    failed = False
    for path in files:
        try:
            req = parse_request(path.read_bytes())
        except FhirError as exc:
            failed = True
            click.echo(f"{path}: invalid")
            for issue in exc.issues:
                click.echo(f"  {_issue_line(issue.severity, issue.diagnostics, issue.expression)}")
            continue
        now = system_clock()
        ev = evaluate(req, policies, membership, now.date())
        decision = decide(req.claim.resource, ev.results, "EXPLAIN", now)
        if as_json:
            click.echo(
                orjson.dumps(
                    {
                        "file": str(path),
                        "policy": ev.policy.id if ev.policy else None,
                        "expedited": ev.expedited,
                        "error": ev.error,
                        "items": [r.trace for r in ev.results],
                    },
                    option=orjson.OPT_INDENT_2,
                ).decode()
            )
            continue
        click.echo(
            f"{path}: policy {ev.policy.id if ev.policy else '(none)'}"
            f"{' (expedited: 72 h)' if ev.expedited else ' (standard: 7 days)'}"
        )
        if ev.error:
            click.echo(
                f"  cannot be processed: X12 901 {ev.error[0]} {ev.error[1]} at {ev.error[2]} "
                "-> outcome=error"
            )
        for d, r in zip(decision.items, ev.results, strict=True):
            click.echo(
                f"  item {d.sequence}: {d.action}"
                + (f" (recommended {r.recommendation})" if r.recommendation else "")
            )
            click.echo(trace_text(r.trace, indent="    "))
    sys.exit(1 if failed else 0)


def trace_text(trace: dict[str, Any], indent: str = "  ") -> str:
    """A rule trace as lines a person reads: candidates, checks, steps, why."""
    lines = [f"{indent}codes: {', '.join(trace.get('codes') or []) or '(none)'}"]
    for cand in trace.get("candidates") or []:
        mark = "applies" if cand.get("applies") else "does not apply"
        lines.append(f"{indent}rule {cand['rule']} (priority {cand['priority']}): {mark}")
        for check in cand.get("checks") or []:
            for cond in check.get("conditions") or [check]:
                what = cond.get("expression") or check.get("check")
                lines.append(f"{indent}  {check.get('check')}: {what} -> {cond.get('result')}")
    for step in trace.get("steps") or []:
        if "conditions" in step:
            for cond in step["conditions"]:
                lines.append(f"{indent}{step['step']}: {cond['expression']} -> {cond['result']}")
        elif step.get("step") == "documentation":
            lines.append(
                f"{indent}documentation: required {step['required']}, missing "
                f"{step['missing'] or 'none'}"
            )
        elif step.get("step") == "limit":
            lines.append(f"{indent}limit: { ({k: v for k, v in step.items() if k != 'step'}) }")
    lines.append(f"{indent}decided by: {trace.get('decided_by') or 'no rule'}")
    if trace.get("why"):
        lines.append(f"{indent}why: {trace['why']}")
    return "\n".join(lines)


@main.group()
def policy() -> None:
    """Payer policy files."""


@policy.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def policy_check(paths: tuple[Path, ...]) -> None:
    """Lint policy files (default: the configured policy folders); exit 1 on the first error."""
    from fhirauth.policy import PolicyError, load_policies
    from fhirauth.policy.loader import compile_policy

    try:
        if any(p.is_file() for p in paths):
            import yaml

            for p in paths:
                policy_ = compile_policy(yaml.safe_load(p.read_text(encoding="utf-8")), p)
                click.echo(f"{p}: ok: policy {policy_.id}, {len(policy_.rules)} rules")
            return
        dirs = list(paths) or list(Settings.from_env().policy_dirs)
        for p in load_policies(dirs).policies:
            default = ", the default" if p.default else ""
            click.echo(f"{p.source}: ok: policy {p.id}{default}, {len(p.rules)} rules")
    except (PolicyError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # a YAML syntax error in a single file
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@main.command()
@auth_options
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="FHIRAUTH_URL")
def eligibility(files: tuple[Path, ...], url: str) -> None:
    """POST CoverageEligibilityRequests and print, per item, whether authorization is needed."""
    failed = False
    for path in files:
        resp = _post(
            f"{url.rstrip('/')}/CoverageEligibilityRequest/$submit", path.read_bytes(), _auth(url)
        )
        if resp is None:
            failed = True
            continue
        body = _json(resp.content)
        click.echo(f"{path}: HTTP {resp.status_code}")
        if (
            not resp.ok
            or not isinstance(body, dict)
            or body.get("resourceType") != ("CoverageEligibilityResponse")
        ):
            failed = True
            if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
                click.echo(describe_outcome(body))
            continue
        click.echo(f"  {body.get('disposition')}")
        for ins in body.get("insurance") or []:
            for n, item in enumerate(ins.get("item") or [], start=1):
                codes = ", ".join(
                    c.get("code", "?")
                    for c in (item.get("productOrService") or {}).get("coding") or []
                )
                if item.get("excluded"):
                    verdict = "not covered"
                elif item.get("authorizationRequired"):
                    verdict = "authorization required"
                else:
                    verdict = "no authorization needed"
                click.echo(f"  item {n} ({codes}): {verdict}")
                for doc in item.get("authorizationSupporting") or []:
                    click.echo(f"      needs: {doc.get('text')}")
    sys.exit(1 if failed else 0)


@main.command()
@auth_options
@click.argument("key")
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="FHIRAUTH_URL")
@click.option("--json", "as_json", is_flag=True)
def trace(key: str, url: str, as_json: bool) -> None:
    """Print the decision trace of a stored authorization (its id or preAuthRef)."""
    resp = _get(f"{_admin(url)}/authorizations/{key}/trace", _auth(url))
    body = _json(resp.content)
    if not resp.ok:
        click.echo(f"HTTP {resp.status_code}")
        if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
            click.echo(describe_outcome(body))
        sys.exit(1)
    if as_json:
        click.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return
    if body.get("preAuthRef"):
        click.echo(f"authorization {body['preAuthRef']} ({body['id']})")
    else:  # a refused request is no authorization: it has no number (issue 11)
        click.echo(f"refused request ({body['id']}), no authorization number")
    for e in body["events"]:
        item = f"item {e['item']}" if e["item"] is not None else "request"
        click.echo(f"  {e['at']} {item}: {e['action']} by {e['actor']}")
        if e.get("trace"):
            click.echo(trace_text(e["trace"], indent="    "))


@main.group()
def review() -> None:
    """The reviewer queue: pended authorizations under CMS clocks (72 h expedited, 7 days)."""


def _review_get(url: str, path: str) -> Any:
    resp = _get(f"{_admin(url)}/review/{path}", _auth(url))
    body = _json(resp.content)
    if not resp.ok:
        click.echo(f"HTTP {resp.status_code}")
        if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
            click.echo(describe_outcome(body))
        sys.exit(1)
    return body


def _queue_lines(body: dict[str, Any]) -> list[str]:
    lines = []
    for case in body["pended"]:
        flags = ["EXPEDITED" if case["expedited"] else "standard", case["urgency"]]
        if case.get("documentationReceivedAt"):
            flags.append("documentation received")
        lines.append(
            f"{case['preAuthRef']}  {case['id']}  due {case['dueAt'][:16]} "
            f"({case['hoursLeft']:+.1f} h)  items {case['pendingItems']}  "
            f"{', '.join(flags)}"
        )
    for case in body["undelivered"]:
        lines.append(
            f"{case['preAuthRef']}  {case['id']}  decided {case['decidedAt'][:16]}, "
            "not delivered yet"
        )
    return lines or ["nothing pended"]


def _print_queue(url: str, path: str, as_json: bool) -> None:
    body = _review_get(url, path)
    if as_json:
        click.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo("\n".join(_queue_lines(body)))


@review.command("list")
@auth_options
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="FHIRAUTH_URL")
@click.option("--json", "as_json", is_flag=True)
def review_list(url: str, as_json: bool) -> None:
    """Pended authorizations, soonest due first, then decisions not yet delivered."""
    _print_queue(url, "queue", as_json)


@review.command("overdue")
@auth_options
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="FHIRAUTH_URL")
@click.option("--json", "as_json", is_flag=True)
def review_overdue(url: str, as_json: bool) -> None:
    """What is late, or has less than a quarter of its CMS window left."""
    _print_queue(url, "queue?overdue=1", as_json)


@review.command("show")
@auth_options
@click.argument("key")
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="FHIRAUTH_URL")
def review_show(key: str, url: str) -> None:
    """One authorization (id or preAuthRef): its clock, items, recommendations, documents."""
    case = _review_get(url, key)
    click.echo(
        f"{case['preAuthRef']} ({case['id']}): {case['status']}, "
        f"{'expedited' if case['expedited'] else 'standard'}, due {case['dueAt'][:16]} "
        f"({case['urgency']})"
    )
    for item in case["items"]:
        line = f"  item {item['sequence']}: {item['reviewAction']}  {item['code']}"
        if item.get("recommendation"):
            line += f"  recommended {item['recommendation']}"
        click.echo(line)
        if item.get("why"):
            click.echo(f"      why: {item['why']}")
        for doc in item.get("requestedDocuments") or []:
            click.echo(f"      waiting for: {doc['description']}")
    warnings = case.get("warnings") or []
    if warnings:
        click.echo(f"  request warnings ({len(warnings)}, the request was decided all the same):")
        for w in warnings[:_SHOWN_WARNINGS]:
            where = ", ".join(w.get("expression") or []) or "Bundle"
            click.echo(f"    {where}: {w['diagnostics']}")
        if len(warnings) > _SHOWN_WARNINGS:
            click.echo(f"    … {len(warnings) - _SHOWN_WARNINGS} more: GET /admin/review/{key}")


_SHOWN_WARNINGS = 10


@review.command("decide")
@auth_options
@click.argument("key")
@click.option("--item", "sequence", required=True, type=int)
@click.option(
    "--approve", "action", flag_value="approve", help="Certify (A1; A2 with a smaller --quantity)."
)
@click.option("--modify", "action", flag_value="modify", help="Certify a modified version (A6).")
@click.option("--deny", "deny_code", metavar="X12_886_CODE", help="Deny with this reason code.")
@click.option(
    "--request-info",
    "documents",
    multiple=True,
    metavar="LOINC",
    help="Ask for documentation (repeat for several LOINC codes).",
)
@click.option("--period-days", type=int)
@click.option("--quantity", type=float)
@click.option("--reason", help="The sentence the clinician reads (required with --deny).")
@click.option("--npi", envvar="FHIRAUTH_REVIEWER_NPI", help="Your NPI (reviewerNPI).")
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="FHIRAUTH_URL")
def review_decide(
    key: str,
    sequence: int,
    action: str | None,
    deny_code: str | None,
    documents: tuple[str, ...],
    period_days: int | None,
    quantity: float | None,
    reason: str | None,
    npi: str | None,
    url: str,
) -> None:
    """Decide one pended item (A4); prints the new ClaimResponse version. The reviewer is the
    client the credentials name; a final item must be reopened first (review reopen)."""
    chosen = [
        a
        for a in (action, "deny" if deny_code else None, "request-info" if documents else None)
        if a
    ]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --approve, --modify, --deny, --request-info")
    payload: dict[str, Any] = {"item": sequence, "action": chosen[0]}
    if npi:
        payload["reviewer"] = {"npi": npi}
    for k, v in (
        ("period_days", period_days),
        ("quantity", quantity),
        ("reason", reason),
        ("reason_code", deny_code),
    ):
        if v is not None:
            payload[k] = v
    if documents:
        payload["documents"] = list(documents)
    _review_post(url, f"{key}/decisions", payload)


@review.command("reopen")
@auth_options
@click.argument("key")
@click.option("--item", "sequence", required=True, type=int)
@click.option("--reason", required=True, help="Why the final decision is reopened (audited).")
@click.option("--npi", envvar="FHIRAUTH_REVIEWER_NPI", help="Your NPI (reviewerNPI).")
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="FHIRAUTH_URL")
def review_reopen(key: str, sequence: int, reason: str, npi: str | None, url: str) -> None:
    """Put a final item back to pended (A4) so that it can be decided again; prints the new
    ClaimResponse version, which the provider is notified of."""
    payload: dict[str, Any] = {"item": sequence, "reason": reason}
    if npi:
        payload["reviewer"] = {"npi": npi}
    _review_post(url, f"{key}/reopen", payload)


def _review_post(url: str, path: str, payload: dict[str, Any]) -> None:
    """POST to /admin/review/<path>; print the status and the new version, or the issues."""
    import requests

    try:
        resp = requests.post(
            f"{_admin(url)}/review/{path}", json=payload, headers=_auth(url), timeout=60
        )
    except requests.RequestException as exc:
        click.echo(f"cannot reach {url}: {exc}", err=True)
        sys.exit(1)
    body = _json(resp.content)
    click.echo(f"HTTP {resp.status_code}")
    if not resp.ok:
        if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
            click.echo(describe_outcome(body))
        sys.exit(1)
    click.echo(describe_response(body))


@main.group("sandbox")
def sandbox_group() -> None:
    """Sandbox mode (FHIRAUTH_SANDBOX=1): script the outcome of the next submissions."""


@sandbox_group.command("next")
@auth_options
@click.argument("outcome", type=click.Choice(["A1", "A2", "A3", "A4", "A6", "NA", "CT", "error"]))
@click.option("--count", default=1, show_default=True, type=click.IntRange(1, 100))
@click.option(
    "--principal",
    help="Whose submissions: a client id (default: the client whose credentials are in use, "
    "or the anonymous caller without credentials).",
)
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="FHIRAUTH_URL")
def sandbox_next(outcome: str, count: int, principal: str | None, url: str) -> None:
    """Answer OUTCOME to the next COUNT submissions, whatever they contain."""
    import requests

    payload: dict[str, Any] = {"outcome": outcome, "count": count}
    principal = principal or _caller()
    if principal:
        payload["principal"] = principal
    resp = requests.post(
        f"{_admin(url)}/sandbox/scripts", json=payload, headers=_auth(url), timeout=30
    )
    body = _json(resp.content)
    if not resp.ok:
        click.echo(f"HTTP {resp.status_code}")
        if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
            click.echo(describe_outcome(body))
        sys.exit(1)
    click.echo("pending: " + (", ".join(s["outcome"] for s in body["pending"]) or "none"))


@sandbox_group.command("clear")
@auth_options
@click.option("--principal", help="Whose scripts (default: as for `sandbox next`).")
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="FHIRAUTH_URL")
def sandbox_clear(principal: str | None, url: str) -> None:
    """Drop scripted outcomes not used yet."""
    import requests

    principal = principal or _caller()
    params = {"principal": principal} if principal else {}
    resp = requests.delete(
        f"{_admin(url)}/sandbox/scripts", params=params, headers=_auth(url), timeout=30
    )
    if not resp.ok:
        click.echo(f"HTTP {resp.status_code}")
        sys.exit(1)
    click.echo("pending: none")


def _caller() -> str | None:
    """The client id of the credentials in use: ``--client-id``, or the ``client_id`` (``sub``)
    of the ``--token`` (read, not verified: the server verifies it). None without credentials."""
    token, client_id, _ = click.get_current_context().meta.get(_CREDENTIALS, (None, None, None))
    if client_id:
        return str(client_id)
    if token:
        import jwt

        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return None
        found = claims.get("client_id") or claims.get("sub")
        return str(found) if found else None
    return None


def _admin(url: str) -> str:
    """The admin API sits beside the FHIR base: http://host:port/admin."""
    base = url.rstrip("/")
    return (base.removesuffix("/fhir") if base.endswith("/fhir") else base) + "/admin"


def _get(url: str, auth: dict[str, str] | None = None) -> Any:
    import requests

    try:
        return requests.get(url, headers={"Accept": "application/json", **(auth or {})}, timeout=30)
    except requests.RequestException as exc:
        click.echo(f"cannot reach {url}: {exc}", err=True)
        sys.exit(1)


def _post(url: str, data: bytes, auth: dict[str, str] | None = None) -> Any:
    import requests

    try:
        return requests.post(
            url,
            data=data,
            headers={
                "Content-Type": "application/fhir+json",
                "Accept": "application/fhir+json",
                **(auth or {}),
            },
            timeout=60,
        )
    except requests.RequestException as exc:
        click.echo(f"cannot reach {url}: {exc}", err=True)
        return None


def _json(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None


def _issue_line(severity: str, text: str, expression: Any) -> str:
    where = f" at {', '.join(expression)}" if expression else ""
    return f"{severity}: {text}{where}"


def describe_outcome(oo: dict[str, Any]) -> str:
    return "\n".join(
        "  "
        + _issue_line(
            i.get("severity", "error"),
            i.get("diagnostics") or (i.get("details") or {}).get("text", ""),
            i.get("expression"),
        )
        for i in oo.get("issue") or []
    )


def describe_response(bundle: dict[str, Any]) -> str:
    """One line per item: sequence, review action, authorization number, reason."""
    from fhirauth.clitext import awaited, error_lines

    cr = bundle["entry"][0]["resource"]
    notes = {n.get("number"): n.get("text") for n in cr.get("processNote") or []}
    lines = [f"  authorization {cr.get('preAuthRef', '-')}  outcome {cr.get('outcome')}"]
    waits = awaited(bundle)
    for item in cr.get("item") or []:
        review = _review_action(item)
        code = review.get("code") or "?"
        line = f"  item {item.get('itemSequence')}: {code}"
        if review.get("number"):
            line += f"  auth {review['number']}"
        period = _ext(item, "extension-itemPreAuthPeriod", "valuePeriod")
        if period:
            line += f"  valid {period.get('start')}..{period.get('end')}"
        if review.get("reason"):
            line += f"  reason {review['reason']}"
        texts = [notes.get(n) for n in item.get("noteNumber") or [] if notes.get(n)]
        if texts:
            line += f"\n      {' '.join(texts)}"
        if code == "A4":
            for wanted in waits.get(item.get("itemSequence")) or ["a reviewer's decision"]:
                line += f"\n      awaits: {wanted}"
        lines.append(line)
    lines += [f"  awaits: {wanted}" for wanted in waits.get(None) or []]
    lines += error_lines(cr)
    return "\n".join(lines)


def _ext(node: dict[str, Any], name: str, key: str) -> Any:
    for e in node.get("extension") or []:
        if e.get("url") == _PAS + name:
            return e.get(key)
    return None


def _review_action(item: dict[str, Any]) -> dict[str, Any]:
    for adj in item.get("adjudication") or []:
        for ext in adj.get("extension") or []:
            if ext.get("url") != _PAS + "extension-reviewAction":
                continue
            out: dict[str, Any] = {}
            for sub in ext.get("extension") or []:
                if sub.get("url") == _PAS + "extension-reviewActionCode":
                    out["code"] = (sub["valueCodeableConcept"].get("coding") or [{}])[0].get("code")
                elif sub.get("url") == "number":
                    out["number"] = sub.get("valueString")
                elif sub.get("url") == "reasonCode":
                    out["reason"] = (sub["valueCodeableConcept"].get("coding") or [{}])[0].get(
                        "code"
                    )
            return out
    return {}
