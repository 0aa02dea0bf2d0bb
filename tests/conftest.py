"""Fixtures: ``app``, ``client`` and ``runner`` over a fresh database per test.

The suite runs on SQLite by default; with FHIRAUTH_TEST_DATABASE_URL set (CI sets it) every
test gets its own PostgreSQL schema in that database instead.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from fhirauth import create_app
from fhirauth.clock import fixed_clock
from fhirauth.config import Settings
from fhirauth.services import Services
from tests.conformance.packages import NpmRegistry, npm_registry

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SHARED_PAS = ROOT.parent / "shared" / "pas"
NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
BASE_URL = "http://fhirauth.test/fhir"


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    server = os.environ.get("FHIRAUTH_TEST_DATABASE_URL")
    if not server:
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(server.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in server else "?"
    yield f"{server}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # Authentication off: these tests are about PAS, not tokens (tests/auth/ turns it on).
    return Settings(
        data_dir=tmp_path, database_url=database_url, base_url=BASE_URL, auth_mode="off"
    )


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    svc = Services.build(settings, clock=fixed_clock(NOW))
    yield svc
    svc.engine.dispose()


@pytest.fixture
def app(services: Services) -> Flask:
    app = create_app(services=services)
    app.config["TESTING"] = False  # errors go through our handlers, as in production
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def server_url(app: Flask) -> Iterator[str]:
    """The app served over real HTTP on loopback, for the commands that call a server."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/fhir"
    server.shutdown()
    thread.join()


@pytest.fixture
def sandbox_services(settings: Settings) -> Iterator[Services]:
    services = Services.build(replace(settings, sandbox=True), clock=fixed_clock(NOW))
    yield services
    services.engine.dispose()


@pytest.fixture
def sandbox(sandbox_services: Services) -> FlaskClient:
    """A client of the app in sandbox mode (issue 3: scripted outcomes)."""
    app = create_app(services=sandbox_services)
    app.config["TESTING"] = False
    return app.test_client()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty FHIR package cache, as ``FHIR_PACKAGE_CACHE``."""
    folder = tmp_path / "fhir-packages"
    monkeypatch.setenv("FHIR_PACKAGE_CACHE", str(folder))
    return folder


@pytest.fixture
def registry() -> Iterator[NpmRegistry]:
    """An npm-protocol FHIR package registry on loopback."""
    with npm_registry() as reg:
        yield reg


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
