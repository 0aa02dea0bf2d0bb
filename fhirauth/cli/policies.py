"""``fhirauth policy``: the payer's policy files."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import yaml

from fhirauth.config import Settings
from fhirauth.policy import PolicyError, load_policies
from fhirauth.policy.loader import compile_policy


@click.group()
def policy() -> None:
    """Payer policy files."""


@policy.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def policy_check(paths: tuple[Path, ...]) -> None:
    """Lint policy files (default: the configured policy folders); exit 1 on the first error."""
    try:
        if any(p.is_file() for p in paths):
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
