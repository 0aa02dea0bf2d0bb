"""The SMART configuration document: built on an app's first request for it, then its bytes."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, jsonify

from fhirauth.api import auth
from fhirauth.auth.smart import smart_configuration
from fhirauth.config import Settings

PATHS = ("/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration")


def test_the_document_is_built_once_per_app_and_answered_as_jsonify_writes_it(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Settings] = []

    def counted(settings: Settings) -> dict[str, Any]:
        calls.append(settings)
        return smart_configuration(settings)

    monkeypatch.setattr(auth, "smart_configuration", counted)
    client = app.test_client()
    with app.app_context():
        expected = jsonify(smart_configuration(app.extensions["fhirauth"].settings)).get_data()
    for path in PATHS * 2:
        resp = client.get(path)
        assert resp.status_code == 200 and resp.mimetype == "application/json"
        assert resp.headers["Cache-Control"] == "public, max-age=3600"
        assert resp.data == expected
    assert len(calls) == 1
