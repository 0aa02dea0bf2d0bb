"""The FHIR package cache shared by the HL7 validator, IG Publisher and Firely tools.

``$FHIR_PACKAGE_CACHE`` or ``~/.fhir/packages``, one folder per package::

    <cache>/hl7.fhir.us.davinci-pas#2.0.1/package/package.json, StructureDefinition-….json …

Packages come from a ``.tgz`` file or from a registry speaking the npm protocol
(``GET {registry}/{name}`` → ``versions[v].dist.tarball``), as packages.fhir.org does.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import requests

from fhirauth.conformance.package import PackageError

DEFAULT_REGISTRY = "https://packages.fhir.org"
MAX_UNPACKED = 200 * 1024 * 1024  # bytes a package may unpack to
MAX_DOWNLOAD = 100 * 1024 * 1024  # bytes a tarball may have
TIMEOUT = (10, 60)  # connect, read (seconds)
# The HL7 tools clear a cache whose packages.ini does not say this version.
_INI = "[cache]\nversion = 3\n"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")


class CacheError(PackageError):
    """A package that cannot be installed or found; the message says why."""


@dataclass(frozen=True, order=True)
class InstalledPackage:
    name: str
    version: str
    path: Path  # <cache>/<name>#<version>

    @property
    def spec(self) -> str:
        return f"{self.name}#{self.version}"

    def structure_definitions(self) -> int:
        """How many StructureDefinitions the package holds (from .index.json when present)."""
        try:
            files = orjson.loads((self.path / "package" / ".index.json").read_bytes())["files"]
            return sum(1 for f in files if f.get("resourceType") == "StructureDefinition")
        except (OSError, orjson.JSONDecodeError, TypeError, KeyError, AttributeError):
            return len(list((self.path / "package").glob("StructureDefinition-*.json")))


def cache_dir(cache: Path | str | None = None) -> Path:
    """``cache``, else $FHIR_PACKAGE_CACHE, else ~/.fhir/packages."""
    where = cache or os.environ.get("FHIR_PACKAGE_CACHE") or "~/.fhir/packages"
    return Path(where).expanduser()


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``NAME#VERSION`` or ``NAME`` → (name, version or None)."""
    name, sep, version = spec.strip().partition("#")
    if not _NAME.fullmatch(name) or (sep and not _VERSION.fullmatch(version)):
        raise CacheError(f"{spec!r}: not a package: say NAME#VERSION, e.g. hl7.fhir.r4.core#4.0.1")
    return name, version if sep else None


def _ensure(cache: Path | str | None) -> Path:
    root = cache_dir(cache)
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "packages.ini").exists():
        (root / "packages.ini").write_text(_INI, encoding="utf-8")
    return root


def _member_path(member: tarfile.TarInfo, source: Path) -> tuple[str, ...]:
    """The member's path parts, or CacheError if it is not a plain, relative file or folder."""
    name = member.name.replace("\\", "/")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if name.startswith("/") or re.match(r"[A-Za-z]:", name) or ".." in parts:
        raise CacheError(f"{source}: refused: {member.name!r} points outside the package")
    if not (member.isreg() or member.isdir()):
        raise CacheError(f"{source}: refused: {member.name!r} is a link or device, not a file")
    return parts


def _index(folder: Path) -> None:
    """Write package/.index.json (as the HL7 tools do) when the tarball has none."""
    files = []
    for f in sorted(folder.glob("*.json")):
        if f.name == "package.json":
            continue
        try:
            doc = orjson.loads(f.read_bytes())
        except orjson.JSONDecodeError:
            continue
        if isinstance(doc, dict) and "resourceType" in doc:
            keys = ("resourceType", "id", "url", "version", "kind", "type")
            entry = {k: doc[k] for k in keys if isinstance(doc.get(k), str)}
            files.append({"filename": f.name, **entry})
    data = {"index-version": 1, "files": files}
    (folder / ".index.json").write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))


