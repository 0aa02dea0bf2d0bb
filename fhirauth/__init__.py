"""fhirauth: a payer-side Da Vinci PAS prior-authorization server."""

from __future__ import annotations

from fhirauth.api.app import create_app
from fhirauth.config import Settings

__all__ = ["Settings", "create_app"]
