"""One app per module for the generated-input tests, and the ``probe`` that sends each input.

Every response must be below 500; a 4xx from a FHIR endpoint must be one OperationOutcome; and
no exception other than our own errors may reach the handler of faults (it logs "unhandled"),
so a catch-all that turned faults into 400s would fail here too. Failures are collected, not
raised at the first, so one run shows every input that broke.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from fhirauth import create_app
from fhirauth.clock import fixed_clock
from fhirauth.config import Settings
from fhirauth.services import Services
from tests.conftest import BASE_URL, NOW

SENT: Counter[str] = Counter()  # inputs sent, by module, for the summary line
ANSWERS: Counter[int] = Counter()  # their statuses


class _Unhandled(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "unhandled" in record.getMessage():
            self.messages.append(record.getMessage())


@dataclass
class Probe:
    """Sends inputs to one app and keeps what went wrong."""

    client: FlaskClient
    module: str
    failures: list[str] = field(default_factory=list)
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    _unhandled: _Unhandled = field(default_factory=_Unhandled)

    def send(
        self,
        method: str,
        url: str,
        body: bytes,
        *,
        label: str = "",
        content_type: str = "application/fhir+json",
        errors: str = "fhir",
        headers: dict[str, str] | None = None,
        raise_: bool = False,
    ) -> Any:
        """``raise_``: fail at once (hypothesis then shrinks the input) instead of collecting."""
        before = len(self._unhandled.messages)
        resp = self.client.open(
            url, method=method, data=body, content_type=content_type, headers=headers
        )
        self.sent += 1
        SENT[self.module] += 1
        self.statuses[resp.status_code] += 1
        ANSWERS[resp.status_code] += 1
        problem = self.problem(resp, errors)
        if len(self._unhandled.messages) > before:
            problem = self._unhandled.messages[-1][:400]
        if problem and raise_:
            raise AssertionError(f"{method} {url}: {problem}")
        if problem:
            self.failures.append(f"{method} {url} {label}: {problem}")
        return resp

    @staticmethod
    def problem(resp: Any, errors: str) -> str | None:
        """What is wrong with ``resp``: a 5xx, or a 4xx without the body ``errors`` names
        (``fhir``: one OperationOutcome; ``oauth``: a 400 is an RFC 6749 error object;
        ``html``: a console page that says what went wrong)."""
        if resp.status_code >= 500:
            return f"{resp.status_code}"
        if resp.status_code < 400:
            return None
        if errors == "html":
            return None if resp.mimetype == "text/html" else f"{resp.status_code} not a page"
        try:
            body = json.loads(resp.get_data())
        except ValueError:
            return f"{resp.status_code} without a JSON body"
        if errors == "oauth" and resp.status_code == 400:
            return None if isinstance(body.get("error"), str) else "400 without an OAuth error"
        if body.get("resourceType") != "OperationOutcome" or not body.get("issue"):
            return f"{resp.status_code} without an OperationOutcome"
        return None

    def check(self, at_least: int) -> None:
        shown = "\n".join(self.failures[:25])
        assert not self.failures, f"{len(self.failures)} of {self.sent} inputs failed:\n{shown}"
        assert self.sent >= at_least, f"only {self.sent} inputs sent"


_MEMORY = Path("/dev/shm")  # memory-backed where there is one: we measure us, not fsync


def _database(folder: Path) -> tuple[str, Callable[[], None]]:
    server = os.environ.get("FHIRAUTH_TEST_DATABASE_URL")
    if not server:
        file = folder / f"fhirauth-fuzz-{uuid.uuid4().hex}.sqlite3"

        def remove() -> None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{file}{suffix}").unlink(missing_ok=True)

        return f"sqlite:///{file}", remove
    schema = f"f_{uuid.uuid4().hex[:16]}"
    admin = create_engine(server.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    sep = "&" if "?" in server else "?"
    return f"{server}{sep}options=-csearch_path%3D{schema}", drop


AppFactory = Callable[..., tuple[Flask, Services]]


@pytest.fixture(scope="module")
def make_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppFactory]:
    """Build this module's app (auth off unless told): ``make_app(sandbox=True)``."""
    made: list[tuple[Services, Callable[[], None]]] = []

    def make(**overrides: Any) -> tuple[Flask, Services]:
        folder = tmp_path_factory.mktemp("fuzz")
        memory = _MEMORY.is_dir() and os.access(_MEMORY, os.W_OK)
        url, drop = _database(_MEMORY if memory else folder)
        settings = Settings(data_dir=folder, database_url=url, base_url=BASE_URL, auth_mode="off")
        services = Services.build(replace(settings, **overrides), clock=fixed_clock(NOW))
        app = create_app(services=services)
        app.config["TESTING"] = False  # faults go through our handlers, as in production
        made.append((services, drop))
        return app, services

    yield make
    for services, drop in made:
        services.engine.dispose()
        drop()


@pytest.fixture(scope="module")
def probe_for(request: pytest.FixtureRequest) -> Iterator[Callable[[Flask], Probe]]:
    """A Probe over an app; INFO logging is off meanwhile (10,000 access-log lines cost)."""
    quiet = logging.getLogger("fhirauth")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    handlers: list[_Unhandled] = []

    def make(app: Flask) -> Probe:
        probe = Probe(app.test_client(), request.module.__name__.rsplit(".", 1)[-1])
        logging.getLogger("fhirauth.api").addHandler(probe._unhandled)
        handlers.append(probe._unhandled)
        return probe

    yield make
    for handler in handlers:
        logging.getLogger("fhirauth.api").removeHandler(handler)
    quiet.setLevel(level)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SENT:
        per = ", ".join(f"{name} {n}" for name, n in sorted(SENT.items()))
        terminalreporter.write_line(f"fuzz: {sum(SENT.values())} generated inputs ({per})")
        answers = ", ".join(f"{status}: {n}" for status, n in sorted(ANSWERS.items()))
        terminalreporter.write_line(f"fuzz: answers {answers}")
