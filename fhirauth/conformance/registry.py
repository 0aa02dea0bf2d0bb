"""The registry: profiles by canonical, from our YAML files and from FHIR packages."""

from __future__ import annotations

from pathlib import Path

from fhirauth.conformance import ours, package
from fhirauth.conformance.model import Profile, unversioned
from fhirauth.errors import Issue
from fhirauth.fhir.extensions import PAS


class UnknownProfile(KeyError):
    """A canonical the registry holds no profile for."""

    def __str__(self) -> str:
        return f"no profile {self.args[0]} in the registry"


class Registry:
    """Profiles by canonical (version suffixes ignored). ``issues`` holds what loading noted:
    rules skipped (information) and canonicals depended on but missing (warnings)."""

    def __init__(self) -> None:
        self.profiles: dict[str, Profile] = {}
        self.issues: list[Issue] = []
        self._namespaces: set[str] = set()

    def load_ours(self, folder: Path | str | None = None) -> Registry:
        """Add our own profiles (profiles/pas/ unless ``folder`` says otherwise)."""
        profiles, notes = ours.load(Path(folder) if folder else None)
        self._add(profiles, notes, f"fhirauth profiles ({folder or ours.PROFILES_DIR})")
        self._namespaces.add(PAS)
        return self

    def load_package(self, path: Path | str) -> Registry:
        """Add the StructureDefinitions of a FHIR package (.tgz or folder), read once per path."""
        pkg = package.load(path)
        self._add(pkg.profiles, pkg.issues, f"{pkg.name}#{pkg.version}")
        for url in pkg.profiles:
            self._namespaces.add(url.rsplit("/", 1)[0] + "/")
        return self

    def _add(self, profiles: dict[str, Profile], notes: list[Issue], source: str) -> None:
        replaced = sorted(set(profiles) & set(self.profiles))
        if replaced:
            self.issues.append(
                Issue(
                    "informational",
                    f"{source} replaces {len(replaced)} profiles already loaded "
                    f"({', '.join(replaced[:3])}{', …' if len(replaced) > 3 else ''})",
                    severity="information",
                )
            )
        self.profiles.update(profiles)
        self.issues += notes

    def find(self, url: str) -> Profile | None:
        if "|" not in url:  # the usual canonical, without a version: no split to make
            return self.profiles.get(url)
        return self.profiles.get(unversioned(url))

    def get(self, url: str) -> Profile:
        found = self.find(url)
        if found is None:
            raise UnknownProfile(url)
        return found

    def __contains__(self, url: object) -> bool:
        return isinstance(url, str) and unversioned(url) in self.profiles

    def resource_types(self) -> set[str]:
        """The resource types the loaded profiles constrain."""
        return {p.type for p in self.profiles.values() if p.kind == "resource"}

    def owns(self, url: str) -> bool:
        """Whether ``url`` lies in a namespace whose definitions we hold (an unknown
        extension there is an error, not a missing dependency)."""
        return any(url.startswith(ns) for ns in self._namespaces)
