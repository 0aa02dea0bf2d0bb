"""Request bundles: ``submit`` and ``eligibility`` send them to the server; ``validate`` and
``explain`` judge them here, storing nothing."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click
import orjson

from fhirauth.cli.http import (
    DEFAULT_URL,
    Unreachable,
    auth_options,
    call,
    echo_issues,
    url_option,
)
from fhirauth.clock import system_clock
from fhirauth.config import Settings
from fhirauth.conformance import PackageError, Registry, validate_resource
from fhirauth.conformance.cache import resolve
from fhirauth.decision.decide import decide
from fhirauth.errors import FhirError
from fhirauth.fhir.bundle import parse_request
from fhirauth.fhir.response_text import describe_check, describe_response, issue_line, trace_text
from fhirauth.fhir.strict_json import load_json
from fhirauth.operations.pipeline import evaluate
from fhirauth.policy import load_policies
from fhirauth.services import membership_source

_files = click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)
)


def _post_each(
    files: tuple[Path, ...], url: str, path: str, kind: str, show: Callable[[dict[str, Any]], None]
) -> NoReturn:
    """POST each file to ``path``; print its HTTP status, then ``show`` a ``kind`` answer or
    print the issues. Exit 1 if any file got no such answer."""
    failed = False
    for file in files:
        try:
            answer = call("POST", url, path, fhir=file.read_bytes(), timeout=60)
        except Unreachable as exc:
            click.echo(f"{file}: {exc}", err=True)
            failed = True
            continue
        click.echo(f"{file}: HTTP {answer.status}")
        body = answer.resource(kind)
        if body is None:
            failed = True
            echo_issues(answer)
        else:
            show(body)
    sys.exit(1 if failed else 0)


@click.command()
@auth_options
@_files
@url_option
@click.option(
    "--record", is_flag=True, help="The claims are really billed: consume their units (once)."
)
def check(files: tuple[Path, ...], url: str, record: bool) -> None:
    """POST billing claims to Claim/$check-authorization and print, per line, the
    authorization it falls under and every mismatch."""
    path = "/Claim/$check-authorization" + ("?record=true" if record else "")
    _post_each(files, url, path, "Parameters", lambda p: click.echo(describe_check(p)))


@click.command()
@auth_options
@_files
@click.option(
    "--url",
    default=DEFAULT_URL,
    show_default=True,
    envvar="FHIRAUTH_URL",
    help="The server's FHIR base.",
)
def submit(files: tuple[Path, ...], url: str) -> None:
    """POST request bundles to Claim/$submit and print each item's decision."""
    _post_each(files, url, "/Claim/$submit", "Bundle", lambda b: click.echo(describe_response(b)))


@click.command()
@auth_options
@_files
@url_option
def eligibility(files: tuple[Path, ...], url: str) -> None:
    """POST CoverageEligibilityRequests and print, per item, whether authorization is needed."""
    _post_each(
        files,
        url,
        "/CoverageEligibilityRequest/$submit",
        "CoverageEligibilityResponse",
        _show_eligibility,
    )


def _show_eligibility(body: dict[str, Any]) -> None:
    click.echo(f"  {body.get('disposition')}")
    for ins in body.get("insurance") or []:
        for n, item in enumerate(ins.get("item") or [], start=1):
            codes = ", ".join(
                c.get("code", "?") for c in (item.get("productOrService") or {}).get("coding") or []
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


def _echo_invalid(path: Path, verdict: str, exc: FhirError) -> None:
    click.echo(f"{path}: {verdict}")
    for issue in exc.issues:
        click.echo(f"  {issue_line(issue.severity, issue.diagnostics, issue.expression)}")


@click.command()
@_files
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
            _echo_invalid(path, f"invalid ({len(exc.issues)} issues)", exc)
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
            click.echo(f"  {issue_line(issue.severity, issue.diagnostics, issue.expression)}")
    sys.exit(1 if failed else 0)


@click.command()
@_files
@click.option("--json", "as_json", is_flag=True, help="Print the traces as JSON.")
def explain(files: tuple[Path, ...], as_json: bool) -> None:
    """Decide request bundles with the configured policies and print why, storing nothing."""
    settings = Settings.from_env()
    policies = load_policies(list(settings.policy_dirs))
    membership = membership_source(settings)
    failed = False
    for path in files:
        try:
            req = parse_request(path.read_bytes())
        except FhirError as exc:
            failed = True
            _echo_invalid(path, "invalid", exc)
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
