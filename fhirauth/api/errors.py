"""The one place where exceptions become HTTP responses.

A FhirError becomes its status with exactly one OperationOutcome. Anything else is a fault of
ours: 500 with no body (PAS: "no OperationOutcome will be returned" on 5xx), and a log line
with the traceback but not the exception's message, which may quote patient data.
"""

from __future__ import annotations

import logging
import traceback

import orjson
from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from fhirauth.errors import FhirError, Issue
from fhirauth.fhir.outcome import operation_outcome

log = logging.getLogger("fhirauth.api")

FHIR_JSON = "application/fhir+json"
_HTTP_CODES = {
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    413: "too-costly",
    415: "not-supported",
    429: "throttled",
}


def outcome_response(status: int, issues: list[Issue]) -> Response:
    return Response(orjson.dumps(operation_outcome(issues)), status=status, mimetype=FHIR_JSON)


def init_app(app: Flask) -> None:
    @app.errorhandler(FhirError)
    def _fhir_error(exc: FhirError) -> Response:
        resp = outcome_response(exc.status, exc.issues)
        resp.headers.update(exc.headers())
        return resp

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        if status >= 500:
            return Response(status=status)
        code = _HTTP_CODES.get(status, "processing")
        return outcome_response(status, [Issue(code, exc.description or exc.name)])

    @app.errorhandler(Exception)
    def _fault(exc: Exception) -> Response:
        frames = " <- ".join(
            f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}"
            for f in reversed(traceback.extract_tb(exc.__traceback__))
        )
        log.error("unhandled %s at %s", type(exc).__name__, frames)
        return Response(status=500)
