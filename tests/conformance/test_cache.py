"""fhirauth.conformance.cache: the FHIR package cache (<cache>/<name>#<version>/package/…),
installing from a tarball and from an npm-protocol registry served here over real HTTP."""

from __future__ import annotations

import base64
import json
import socket
import tarfile
from pathlib import Path

import pytest

from fhirauth.conformance import PackageError, Registry, validate_resource
from fhirauth.conformance import cache as pkgcache
from fhirauth.conformance.cache import CacheError, InstalledPackage
from tests.conformance.packages import (
    NAME,
    PROFILE,
    NpmRegistry,
    make_tgz,
    package_files,
    patient,
    structure_definition,
    tgz_bytes,
)


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.name.startswith("."))


# --- the cache's place and layout ------------------------------------------------------------


def test_the_cache_is_fhir_package_cache_else_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FHIR_PACKAGE_CACHE", str(tmp_path / "c"))
    assert pkgcache.cache_dir() == tmp_path / "c"
    assert pkgcache.cache_dir(tmp_path / "d") == tmp_path / "d"
    monkeypatch.delenv("FHIR_PACKAGE_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert pkgcache.cache_dir() == tmp_path / "home" / ".fhir" / "packages"


def test_a_tarball_installs_as_the_hl7_tools_lay_it_out(cache: Path, tmp_path: Path) -> None:
    pkg = pkgcache.install_file(make_tgz(tmp_path))
    assert pkg == InstalledPackage(NAME, "1.0.0", cache / f"{NAME}#1.0.0")
    folder = cache / f"{NAME}#1.0.0" / "package"
    assert json.loads((folder / "package.json").read_text())["name"] == NAME
    assert (folder / "StructureDefinition-test-patient.json").is_file()
    index = json.loads((folder / ".index.json").read_text())
    assert index["files"][0]["url"] == PROFILE
    assert "version = 3" in (cache / "packages.ini").read_text()
    assert pkg.structure_definitions() == 1
    assert leftovers(cache) == []


def test_an_installed_package_loads_into_the_registry(cache: Path, tmp_path: Path) -> None:
    pkgcache.install_file(make_tgz(tmp_path))
    reg = Registry().load_package(pkgcache.locate(f"{NAME}#1.0.0"))
    assert PROFILE in reg
    issues = validate_resource(patient(), reg)
    assert any(i.severity == "error" and "gender" in i.diagnostics for i in issues)
    assert not [i for i in validate_resource(patient("female"), reg) if i.severity == "error"]


def test_installing_the_same_version_again_replaces_it_cleanly(cache: Path, tmp_path: Path) -> None:
    first = tmp_path / "first"
    first.mkdir()
    pkgcache.install_file(make_tgz(first, **{"package/ValueSet-old.json": b"{}"}))
    second = tmp_path / "second"
    second.mkdir()
    pkgcache.install_file(make_tgz(second, **{"package/other/note.txt": b"new"}))
    folder = cache / f"{NAME}#1.0.0" / "package"
    assert not (folder / "ValueSet-old.json").exists()
    assert (folder / "other" / "note.txt").read_text() == "new"
    assert [p.spec for p in pkgcache.installed()] == [f"{NAME}#1.0.0"]
    assert leftovers(cache) == []


def test_installed_packages_are_sorted_by_name_then_version(cache: Path, tmp_path: Path) -> None:
    for name, version in [("b.pkg", "1.0.0"), (NAME, "10.0.0"), (NAME, "2.0.0")]:
        pkgcache.install_file(make_tgz(tmp_path, name, version))
    assert [p.spec for p in pkgcache.installed()] == [
        "b.pkg#1.0.0",
        f"{NAME}#2.0.0",
        f"{NAME}#10.0.0",
    ]


def test_an_empty_or_absent_cache_has_no_packages(cache: Path) -> None:
    assert pkgcache.installed() == []


def test_locate_names_what_is_installed_for_that_name(cache: Path, tmp_path: Path) -> None:
    pkgcache.install_file(make_tgz(tmp_path))
    assert pkgcache.locate(f"{NAME}#1.0.0") == cache / f"{NAME}#1.0.0"
    with pytest.raises(CacheError, match=rf"{NAME}#2\.0\.0 is not .*installed: {NAME}#1\.0\.0"):
        pkgcache.locate(f"{NAME}#2.0.0")
    with pytest.raises(CacheError, match=r"no version of other\.pkg is installed"):
        pkgcache.locate("other.pkg#1.0.0")
    with pytest.raises(CacheError, match="say which version"):
        pkgcache.locate(NAME)
    with pytest.raises(CacheError, match="not a package"):
        pkgcache.locate("../etc#1")


def test_resolve_takes_a_path_or_a_cached_name(cache: Path, tmp_path: Path) -> None:
    tgz = make_tgz(tmp_path)
    assert pkgcache.resolve(str(tgz)) == tgz
    pkgcache.install_file(tgz)
    assert pkgcache.resolve(f"{NAME}#1.0.0") == cache / f"{NAME}#1.0.0"
    with pytest.raises(PackageError, match="no such package file or folder"):
        pkgcache.resolve(str(tmp_path / "nothing.tgz"))


# --- what a tarball may not do ---------------------------------------------------------------


def _install_bytes(tmp_path: Path, raw: bytes) -> InstalledPackage:
    path = tmp_path / "bad.tgz"
    path.write_bytes(raw)
    return pkgcache.install_file(path)


def test_a_tarball_without_package_json_is_not_a_package(cache: Path, tmp_path: Path) -> None:
    raw = tgz_bytes({"package/StructureDefinition-x.json": structure_definition()})
    with pytest.raises(CacheError, match=r"no package/package\.json"):
        _install_bytes(tmp_path, raw)
    assert pkgcache.installed() == [] and leftovers(cache) == []


def test_a_package_json_without_a_version_is_refused(cache: Path, tmp_path: Path) -> None:
    raw = tgz_bytes({"package/package.json": {"name": NAME}})
    with pytest.raises(CacheError, match="no usable version"):
        _install_bytes(tmp_path, raw)


def test_a_file_that_is_not_a_tarball_is_refused(cache: Path, tmp_path: Path) -> None:
    with pytest.raises(CacheError, match="not a readable package tarball"):
        _install_bytes(tmp_path, b"plain text")


@pytest.mark.parametrize("member", ["package/../../evil.json", "/tmp/evil.json", "../evil.json"])
def test_a_path_leaving_the_package_is_refused(cache: Path, tmp_path: Path, member: str) -> None:
    raw = tgz_bytes({**package_files(), member: b"{}"})
    with pytest.raises(CacheError, match="points outside the package"):
        _install_bytes(tmp_path, raw)
    assert not (tmp_path / "evil.json").exists()
    assert pkgcache.installed() == [] and leftovers(cache) == []


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE])
def test_links_and_devices_are_refused(cache: Path, tmp_path: Path, kind: bytes) -> None:
    info = tarfile.TarInfo("package/StructureDefinition-link.json")
    info.type = kind
    info.linkname = "/etc/passwd"
    with pytest.raises(CacheError, match="link or device"):
        _install_bytes(tmp_path, tgz_bytes(package_files(), extra=[info]))
    assert pkgcache.installed() == []


