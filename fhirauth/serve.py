"""Run the API under gunicorn: migrate once in the master, then fork the workers."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from fhirauth.config import Settings
from fhirauth.services import Services
from fhirauth.store.db import make_engine, migrate

log = logging.getLogger(__name__)


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any], notify: bool = True) -> None:
        self.settings = settings
        self.options = options
        self.notify = notify
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from fhirauth import create_app

        app = create_app(self.settings, run_migrations=False)
        if self.notify:  # one delivery loop per gunicorn worker; claims keep them apart
            from fhirauth.notifications.worker import start_worker_thread

            start_worker_thread(app.extensions["fhirauth"])
        return app


def run(settings: Settings, *, host: str, port: int, workers: int, notify: bool = True) -> None:
    """Check what would stop every worker (policies, roster, schema) once, then serve."""
    Services.check(settings)
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    migrate(engine)
    engine.dispose()
    log.info("serving %s with %d worker(s)", settings.base_url, workers)
    _Gunicorn(
        settings,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": 4,
            "timeout": 60,
            "accesslog": "-",
            # The access log line carries method, path and status: no query strings with data.
            "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(L)ss',
        },
        notify,
    ).run()
