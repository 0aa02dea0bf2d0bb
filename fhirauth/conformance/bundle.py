"""Bundles: the Bundle against its profile, then every entry against its own."""

from __future__ import annotations

from typing import Any

from fhirauth.conformance.model import unversioned
from fhirauth.conformance.registry import PAS, Registry
from fhirauth.conformance.report import errors
from fhirauth.conformance.validator import run, unique
from fhirauth.errors import Issue

# The PAS bundle a first entry implies, when a Bundle declares no profile we know.
_BUNDLE_BY_FIRST = {
    "Claim": PAS + "profile-pas-request-bundle",
    "ClaimResponse": PAS + "profile-pas-response-bundle",
}


# Not fhir.references: entries here may lack a fullUrl or repeat, and Type/id resolves past bases.
class _Index:
    """Reference resolution inside one Bundle: by fullUrl, by base + Type/id, by Type/id."""

    def __init__(self, bundle: dict[str, Any]) -> None:
        self.by_url: dict[str, dict[str, Any]] = {}
        self.by_type_id: dict[str, dict[str, Any]] = {}
        for entry in _entries(bundle):
            res = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(res, dict):
                continue
            if isinstance(entry.get("fullUrl"), str):
                self.by_url[entry["fullUrl"]] = res
            if res.get("resourceType") and res.get("id"):
                self.by_type_id.setdefault(f"{res['resourceType']}/{res['id']}", res)

    def resolver(self, full_url: Any) -> Any:
        base = None
        if isinstance(full_url, str) and full_url.startswith(("http://", "https://")):
            parts = full_url.rstrip("/").rsplit("/", 2)
            if len(parts) == 3:
                base = parts[0]

        def resolve(reference: str) -> dict[str, Any] | None:
            ref = reference.split("/_history/", 1)[0]
            if ref in self.by_url:
                return self.by_url[ref]
            if "://" in ref or ref.startswith("urn:"):
                return None
            if base and f"{base}/{ref}" in self.by_url:
                return self.by_url[f"{base}/{ref}"]
            return self.by_type_id.get(ref)

        return resolve


def _entries(bundle: dict[str, Any]) -> list[Any]:
    entries = bundle.get("entry")
    return entries if isinstance(entries, list) else []


def _declared(resource: dict[str, Any], registry: Registry) -> list[str]:
    meta = resource.get("meta")
    profiles = meta.get("profile") if isinstance(meta, dict) else None
    if not isinstance(profiles, list):
        return []
    return [p for p in profiles if isinstance(p, str) and p in registry]


def _slice_profiles(bundle_profiles: list[str], registry: Registry) -> dict[str, tuple[str, ...]]:
    """Resource type → the profiles a Bundle profile's entry slices give it (any of)."""
    out: dict[str, tuple[str, ...]] = {}
    for url in bundle_profiles:
        entry = registry.get(url).root.children.get("entry")
        for sl in entry.slices.values() if entry else ():
            res = sl.children.get("resource")
            for t in res.types if res else ():
                known = tuple(p for p in t.profiles if p in registry)
                if known:
                    out.setdefault(t.code, known)
    return out


def _any_of(
    resource: dict[str, Any], profiles: tuple[str, ...], registry: Registry, resolve: Any, path: str
) -> tuple[list[Issue], list[tuple[dict[str, Any], tuple[str, ...]]]]:
    """The issues of the first profile the resource meets, else of the one it misses least."""
    best = None
    for url in profiles:
        r = run(resource, url, registry, resolver=resolve, path=path)
        found = errors(r.issues)
        if best is None or found < best[0]:
            best = (found, r)
        if not found:
            break
    assert best is not None
    return best[1].issues, best[1].references


