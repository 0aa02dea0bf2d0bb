"""Registries shared by the conformance tests: ours (always) and the PAS 2.2.1 package
(when ../shared is there)."""

from __future__ import annotations

import pytest

from fhirauth.conformance import Registry
from tests.conformance.support import PAS_PACKAGE


@pytest.fixture(scope="session")
def ours() -> Registry:
    return Registry().load_ours()


@pytest.fixture(scope="session")
def package() -> Registry:
    if not PAS_PACKAGE.exists():
        pytest.skip(f"../shared is absent: the PAS 2.2.1 package {PAS_PACKAGE} is needed")
    return Registry().load_package(PAS_PACKAGE)
