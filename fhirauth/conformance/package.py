"""FHIR packages (an npm-style ``.tgz`` or its unpacked folder) → profiles of our model.

Only StructureDefinition snapshots are read, with the package's ValueSets and CodeSystems to
resolve bindings. What the engine cannot evaluate is recorded once per profile as an
``information`` issue; canonicals the package refers to but does not hold are ``warning``s.
"""

from __future__ import annotations

import re
import tarfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from fhirauth.conformance.fhirpath import R4, compile_invariant
from fhirauth.conformance.model import (
    CORE,
    MISSING,
    Discriminator,
    Element,
    Invariant,
    Profile,
    Slicing,
    TypeRef,
    build_tree,
    unversioned,
)
from fhirauth.conformance.terminology import (
    ValueSetDef,
    code_system_codes,
    licensed,
    resolve_binding,
    value_set_from_json,
)
from fhirauth.errors import Issue
from fhirauth.fhir.systems import canonical as canonical_system

# Every R4 resource and data type: a core canonical naming one of these is the type itself.
CORE_TYPES = frozenset(R4["type2Parent"]) | {"Resource", "Element", "BackboneElement"}


def _derives_from_resource(type_name: str) -> bool:
    parent = R4["type2Parent"].get(type_name)
    while parent and parent != "Resource":
        parent = R4["type2Parent"].get(parent)
    return parent == "Resource" or type_name == "Resource"


# The walk asks this of every element's type; the parent chain is followed once per type here.
_RESOURCES = frozenset(t for t in R4["type2Parent"] if _derives_from_resource(t)) | {"Resource"}


def is_resource(type_name: str) -> bool:
    return type_name in _RESOURCES


_FHIRPATH_STRING = "http://hl7.org/fhirpath/System.String"
_FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
_DISCRIMINATORS = {"value", "pattern", "type", "exists"}

# Where a missing canonical would come from, for the warning that names it.
_HOMES = (
    ("http://hl7.org/fhir/us/core/", "US Core (hl7.fhir.us.core)"),
    ("http://hl7.org/fhir/us/davinci-crd/", "Da Vinci CRD (hl7.fhir.us.davinci-crd)"),
    ("http://hl7.org/fhir/us/davinci-hrex/", "Da Vinci HRex (hl7.fhir.us.davinci-hrex)"),
    (
        "http://hl7.org/fhir/uv/subscriptions-backport/",
        "Subscriptions Backport (hl7.fhir.uv.subscriptions-backport.r4)",
    ),
    ("http://hl7.org/fhir/5.0/", "R5 cross-version extensions (hl7.fhir.uv.xver-r5.r4)"),
    ("http://hl7.org/fhir/StructureDefinition/", "FHIR core or extensions packs"),
    ("http://hl7.org/fhir/ValueSet/", "FHIR R4 core (hl7.fhir.r4.core)"),
    ("http://terminology.hl7.org/", "HL7 terminology (hl7.terminology.r4)"),
    ("http://cts.nlm.nih.gov/", "VSAC"),
    ("http://loinc.org/", "LOINC"),
)


class PackageError(Exception):
    """A package that cannot be read; the message names the path and what is wrong."""


@dataclass
class Package:
    name: str
    version: str
    label: str
    profiles: dict[str, Profile] = field(default_factory=dict)
    value_sets: dict[str, ValueSetDef] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)


def _read(path: Path) -> Iterator[tuple[str, bytes]]:
    """(file name, content) of every JSON resource file in the package root."""
    if path.is_dir():
        root = path / "package" if (path / "package").is_dir() else path
        for f in sorted(root.glob("*.json")):
            yield f.name, f.read_bytes()
        return
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar.getmembers():
                parts = member.name.split("/")
                if member.isfile() and len(parts) == 2 and parts[1].endswith(".json"):
                    handle = tar.extractfile(member)
                    if handle is not None:
                        yield parts[1], handle.read()
    except (tarfile.TarError, OSError) as exc:
        raise PackageError(f"{path}: not a readable FHIR package: {exc}") from None


