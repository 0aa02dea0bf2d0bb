"""``fhirauth`` command line: serve, submit, validate."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
import orjson

from fhirauth.config import Settings
from fhirauth.errors import FhirError

DEFAULT_URL = "http://127.0.0.1:8080/fhir"
_PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"


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
def serve(
    host: str, port: int, data_dir: Path | None, database_url: str | None, workers: int
) -> None:
    """Run the API with gunicorn, creating or migrating the database first."""
    from fhirauth.serve import run

    # Without FHIRAUTH_BASE_URL, fullUrls use the address we listen on.
    base_url = None if "FHIRAUTH_BASE_URL" in os.environ else f"http://{host}:{port}/fhir"
    settings = Settings.from_env(data_dir=data_dir, database_url=database_url, base_url=base_url)
    run(settings, host=host, port=port, workers=workers)


@main.command()
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
def validate(files: tuple[Path, ...]) -> None:
    """Run $submit's structural checks offline and print the issues."""
    from fhirauth.fhir.bundle import parse_request

    failed = False
    for path in files:
        try:
            req = parse_request(path.read_bytes())
        except FhirError as exc:
            failed = True
            click.echo(f"{path}: invalid ({len(exc.issues)} issues)")
            for issue in exc.issues:
                click.echo(f"  {_issue_line(issue.severity, issue.diagnostics, issue.expression)}")
            continue
        click.echo(f"{path}: ok ({len(req.items)} items, {len(req.warnings)} warnings)")
        for w in req.warnings:
            click.echo(f"  {_issue_line(w.severity, w.diagnostics, w.expression)}")
    sys.exit(1 if failed else 0)


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
    cr = bundle["entry"][0]["resource"]
    notes = {n.get("number"): n.get("text") for n in cr.get("processNote") or []}
    lines = [f"  authorization {cr.get('preAuthRef', '-')}  outcome {cr.get('outcome')}"]
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
        lines.append(line)
    for err in cr.get("error") or []:
        codes = [c.get("code") for c in (err.get("code") or {}).get("coding") or []]
        lines.append(f"  error {', '.join(map(str, codes))}")
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
