"""``operations/metadata.py``: the software version is read once, at import."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from fhirauth.config import Settings
from fhirauth.operations import metadata


def test_the_version_is_read_at_import_not_per_statement(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable(_: str) -> str:
        raise AssertionError("the package metadata is read for every statement")

    monkeypatch.setattr(metadata, "version", unreadable)
    statement = metadata.capability_statement(Settings(), "2.2.1")
    assert statement["software"]["version"] == metadata.VERSION == version("fhirauth")
