"""``GET [base]/metadata``: the CapabilityStatement, from the template in ``profiles/``."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import orjson

from fhirauth.config import Settings, bundled
from fhirauth.fhir.systems import PAS_BASES

PROFILES = bundled("profiles")
TEMPLATES = {
    "2.2.1": PROFILES / "capability-statement.json",
    "2.0.1": PROFILES / "capability-statement-v2.0.1.json",
}
# The date this statement's content last changed; bump it with the template.
STATEMENT_DATE = "2026-11-27"


def _installed_version() -> str:
    try:
        return version("fhirauth")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


VERSION = _installed_version()  # read once, at import


@cache
def _template(pas_version: str) -> bytes:
    return TEMPLATES[pas_version].read_bytes()


def _fill(raw: bytes, settings: Settings) -> dict[str, Any]:
    # Our own canonicals live under the deployment's base URL.
    return orjson.loads(raw.replace(b"{base}", settings.base_url.encode()))


def operation_definition(definition_id: str, settings: Settings) -> dict[str, Any] | None:
    """One of our own OperationDefinitions in profiles/, by id."""
    path = PROFILES / f"OperationDefinition-{definition_id}.json"
    if not definition_id.replace("-", "").isalnum() or not path.is_file():
        return None
    return _fill(path.read_bytes(), settings)


def capability_statement(settings: Settings, pas_version: str = "2.2.1") -> dict[str, Any]:
    cs = _fill(_template(pas_version), settings)
    cs["date"] = STATEMENT_DATE
    cs["software"]["version"] = VERSION
    cs["implementation"]["url"] = settings.base_url + PAS_BASES[pas_version]
    return cs
