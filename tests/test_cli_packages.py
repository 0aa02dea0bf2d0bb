"""``fhirauth packages install|list`` and ``fhirauth validate --package NAME#VERSION``, with a
package cache in a temporary folder and a registry served over real HTTP; the server reading
FHIRAUTH_PACKAGES from the cache."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fhirauth.cli import main
from fhirauth.config import Settings
from fhirauth.services import Services, profile_registry
from tests.conformance.packages import (
    NAME,
    PROFILE,
    NpmRegistry,
    make_tgz,
    package_files,
    patient,
    tgz_bytes,
)
from tests.conftest import SHARED_PAS

PAS_201 = SHARED_PAS / "packages" / "hl7.fhir.us.davinci-pas-2.0.1.tgz"
PAS_201_EXAMPLE = (
    SHARED_PAS / "examples" / "v2.0.1" / "Bundle-ReferralAuthorizationBundleExample.json"
)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def one_line_error(result: Result) -> str:
    """The error a failing command printed: one line, no traceback."""
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def write_patient(folder: Path, gender: str | None = None) -> Path:
    path = folder / f"patient-{gender or 'none'}.json"
    path.write_text(json.dumps(patient(gender)), encoding="utf-8")
    return path


def test_install_a_tarball(cache: Path, tmp_path: Path) -> None:
    result = run("packages", "install", str(make_tgz(tmp_path)))
    assert result.exit_code == 0, result.output
    assert f"installed {NAME}#1.0.0 in {cache / f'{NAME}#1.0.0'}" in result.output
    assert (cache / f"{NAME}#1.0.0" / "package" / "package.json").is_file()


def test_install_by_name_and_version_from_a_registry(cache: Path, registry: NpmRegistry) -> None:
    registry.publish(tgz_bytes(package_files(version="1.0.0")), version="1.0.0")
    registry.publish(tgz_bytes(package_files(version="2.0.0")), version="2.0.0", latest=False)
    result = run("packages", "install", f"{NAME}#2.0.0", "--registry", registry.url)
    assert result.exit_code == 0, result.output
    assert f"installed {NAME}#2.0.0" in result.output


def test_install_by_name_alone_takes_the_latest(cache: Path, registry: NpmRegistry) -> None:
    registry.publish(tgz_bytes(package_files(version="1.0.0")), version="1.0.0", latest=False)
    registry.publish(tgz_bytes(package_files(version="1.2.0")), version="1.2.0")
    result = run("packages", "install", NAME, "--registry", registry.url)
    assert result.exit_code == 0, result.output
    assert f"installed {NAME}#1.2.0" in result.output


def test_an_unknown_version_fails_with_one_line(cache: Path, registry: NpmRegistry) -> None:
    registry.publish(tgz_bytes(package_files()))
    result = run("packages", "install", f"{NAME}#9.0.0", "--registry", registry.url)
    line = one_line_error(result)
    assert f"{NAME}#9.0.0: no such version" in line and "1.0.0" in line


def test_a_shasum_mismatch_fails_and_installs_nothing(cache: Path, registry: NpmRegistry) -> None:
    dist = registry.publish(tgz_bytes(package_files()))
    dist["shasum"] = "f" * 40
    registry.sync()
    line = one_line_error(run("packages", "install", f"{NAME}#1.0.0", "--registry", registry.url))
    assert "shasum" in line
    assert "no packages in" in run("packages", "list").output


def test_a_tarball_with_a_parent_path_is_refused(cache: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(tgz_bytes({**package_files(), "package/../../x.json": b"{}"}))
    line = one_line_error(run("packages", "install", str(bad)))
    assert "points outside the package" in line
    assert not (tmp_path / "x.json").exists()


def test_a_name_that_is_neither_file_nor_package_fails(cache: Path) -> None:
    assert "no such package file" in one_line_error(run("packages", "install", "no/such.tgz"))
    assert "not a package" in one_line_error(run("packages", "install", "no/such"))


def test_list_shows_name_version_structure_definitions_and_folder(
    cache: Path, tmp_path: Path
) -> None:
    assert run("packages", "list").output.strip() == f"no packages in {cache}"
    run("packages", "install", str(make_tgz(tmp_path, version="1.0.0")))
    run("packages", "install", str(make_tgz(tmp_path, "other.pkg", "0.1.0")))
    result = run("packages", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "STRUCTDEFS", "FOLDER"]
    assert lines[1].split() == [NAME, "1.0.0", "1", str(cache / f"{NAME}#1.0.0")]
    assert lines[2].split() == ["other.pkg", "0.1.0", "1", str(cache / "other.pkg#0.1.0")]


def test_the_cache_option_overrides_the_environment(cache: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-cache"
    result = run("packages", "--cache", str(other), "install", str(make_tgz(tmp_path)))
    assert result.exit_code == 0, result.output
    assert (other / f"{NAME}#1.0.0").is_dir()
    assert not cache.exists()
    assert NAME in run("packages", "--cache", str(other), "list").output


def test_validate_finds_the_profile_of_a_cached_package(cache: Path, tmp_path: Path) -> None:
    run("packages", "install", str(make_tgz(tmp_path)))
    bad = run("validate", "--package", f"{NAME}#1.0.0", str(write_patient(tmp_path)))
    assert bad.exit_code == 1, bad.output
    assert f"{PROFILE}: min: Patient.gender is 1..1, found 0" in bad.output
    good = run("validate", "--package", f"{NAME}#1.0.0", str(write_patient(tmp_path, "male")))
    assert good.exit_code == 0, good.output
    assert "ok (0 errors" in good.output


def test_validate_still_takes_a_tarball_path(cache: Path, tmp_path: Path) -> None:
    result = run("validate", "--package", str(make_tgz(tmp_path)), str(write_patient(tmp_path)))
    assert result.exit_code == 1 and "Patient.gender is 1..1" in result.output


def test_validate_with_a_package_not_installed_names_what_is(cache: Path, tmp_path: Path) -> None:
    run("packages", "install", str(make_tgz(tmp_path)))
    result = run("validate", "--package", f"{NAME}#2.0.0", str(write_patient(tmp_path)))
    assert result.exit_code == 2
    line = one_line_error(result)
    assert f"{NAME}#2.0.0 is not in the package cache" in line
    assert f"installed: {NAME}#1.0.0" in line


# --- the server ------------------------------------------------------------------------------


def test_the_server_checks_requests_against_cached_packages(
    cache: Path, tmp_path: Path, settings: Settings
) -> None:
    run("packages", "install", str(make_tgz(tmp_path)))
    with_pkg = dataclasses.replace(settings, packages=(f"{NAME}#1.0.0",))
    Services.check(with_pkg)
    assert PROFILE in profile_registry(with_pkg)
    services = Services.build(with_pkg)
    try:
        assert PROFILE in services.registry
        assert "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-claim" in (
            services.registry
        )
    finally:
        services.engine.dispose()


def test_the_server_refuses_to_start_without_a_listed_package(
    cache: Path, settings: Settings
) -> None:
    missing = dataclasses.replace(settings, packages=(f"{NAME}#1.0.0",))
    with pytest.raises(ValueError, match=rf"FHIRAUTH_PACKAGES: {NAME}#1\.0\.0 is not in the"):
        Services.check(missing)


def test_without_packages_the_server_loads_only_our_profiles(settings: Settings) -> None:
    assert PROFILE not in profile_registry(settings)


# --- the published PAS 2.0.1 package -----------------------------------------------------------

needs_pas = pytest.mark.skipif(
    not PAS_201.exists(), reason=f"../shared is absent: the PAS 2.0.1 package {PAS_201} is needed"
)


@needs_pas
def test_the_pas_201_package_installs_and_validates_an_ig_example(cache: Path) -> None:
    installed = run("packages", "install", str(PAS_201))
    assert installed.exit_code == 0, installed.output
    assert "installed hl7.fhir.us.davinci-pas#2.0.1" in installed.output
    listed = run("packages", "list").output
    row = next(ln.split() for ln in listed.splitlines() if ln.startswith("hl7.fhir.us.davinci-pas"))
    assert row[1] == "2.0.1" and int(row[2]) > 20
    result = run("validate", "--package", "hl7.fhir.us.davinci-pas#2.0.1", str(PAS_201_EXAMPLE))
    assert result.exit_code == 0, result.output
    assert f"{PAS_201_EXAMPLE}: ok (0 errors" in result.output
    assert "hl7.fhir.us.davinci-pas#2.0.1 depends on" in result.output  # the package was read