def test_a_package_unpacking_beyond_the_cap_is_refused(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pkgcache, "MAX_UNPACKED", 2000)
    raw = tgz_bytes(package_files(**{"package/big.bin": b"0" * 5000}))
    with pytest.raises(CacheError, match="unpacks to more than 2000 bytes"):
        _install_bytes(tmp_path, raw)
    assert pkgcache.installed() == [] and leftovers(cache) == []


# --- from a registry -------------------------------------------------------------------------


def test_install_from_a_registry_by_name_and_version(cache: Path, registry: NpmRegistry) -> None:
    registry.publish(tgz_bytes(package_files(version="1.0.0")), version="1.0.0")
    registry.publish(tgz_bytes(package_files(version="2.0.0")), version="2.0.0", latest=False)
    pkg = pkgcache.install_from_registry(NAME, "2.0.0", registry.url)
    assert pkg.spec == f"{NAME}#2.0.0"
    assert (pkg.path / "package" / "StructureDefinition-test-patient.json").is_file()
    assert leftovers(cache) == []


def test_install_from_a_registry_without_a_version_takes_latest(
    cache: Path, registry: NpmRegistry
) -> None:
    registry.publish(tgz_bytes(package_files(version="1.0.0")), version="1.0.0", latest=False)
    registry.publish(tgz_bytes(package_files(version="1.1.0")), version="1.1.0")
    assert pkgcache.install_from_registry(NAME, None, registry.url).version == "1.1.0"


def test_a_shasum_mismatch_is_refused_and_nothing_installed(
    cache: Path, registry: NpmRegistry
) -> None:
    dist = registry.publish(tgz_bytes(package_files()))
    dist["shasum"] = "0" * 40
    registry.sync()
    with pytest.raises(CacheError, match="is not the shasum 0000"):
        pkgcache.install_from_registry(NAME, "1.0.0", registry.url)
    assert pkgcache.installed() == [] and leftovers(cache) == []


def test_an_integrity_mismatch_is_refused(cache: Path, registry: NpmRegistry) -> None:
    dist = registry.publish(tgz_bytes(package_files()))
    del dist["shasum"]
    dist["integrity"] = "sha512-" + base64.b64encode(b"x" * 64).decode()
    registry.sync()
    with pytest.raises(CacheError, match="sha512 digest does not match"):
        pkgcache.install_from_registry(NAME, "1.0.0", registry.url)
    assert pkgcache.installed() == []


def test_an_unknown_version_names_the_versions_there_are(
    cache: Path, registry: NpmRegistry
) -> None:
    registry.publish(tgz_bytes(package_files()))
    with pytest.raises(CacheError, match=rf"{NAME}#9\.9\.9: no such version .*has 1\.0\.0"):
        pkgcache.install_from_registry(NAME, "9.9.9", registry.url)


def test_an_unknown_package_is_a_404_message(cache: Path, registry: NpmRegistry) -> None:
    with pytest.raises(CacheError, match=r"no.such.pkg: no such package at .*HTTP 404"):
        pkgcache.install_from_registry("no.such.pkg", "1.0.0", registry.url)


def test_a_registry_answering_no_json_is_reported(cache: Path, registry: NpmRegistry) -> None:
    registry.routes[f"/{NAME}"] = (200, "text/html", b"<html>login</html>")
    with pytest.raises(CacheError, match="not a package registry's JSON answer"):
        pkgcache.install_from_registry(NAME, "1.0.0", registry.url)


def test_a_tarball_that_is_another_version_is_refused(cache: Path, registry: NpmRegistry) -> None:
    registry.publish(tgz_bytes(package_files(version="3.0.0")), version="1.0.0")
    with pytest.raises(CacheError, match=rf"is {NAME}#3\.0\.0, not {NAME}#1\.0\.0"):
        pkgcache.install_from_registry(NAME, "1.0.0", registry.url)
    assert pkgcache.installed() == []


def test_an_unreachable_registry_is_reported(cache: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CacheError, match="cannot reach"):
        pkgcache.install_from_registry(NAME, "1.0.0", f"http://127.0.0.1:{port}")