def _short_label(manifest: dict[str, Any]) -> str:
    match = re.search(r"\(([A-Z][A-Za-z0-9-]*)\)", manifest.get("title", ""))
    name = match.group(1) if match else manifest.get("name", "package")
    return f"{name} {manifest.get('version', '')}".strip()


def _type_code(t: dict[str, Any]) -> str:
    if t["code"] == _FHIRPATH_STRING or t["code"].startswith("http://hl7.org/fhirpath/"):
        for ext in t.get("extension", []):
            if ext.get("url") == _FHIR_TYPE_EXT:
                return str(ext.get("valueUrl") or ext.get("valueUri") or "string")
        return "string"
    return str(t["code"])


def _first(e: dict[str, Any], prefix: str) -> Any:
    for key, value in e.items():
        if key.startswith(prefix) and key != prefix:
            return value
    return MISSING


class _Builder:
    """Turns one package's snapshots into profiles, noting what it skips once per profile."""

    def __init__(self, package: Package, value_sets: dict[str, ValueSetDef]) -> None:
        self.package = package
        self.value_sets = value_sets
        self.refs: dict[str, set[str]] = defaultdict(set)  # canonical → profiles using it

    def profile(self, sd: dict[str, Any], source: str) -> Profile:
        sd_id = sd.get("id", sd["url"])
        notes: dict[str, str] = {}
        elements = [self.element(e, sd_id, notes) for e in sd["snapshot"]["element"]]
        try:
            root = build_tree(elements)
        except ValueError as exc:
            raise PackageError(f"{source}: StructureDefinition {sd_id}: {exc}") from None
        base = sd.get("baseDefinition")
        if base:
            self.use(base, sd_id)
        for what, why in notes.items():
            self.package.issues.append(
                Issue(
                    "informational",
                    f"{sd['url']}: {what} is not evaluated: {why}",
                    severity="information",
                )
            )
        return Profile(
            url=unversioned(sd["url"]),
            name=sd.get("name", sd_id),
            type=sd["type"],
            kind=sd.get("kind", "resource"),
            root=root,
            source=f"{self.package.name}#{self.package.version}",
            abstract=bool(sd.get("abstract")),
            base=unversioned(base) if base else None,
            complete=True,
            contexts=tuple(
                (c.get("type", ""), c.get("expression", "")) for c in sd.get("context", [])
            ),
            label=self.package.label,
        )

    def use(self, canonical: str, by: str) -> None:
        self.refs[unversioned(canonical)].add(by)

    def element(self, e: dict[str, Any], sd_id: str, notes: dict[str, str]) -> Element:
        types = []
        for t in e.get("type", []):
            ref = TypeRef(
                _type_code(t),
                tuple(unversioned(p) for p in t.get("profile", [])),
                tuple(unversioned(p) for p in t.get("targetProfile", [])),
            )
            for canonical in ref.profiles + ref.targets:
                self.use(canonical, sd_id)
            types.append(ref)
        binding = None
        b = e.get("binding")
        if b and b.get("strength") == "required" and b.get("valueSet"):
            binding = resolve_binding("required", b["valueSet"], self.value_sets)
            if not binding.resolved:
                self.use(b["valueSet"], sd_id)
        slicing = None
        if "slicing" in e:
            s = e["slicing"]
            discs = tuple(Discriminator(d["type"], d["path"]) for d in s.get("discriminator", []))
            for d in discs:
                if d.type not in _DISCRIMINATORS:
                    notes[f"slicing of {e['id']} by {d.type}:{d.path}"] = (
                        "only value, pattern, type and exists discriminators are supported"
                    )
            slicing = Slicing(discs, s.get("rules", "open"), bool(s.get("ordered")))
        invariants: list[Invariant] = []
        for c in e.get("constraint", []):
            inv = compile_invariant(
                c["key"],
                c.get("severity", "error"),
                c.get("human", ""),
                c.get("expression"),
                strict=False,
            )
            if inv.skipped:
                notes[f"constraint {c['key']}"] = f"{inv.skipped} ({c.get('expression')})"
            invariants.append(inv)
        max_ = e.get("max", "*")
        return Element(
            id=e["id"],
            path=e["path"],
            min=int(e.get("min", 0)),
            max=None if max_ == "*" else int(max_),
            types=tuple(types),
            fixed=_first(e, "fixed"),
            pattern=_first(e, "pattern"),
            binding=binding,
            invariants=invariants,
            must_support=bool(e.get("mustSupport")),
            slicing=slicing,
            content_ref=e.get("contentReference"),
        )

    def missing(self, known: set[str]) -> list[Issue]:
        out = []
        x12: set[str] = set()
        for canonical, users in sorted(self.refs.items()):
            if canonical in known:
                continue
            if canonical.startswith(CORE) and canonical[len(CORE) :] in CORE_TYPES:
                continue
            if licensed(canonical):
                x12.add(canonical)
                continue
            home = next((h for prefix, h in _HOMES if canonical.startswith(prefix)), None)
            where = f"from {home}, " if home else ""
            used = ", ".join(sorted(users)[:4]) + (", …" if len(users) > 4 else "")
            effect = (
                "codes bound to it are not checked"
                if "/ValueSet/" in canonical or "/vs/" in canonical
                else "what it adds beyond the snapshots is not checked"
            )
            out.append(
                Issue(
                    "not-found",
                    f"{self.package.name}#{self.package.version} depends on {canonical} "
                    f"({where}not loaded; used by {used}): {effect}",
                    severity="warning",
                )
            )
        if x12:
            out.append(
                Issue(
                    "not-found",
                    f"{self.package.name}#{self.package.version} binds to {len(x12)} X12/NUBC "
                    "value sets that are licensed and cannot be resolved: coded values bound "
                    "to them are reported as warnings, never checked",
                    severity="warning",
                )
            )
        return out