def _extract(path: Path, into: Path) -> dict[str, Any]:
    """Unpack ``path`` safely into ``into``; its package/package.json."""
    try:
        with tarfile.open(path, "r:*") as tar:
            manifest: dict[str, Any] | None = None
            total = 0
            for member in tar:  # a staging folder: what is refused midway is thrown away
                parts = _member_path(member, path)
                total += member.size if member.isreg() else 0
                if total > MAX_UNPACKED:
                    raise CacheError(f"{path}: refused: unpacks to more than {MAX_UNPACKED} bytes")
                if not parts:
                    continue
                target = into.joinpath(*parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                with handle, target.open("wb") as out:
                    shutil.copyfileobj(handle, out)
                if parts == ("package", "package.json"):
                    try:
                        manifest = orjson.loads(target.read_bytes())
                    except orjson.JSONDecodeError as exc:
                        raise CacheError(f"{path}: package/package.json: not JSON: {exc}") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise CacheError(f"{path}: not a readable package tarball: {exc}") from None
    if not isinstance(manifest, dict):
        raise CacheError(f"{path}: no package/package.json: not a FHIR package")
    name, version = manifest.get("name"), manifest.get("version")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise CacheError(f"{path}: package/package.json has no usable name ({name!r})")
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise CacheError(f"{path}: package/package.json has no usable version ({version!r})")
    return manifest


def install_file(
    path: Path | str, cache: Path | str | None = None, *, expect: tuple[str, str] | None = None
) -> InstalledPackage:
    """Install the package tarball at ``path`` as <cache>/<name>#<version>, replacing an
    earlier copy of that version. ``expect``: refuse a tarball that is another name#version."""
    path = Path(path)
    if not path.is_file():
        raise CacheError(f"{path}: no such package file")
    root = _ensure(cache)
    staging = Path(tempfile.mkdtemp(prefix=".install-", dir=root))
    try:
        manifest = _extract(path, staging)
        name, version = manifest["name"], manifest["version"]
        if expect and (name, version) != expect:
            raise CacheError(f"{path}: is {name}#{version}, not {expect[0]}#{expect[1]}")
        if not (staging / "package" / ".index.json").exists():
            _index(staging / "package")
        target = root / f"{name}#{version}"
        old = root / f".old-{uuid.uuid4().hex}"
        if target.exists():
            target.rename(old)
        try:
            staging.rename(target)
        except OSError:
            if old.exists():
                old.rename(target)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return InstalledPackage(name, version, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _get(url: str, **kwargs: Any) -> requests.Response:
    try:
        return requests.get(url, timeout=TIMEOUT, **kwargs)
    except requests.RequestException as exc:
        raise CacheError(f"cannot reach {url}: {exc}") from None


def _check_digest(data_hashes: dict[str, Any], dist: dict[str, Any], url: str) -> None:
    shasum = dist.get("shasum")
    if isinstance(shasum, str) and shasum.lower() != data_hashes["sha1"].hexdigest():
        raise CacheError(
            f"{url}: sha1 {data_hashes['sha1'].hexdigest()} is not the shasum {shasum}"
        )
    integrity = dist.get("integrity")
    for item in integrity.split() if isinstance(integrity, str) else []:
        algo, _, b64 = item.partition("-")
        if algo in data_hashes:
            got = base64.b64encode(data_hashes[algo].digest()).decode()
            if got != b64:
                raise CacheError(f"{url}: {algo} digest does not match the integrity {item}")


def install_from_registry(
    name: str,
    version: str | None = None,
    registry_url: str = DEFAULT_REGISTRY,
    cache: Path | str | None = None,
) -> InstalledPackage:
    """Download ``name#version`` (latest when ``version`` is None) from an npm-protocol
    registry, check its digests, and install it."""
    parse_spec(f"{name}#{version}" if version else name)
    meta_url = f"{registry_url.rstrip('/')}/{name}"
    resp = _get(meta_url, headers={"Accept": "application/json"})
    if resp.status_code == 404:
        raise CacheError(f"{name}: no such package at {registry_url} (HTTP 404)")
    if resp.status_code != 200:
        raise CacheError(f"{meta_url}: the registry answered HTTP {resp.status_code}")
    try:
        meta = orjson.loads(resp.content)
        versions: dict[str, Any] = dict(meta["versions"])
    except (orjson.JSONDecodeError, TypeError, KeyError, ValueError):
        raise CacheError(f"{meta_url}: not a package registry's JSON answer") from None
    if version is None:
        version = (meta.get("dist-tags") or {}).get("latest")
        if not isinstance(version, str):
            raise CacheError(f"{name}: the registry names no latest version; give NAME#VERSION")
    entry = versions.get(version)
    if not isinstance(entry, dict):
        known = ", ".join(sorted(versions, key=_version_key)[-8:]) or "none"
        raise CacheError(f"{name}#{version}: no such version at {registry_url} (has {known})")
    dist = entry.get("dist") or {}
    tarball = dist.get("tarball") if isinstance(dist, dict) else None
    if not isinstance(tarball, str):
        raise CacheError(f"{name}#{version}: the registry gives no tarball URL")
    root = _ensure(cache)
    hashes: dict[str, Any] = {a: hashlib.new(a) for a in ("sha1", "sha256", "sha384", "sha512")}
    fd, tmp_name = tempfile.mkstemp(prefix=".download-", suffix=".tgz", dir=root)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, _get(tarball, stream=True) as dl:
            if dl.status_code != 200:
                raise CacheError(f"{tarball}: HTTP {dl.status_code}")
            try:
                for chunk in dl.iter_content(65536):
                    if out.tell() + len(chunk) > MAX_DOWNLOAD:
                        raise CacheError(f"{tarball}: larger than {MAX_DOWNLOAD} bytes")
                    for h in hashes.values():
                        h.update(chunk)
                    out.write(chunk)
            except requests.RequestException as exc:
                raise CacheError(f"{tarball}: download failed: {exc}") from None
        _check_digest(hashes, dist, tarball)
        return install_file(tmp, root, expect=(name, version))
    finally:
        tmp.unlink(missing_ok=True)


def _version_key(version: str) -> tuple[Any, ...]:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.+-]", version))


def installed(cache: Path | str | None = None) -> list[InstalledPackage]:
    """Every package in the cache, by name then version."""
    root = cache_dir(cache)
    found = []
    for folder in root.iterdir() if root.is_dir() else []:
        name, sep, version = folder.name.partition("#")
        if sep and (folder / "package" / "package.json").is_file():
            found.append(InstalledPackage(name, version, folder))
    return sorted(found, key=lambda p: (p.name, _version_key(p.version), p.version))


def locate(spec: str, cache: Path | str | None = None) -> Path:
    """The folder of the installed package ``NAME#VERSION`` (exact)."""
    name, version = parse_spec(spec)
    root = cache_dir(cache)
    folder = root / f"{name}#{version}"
    if version and (folder / "package" / "package.json").is_file():
        return folder
    others = [p.spec for p in installed(root) if p.name == name]
    have = f"installed: {', '.join(others)}" if others else f"no version of {name} is installed"
    what = f"{name}#{version} is not" if version else f"{name}: say which version (NAME#VERSION);"
    raise CacheError(f"{what} in the package cache {root} ({have})")


def resolve(entry: str, cache: Path | str | None = None) -> Path:
    """A package given as a path (.tgz or folder) or as NAME#VERSION from the cache."""
    path = Path(entry).expanduser()
    if path.exists():
        return path
    if "#" in entry:
        return locate(entry, cache)
    raise CacheError(f"{entry}: no such package file or folder (a cached package is NAME#VERSION)")
