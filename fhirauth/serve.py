"""Run the API under gunicorn: migrate once in the master, then fork the workers."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from fhirauth import logs
from fhirauth.api.app import create_app
from fhirauth.config import Settings
from fhirauth.notifications.worker import start_worker_thread
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
            if key in self.cfg.settings:  # control_socket_disable: gunicorn 25.1 and later
                self.cfg.set(key, value)

    def load(self) -> Flask:
        app = create_app(self.settings, run_migrations=False)
        if self.notify:  # one delivery loop per gunicorn worker; claims keep them apart
            start_worker_thread(app.extensions["fhirauth"])
        return app


def run(settings: Settings, *, host: str, port: int, workers: int, notify: bool = True) -> None:
    """Check what would stop every worker (policies, roster, schema) once, then serve."""
    logs.configure(settings.log_level, settings.log_format)
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
            # fhirauth writes the access line itself (fhirauth.api.requestlog), with the request
            # id and client id; gunicorn's own lines go through the same format.
            "accesslog": None,
            "logconfig_dict": logs.dict_config(settings.log_level, settings.log_format),
            # gunicorn 25.1+ opens a control socket at ~/.gunicorn/gunicorn.ctl, one path for
            # every instance a user runs: a second server would take over the first's. Not used.
            "control_socket_disable": True,
        },
        notify,
    ).run()