def _load(path: Path) -> Package:
    files: dict[str, dict[str, Any]] = {}
    manifest: dict[str, Any] = {}
    for name, raw in _read(path):
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise PackageError(f"{path}: {name}: not valid JSON: {exc}") from None
        if name == "package.json":
            manifest = doc
        elif isinstance(doc, dict) and "resourceType" in doc:
            files[name] = doc
    if not manifest:
        raise PackageError(f"{path}: no package/package.json: not a FHIR package")
    package = Package(
        manifest.get("name", path.name),
        manifest.get("version", ""),
        _short_label(manifest),
    )
    code_systems = {}
    for doc in files.values():
        if doc["resourceType"] == "CodeSystem" and "url" in doc:
            codes = code_system_codes(doc)
            if codes is not None:
                code_systems[str(canonical_system(doc["url"]))] = codes
    for doc in files.values():
        if doc["resourceType"] == "ValueSet" and "url" in doc:
            vs = value_set_from_json(doc, code_systems)
            package.value_sets[vs.url] = vs
            for note in vs.notes:
                package.issues.append(
                    Issue("informational", f"{vs.url}: {note}", severity="information")
                )
    builder = _Builder(package, package.value_sets)
    for name, doc in sorted(files.items()):
        if doc["resourceType"] != "StructureDefinition" or "snapshot" not in doc:
            continue
        if doc.get("kind") == "logical":
            continue  # logical models (PASMetricData) describe no instance we receive
        profile = builder.profile(doc, f"{path}: {name}")
        package.profiles[profile.url] = profile
    known = set(package.profiles) | set(package.value_sets)
    package.issues += builder.missing(known)
    return package


@cache
def _cached(path: str, mtime: float) -> Package:
    return _load(Path(path))


def load(path: Path | str) -> Package:
    """The package at ``path``, read once per path and modification time."""
    p = Path(path).resolve()
    if not p.exists():
        raise PackageError(f"{p}: no such package file or folder")
    return _cached(str(p), p.stat().st_mtime)
