"""Run the API under gunicorn: migrate once in the master, then fork the workers."""

from __future__ import annotations

import gc
import logging
import os
import socket
import time
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from fhirauth import logs
from fhirauth.api.app import create_app
from fhirauth.config import Settings
from fhirauth.fhir.json_rules import load_models
from fhirauth.notifications.worker import start_worker_thread
from fhirauth.services import Services
from fhirauth.store.db import make_engine, migrate

log = logging.getLogger(__name__)

# What the operations read or answer beyond the resource types our profiles constrain.
ALSO_LOADED = (
    "Parameters",
    "OperationOutcome",
    "CoverageEligibilityRequest",
    "CoverageEligibilityResponse",
    "Condition",
    "Observation",
    "QuestionnaireResponse",
    "Binary",
    "Communication",
)


def warm_up(services: Services) -> int:
    """Build the R4 model classes requests will need now rather than in the first of them:
    how many."""
    started = time.perf_counter()
    built = load_models(sorted(services.registry.resource_types() | set(ALSO_LOADED)))
    log.info(
        "worker %d: %d R4 model classes built in %.2f s",
        os.getpid(),
        len(built),
        time.perf_counter() - started,
    )
    return len(built)


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
        services = app.extensions["fhirauth"]
        warm_up(services)
        if self.notify:  # one delivery loop per gunicorn worker; claims keep them apart
            start_worker_thread(services)
        # What start-up built (policies, profiles, models: about 200,000 objects) lives as
        # long as the worker. Left in the collector's oldest generation, every full collection
        # walked it again: 60-70 ms pauses in the middle of requests (seen with gc.callbacks).
        gc.freeze()
        return app


def gunicorn_options(
    host: str, port: int, workers: int, log_config: dict[str, Any]
) -> dict[str, Any]:
    """What ``fhirauth serve`` runs gunicorn with (``bench/submit.py`` serves its floor app with
    the same, so the two are compared under one configuration)."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 4,
        "timeout": 60,
        # Each worker listens on its own socket and the kernel spreads new connections over
        # them. With one shared socket, whichever worker woke first accepted every keep-alive
        # connection of a burst (8 of 8 in the benchmark), and one GIL served them all while
        # the other worker idled. ensure_port_free keeps a second server off the same port.
        "reuse_port": True,
        # fhirauth writes the access line itself (fhirauth.api.requestlog), with the request
        # id and client id; gunicorn's own lines go through the same format.
        "accesslog": None,
        "logconfig_dict": log_config,
        # gunicorn 25.1+ opens a control socket at ~/.gunicorn/gunicorn.ctl, one path for
        # every instance a user runs: a second server would take over the first's. Not used.
        "control_socket_disable": True,
    }


def ensure_port_free(host: str, port: int) -> None:
    """Refuse a port another server holds, with or without SO_REUSEPORT: with it, the kernel
    would otherwise share the port's connections between the two servers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def run(settings: Settings, *, host: str, port: int, workers: int, notify: bool = True) -> None:
    """Check what would stop every worker (policies, roster, schema) once, then serve."""
    logs.configure(settings.log_level, settings.log_format)
    Services.check(settings)
    ensure_port_free(host, port)
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    migrate(engine)
    engine.dispose()
    log.info("serving %s with %d worker(s)", settings.base_url, workers)
    log_config = logs.dict_config(settings.log_level, settings.log_format)
    _Gunicorn(settings, gunicorn_options(host, port, workers, log_config), notify).run()
