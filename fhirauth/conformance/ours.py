"""Our own PAS profiles: profiles/pas/*.yaml → profiles of the shared model.

Each file is checked against :mod:`fhirauth.conformance.schema`; a broken file raises
:class:`ProfileError` naming the file and the field. A profile may name another of ours as
``base`` and inherits its elements, extension slices and invariants, overriding by id, slice
name and key. ``extensions.yaml`` is the catalogue of extension definitions by url.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from marshmallow import ValidationError, missing

from fhirauth.config import bundled
from fhirauth.conformance.fhirpath import InvariantError, compile_invariant, full_date
from fhirauth.conformance.model import (
    CORE,
    MISSING,
    Binding,
    Discriminator,
    Element,
    Invariant,
    Profile,
    Slicing,
    TypeRef,
    build_tree,
    unversioned,
)
from fhirauth.conformance.package import is_resource
from fhirauth.conformance.schema import CatalogueSchema, ProfileSchema
from fhirauth.errors import Issue
from fhirauth.fhir.systems import canonical

PROFILES_DIR = bundled("profiles") / "pas"
_URL_SLICING = {
    "discriminator": [{"type": "value", "path": "url"}],
    "rules": "open",
    "ordered": False,
}
_VALUE_KEYS = ("value", "binding", "fixed", "pattern", "fullDate", "profile", "targets")
_FLAGS = frozenset({"mustSupport", "fullDate", "modifier"})


class ProfileError(Exception):
    """A profile file that cannot be used; the message names the file and the field."""


def _flat(messages: Any, prefix: str = "") -> str:
    prefix = prefix.replace("_schema.", "").replace("value.", "")
    if isinstance(messages, dict):
        return "; ".join(_flat(v, f"{prefix}{k}.") for k, v in messages.items())
    if isinstance(messages, list):
        return "; ".join(f"{prefix.rstrip('.')}: {m}" if prefix else str(m) for m in messages)
    return f"{prefix.rstrip('.')}: {messages}" if prefix else str(messages)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a profile file is a mapping (url, type, elements, …)")
    schema = CatalogueSchema() if "extensionDefinitions" in data else ProfileSchema()
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        raise ProfileError(f"{path}: {_flat(exc.messages)}") from None
    return loaded


def slice_name(url: str) -> str:
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"^(modifier)?extension-", "", tail)


def _given(spec: dict[str, Any]) -> dict[str, Any]:
    """The fields a file actually set, so that inheritance overrides only those."""
    return {
        k: v
        for k, v in spec.items()
        if not (v is None or v is missing or v == [] or (k in _FLAGS and v is False))
    }


def _has(spec: dict[str, Any], key: str) -> bool:
    value = spec.get(key)
    if key in ("fixed", "pattern"):
        return value is not None  # false and 0 are values to fix
    return bool(value)


def _value_and_children(at: str, spec: dict[str, Any], specs: dict[str, dict[str, Any]]) -> None:
    """The value[x] (or, for a complex extension, the sub-extension slices) of an extension."""
    if spec.get("extensions"):
        specs[f"{at}.value[x]"] = {"max": 0}
        for sub in spec["extensions"]:
            _extension_slice(at, sub, specs)
        return
    if not any(_has(spec, k) for k in _VALUE_KEYS):
        return
    value: dict[str, Any] = {k: spec[k] for k in ("binding", "fixed", "pattern") if _has(spec, k)}
    value["fullDate"] = spec.get("fullDate", False)
    value["types"] = [
        {"code": code, "profile": spec.get("profile") or [], "targets": spec.get("targets") or []}
        for code in spec.get("value") or []
    ]
    if not value["types"] and (spec.get("profile") or spec.get("targets")):
        value["profile"], value["targets"] = spec.get("profile"), spec.get("targets")
    if spec.get("value"):
        value["min"], value["max"] = 1, 1
    specs[f"{at}.value[x]"] = value


def _extension_slice(host: str, spec: dict[str, Any], specs: dict[str, dict[str, Any]]) -> None:
    owner = f"{host}.{'modifierExtension' if spec.get('modifier') else 'extension'}"
    specs.setdefault(owner, {}).setdefault("slicing", _URL_SLICING)
    url = spec["url"]
    sid = f"{owner}:{spec.get('name') or slice_name(url)}"
    entry: dict[str, Any] = {
        "min": spec.get("min") or 0,
        "max": spec.get("max", 1),
        "mustSupport": spec.get("mustSupport", False),
    }
    if "://" in url or url.startswith("urn:"):
        entry["types"] = [{"code": "Extension", "profile": [url], "targets": []}]
    specs[sid] = entry
    specs[f"{sid}.url"] = {"fixed": url, "min": 1, "max": 1}
    _value_and_children(sid, spec, specs)


def _path_of(element_id: str) -> str:
    return re.sub(r":[^.]+", "", element_id)


def _depth_key(element_id: str) -> tuple[int, int]:
    """Parents before children, and an element before its slices."""
    last = element_id.rsplit(".", 1)[-1]
    return element_id.count("."), 1 if ":" in last else 0


def _binding(b: dict[str, Any]) -> Binding:
    codes = frozenset(
        (canonical(c["system"] or b.get("system")), c["code"]) for c in b.get("codes") or []
    )
    return Binding(
        b["strength"],
        b.get("valueSet"),
        codes,
        frozenset(str(canonical(x)) for x in b.get("systems") or ()),
        unverifiable=b.get("note"),
    )


def _types(spec: dict[str, Any], where: str) -> tuple[TypeRef, ...]:
    profile = tuple(spec.get("profile") or ())
    targets = tuple(spec.get("targets") or ())
    types = [
        TypeRef(t["code"], tuple(t["profile"]), tuple(t["targets"]))
        for t in spec.get("types") or []
    ]
    if not types:
        if profile or targets:
            return (TypeRef("Reference" if targets and not profile else "", profile, targets),)
        return ()
    if profile or targets:
        if len(types) > 1:
            raise ProfileError(f"{where}: profile/targets apply to one type; give them per type")
        types[0] = TypeRef(types[0].code, types[0].profiles + profile, types[0].targets + targets)
    return tuple(types)


def _full_date_rule() -> Invariant:
    return Invariant(
        "FullDateRule",
        "error",
        "Dates are full dates: YYYY-MM-DD (a Period's start and end too)",
        "$this.toString().length() = 10",
        check=full_date,
    )


def _build(
    url: str,
    name: str,
    type_: str,
    specs: dict[str, dict[str, Any]],
    invariants: list[dict[str, Any]],
    source: str,
    *,
    abstract: bool = False,
    base: str | None = None,
) -> tuple[Profile, list[Issue]]:
    notes: list[Issue] = []
    by_path: dict[str, list[Invariant]] = {}
    for inv in invariants:
        try:
            compiled = compile_invariant(
                inv["key"], inv["severity"], inv["human"], inv["expression"], strict=True
            )
        except InvariantError as exc:
            raise ProfileError(f"{source}: invariants: {exc}") from None
        by_path.setdefault(inv.get("path") or type_, []).append(compiled)
    ids: dict[str, None] = {type_: None}
    for element_id in [*specs, *by_path]:
        parts = element_id.split(".")
        for i in range(2, len(parts) + 1):
            ids.setdefault(".".join(parts[:i]), None)
    order = {eid: i for i, eid in enumerate(ids)}
    elements = []
    for element_id in sorted(ids, key=lambda e: (*_depth_key(e), order[e])):
        spec = specs.get(element_id, {})
        where = f"{source}: {element_id}"
        last = element_id.rsplit(".", 1)[-1]
        if ":" in last:
            owner = element_id.rsplit(":", 1)[0]
            if not specs.get(owner, {}).get("slicing"):
                raise ProfileError(f"{where}: a slice of {owner}, which has no slicing")
        slicing = None
        if spec.get("slicing"):
            s = spec["slicing"]
            slicing = Slicing(
                tuple(Discriminator(d["type"], d["path"]) for d in s["discriminator"]),
                s["rules"],
                s["ordered"],
            )
        invs = list(by_path.get(element_id, []))
        if spec.get("fullDate"):
            invs.append(_full_date_rule())
        binding = _binding(spec["binding"]) if spec.get("binding") else None
        if binding and binding.strength == "required" and binding.unverifiable:
            notes.append(
                Issue(
                    "informational",
                    f"{url}: {element_id}: binding to {binding.value_set or 'its value set'} "
                    f"{'checks code systems only' if binding.systems else 'is not checked'}: "
                    f"{binding.unverifiable}",
                    severity="information",
                )
            )
        max_ = spec.get("max", "*")
        elements.append(
            Element(
                id=element_id,
                path=_path_of(element_id),
                min=spec.get("min") or 0,
                max=None if max_ == "*" else max_,
                types=_types(spec, where),
                fixed=MISSING if spec.get("fixed") is None else spec["fixed"],
                pattern=MISSING if spec.get("pattern") is None else spec["pattern"],
                binding=binding,
                invariants=invs,
                must_support=bool(spec.get("mustSupport")),
                slicing=slicing,
            )
        )
    try:
        root = build_tree(elements)
    except ValueError as exc:
        raise ProfileError(f"{source}: {exc}") from None
    kind = "resource" if is_resource(type_) else "complex-type"
    profile = Profile(
        url=url,
        name=name,
        type=type_,
        kind=kind,
        root=root,
        source=source,
        abstract=abstract,
        base=base,
        label="fhirauth PAS profiles",
    )
    return profile, notes


def _merge(base: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for element_id, spec in doc["elements"].items():
        out["elements"][element_id] = {**out["elements"].get(element_id, {}), **_given(spec)}
    for host, slices in doc["extensions"].items():
        by_name = out["extensions"].setdefault(host, {})
        for spec in slices:
            key = spec.get("name") or slice_name(spec["url"])
            by_name[key] = {**by_name.get(key, {}), **_given(spec), "name": key}
    for inv in doc["invariants"]:
        out["invariants"][inv["key"]] = inv
    return out


def _flatten(
    url: str, docs: dict[str, tuple[dict[str, Any], Path]], seen: tuple[str, ...] = ()
) -> dict[str, Any]:
    doc, path = docs[url]
    empty: dict[str, Any] = {"elements": {}, "extensions": {}, "invariants": {}}
    base = unversioned(doc["base"]) if doc["base"] else None
    if base is None or base == CORE + doc["type"]:
        return _merge(empty, doc)
    if base not in docs:
        raise ProfileError(f"{path}: base: {base} is not one of our profiles")
    if base in seen:
        raise ProfileError(f"{path}: base: {base} inherits from this profile (a cycle)")
    if docs[base][0]["type"] != doc["type"]:
        raise ProfileError(
            f"{path}: base: {base} profiles {docs[base][0]['type']}, not {doc['type']}"
        )
    return _merge(_flatten(base, docs, (*seen, url)), doc)


def _load(folder: Path) -> tuple[dict[str, Profile], list[Issue]]:
    if not folder.is_dir():
        raise ProfileError(f"{folder}: not a folder of profile files")
    docs: dict[str, tuple[dict[str, Any], Path]] = {}
    catalogue: list[tuple[dict[str, Any], Path]] = []
    for path in sorted(folder.glob("*.yaml")):
        data = _read(path)
        if "extensionDefinitions" in data:
            catalogue += [(spec, path) for spec in data["extensionDefinitions"]]
            continue
        if data["url"] in docs:
            raise ProfileError(
                f"{path}: url: {data['url']} is also defined in {docs[data['url']][1]}"
            )
        docs[data["url"]] = (data, path)
    if not docs:
        raise ProfileError(f"{folder}: no profile files (*.yaml)")
    profiles: dict[str, Profile] = {}
    issues: list[Issue] = []
    for spec, path in catalogue:
        url = spec["url"]
        if "://" not in url:
            raise ProfileError(f"{path}: extensionDefinitions: {url}: an absolute url")
        if url in profiles:
            raise ProfileError(f"{path}: extensionDefinitions: {url} is defined twice")
        specs: dict[str, dict[str, Any]] = {"Extension.url": {"fixed": url, "min": 1, "max": 1}}
        _value_and_children("Extension", spec, specs)
        profile, notes = _build(url, slice_name(url), "Extension", specs, [], str(path))
        profiles[url] = profile
        issues += notes
    for url, (doc, path) in docs.items():
        merged = _flatten(url, docs)
        specs = dict(merged["elements"])
        for host, by_name in merged["extensions"].items():
            for spec in by_name.values():
                _extension_slice(host, spec, specs)
        base = unversioned(doc["base"]) if doc["base"] else None
        profile, notes = _build(
            url,
            doc["name"],
            doc["type"],
            specs,
            list(merged["invariants"].values()),
            str(path),
            abstract=doc["abstract"],
            base=base,
        )
        profiles[url] = profile
        issues += notes
    return profiles, issues


@cache
def _cached(
    folder: str, stamp: tuple[tuple[str, float], ...]
) -> tuple[dict[str, Profile], list[Issue]]:
    return _load(Path(folder))


def load(folder: Path | None = None) -> tuple[dict[str, Profile], list[Issue]]:
    """Our profiles by canonical, and the notes made loading them; read once per change."""
    folder = (folder or PROFILES_DIR).resolve()
    stamp = tuple((p.name, p.stat().st_mtime) for p in sorted(folder.glob("*.yaml")))
    return _cached(str(folder), stamp)
