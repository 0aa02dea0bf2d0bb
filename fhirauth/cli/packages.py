"""``fhirauth packages``: the FHIR package cache."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fhirauth.conformance.cache import cache_dir as where
from fhirauth.conformance.cache import install_file, install_from_registry, installed, parse_spec
from fhirauth.conformance.package import PackageError


@click.group()
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
