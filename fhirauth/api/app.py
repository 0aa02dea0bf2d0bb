"""The application factory: one Flask app with every blueprint, over one set of services."""

from __future__ import annotations

from flask import Flask

from fhirauth import logs
from fhirauth.api import admin, audit, auth, errors, fhir, home, pas201, requestlog, subscriptions
from fhirauth.config import Settings
from fhirauth.services import Services
from fhirauth.web import bp as console


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    run_migrations: bool = True,
) -> Flask:
    """The application factory: settings from the environment unless given."""
    settings = settings or (services.settings if services else Settings.from_env())
    logs.configure(settings.log_level, settings.log_format)
    app = Flask("fhirauth")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["fhirauth"] = services or Services.build(settings, run_migrations=run_migrations)
    errors.init_app(app)
    requestlog.init_app(app)  # first: every request has an id, even one auth refuses
    auth.init_app(app)  # before_request: who is calling, and may they (fhirauth.auth.routes)
    app.register_blueprint(auth.bp)
    app.register_blueprint(fhir.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(subscriptions.bp)
    app.register_blueprint(pas201.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(console)
    return app