def validate_bundle(
    bundle: dict[str, Any],
    registry: Registry,
    *,
    profile: str | None = None,
    default_profiles: bool = True,
    path: str = "Bundle",
) -> list[Issue]:
    """The Bundle against ``profile`` (else its meta.profile), then each entry against its
    own meta.profile where the registry knows it; expressions start at ``path``.

    With ``default_profiles``, what declares no known profile is still checked: the Bundle
    against the PAS bundle its first entry implies, an entry against the profiles of the
    Bundle profile's entry slice for its type (the Claim of a request bundle), or else against
    the target profiles of the references that point at it (``Claim.insurer`` → PAS Insurer).
    Where several profiles are possible the entry must meet one of them.
    """
    issues: list[Issue] = []
    bundle_profiles = [profile] if profile else _declared(bundle, registry)
    entries = [e for e in _entries(bundle) if isinstance(e, dict)]
    first = entries[0].get("resource") if entries else None
    if not bundle_profiles and default_profiles and isinstance(first, dict):
        implied = _BUNDLE_BY_FIRST.get(str(first.get("resourceType")))
        if implied in registry:
            bundle_profiles = [implied]
    for url in bundle_profiles:
        issues += run(bundle, url, registry, path=path).issues
    index = _Index(bundle)
    by_slice = _slice_profiles(bundle_profiles, registry) if default_profiles else {}
    inferred: dict[int, list[tuple[str, ...]]] = {}
    later: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    for i, entry in enumerate(_entries(bundle)):
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict):
            continue
        at = f"{path}.entry[{i}].resource"
        resolve = index.resolver(entry.get("fullUrl"))
        rtype = str(res.get("resourceType"))
        if rtype == "Bundle":
            issues += validate_bundle(res, registry, default_profiles=default_profiles, path=at)
            continue
        declared = _declared(res, registry)
        if declared:  # a declared profile is a claim the resource makes: each must hold
            for url in declared:
                r = run(res, url, registry, resolver=resolve, path=at)
                issues += r.issues
                _collect(r.references, inferred, registry)
        elif rtype in by_slice:
            found, refs = _any_of(res, by_slice[rtype], registry, resolve, at)
            issues += found
            _collect(refs, inferred, registry)
        else:
            later.append((i, entry, res))
    while default_profiles and later:
        ready = [x for x in later if id(x[2]) in inferred]
        if not ready:
            break  # entries nothing points at, with no profile of their own: nothing to check
        later = [x for x in later if id(x[2]) not in inferred]
        for i, entry, res in ready:
            resolve = index.resolver(entry.get("fullUrl"))
            for group in dict.fromkeys(inferred[id(res)]):
                found, refs = _any_of(res, group, registry, resolve, f"{path}.entry[{i}].resource")
                issues += found
                _collect(refs, inferred, registry)
    return unique(issues)


def _collect(
    references: list[tuple[dict[str, Any], tuple[str, ...]]],
    inferred: dict[int, list[tuple[str, ...]]],
    registry: Registry,
) -> None:
    for target, profiles in references:
        rtype = target.get("resourceType")
        group = tuple(
            unversioned(p)
            for p in profiles
            if p in registry and registry.get(p).type == rtype and not registry.get(p).abstract
        )
        if group:
            inferred.setdefault(id(target), []).append(group)


def validate_resource(
    resource: dict[str, Any], registry: Registry, *, path: str | None = None
) -> list[Issue]:
    """A resource against every profile it declares that the registry knows: a Bundle with
    :func:`validate_bundle`, a Parameters through the resources it carries."""
    at = path or str(resource.get("resourceType", "Resource"))
    if resource.get("resourceType") == "Bundle":
        return validate_bundle(resource, registry, path=at)
    issues: list[Issue] = []
    for url in _declared(resource, registry):
        issues += run(resource, url, registry, path=at).issues
    if resource.get("resourceType") == "Parameters":
        params = resource.get("parameter")
        for i, param in enumerate(params if isinstance(params, list) else []):
            inner = param.get("resource") if isinstance(param, dict) else None
            if isinstance(inner, dict):
                issues += validate_resource(inner, registry, path=f"{at}.parameter[{i}].resource")
    return unique(issues)
