"""Profile validation: our PAS profiles (profiles/pas/) and FHIR packages in one model::

registry = Registry().load_ours()  # or Registry().load_package(path_to_tgz_or_folder)
issues = validate(claim, PAS + "profile-claim", registry)
issues = validate_bundle(bundle, registry)  # the Bundle, then every entry
"""

from __future__ import annotations

from fhirauth.conformance.bundle import validate_bundle, validate_resource
from fhirauth.conformance.ours import ProfileError
from fhirauth.conformance.package import PackageError
from fhirauth.conformance.registry import PAS, Registry, UnknownProfile
from fhirauth.conformance.validator import validate

__all__ = [
    "PAS",
    "PackageError",
    "ProfileError",
    "Registry",
    "UnknownProfile",
    "validate",
    "validate_bundle",
    "validate_resource",
]
