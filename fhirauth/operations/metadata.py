"""``GET [base]/metadata``: the CapabilityStatement, from the template in ``profiles/``."""

from __future__ import annotations

from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import orjson

from fhirauth.config import Settings

TEMPLATE = Path(__file__).resolve().parents[2] / "profiles" / "capability-statement.json"
# The date this statement's content last changed; bump it with the template.
STATEMENT_DATE = "2026-11-27"


@cache
def _template() -> dict[str, Any]:
    return orjson.loads(TEMPLATE.read_bytes())


def capability_statement(settings: Settings) -> dict[str, Any]:
    cs = orjson.loads(orjson.dumps(_template()))  # a fresh copy to fill in
    cs["date"] = STATEMENT_DATE
    cs["software"]["version"] = version("fhirauth")
    cs["implementation"]["url"] = settings.base_url
    return cs
