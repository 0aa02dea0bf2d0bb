"""Request ids and the access log.

Every request gets an id: the caller's ``X-Request-ID`` when it is a plain token (letters,
digits, ``.``, ``_``, ``:``, ``-``; at most 128), else a new one. The id is echoed in the
response's ``X-Request-ID`` header, carried by every log line the request causes
(``fhirauth.logs``), and ends the request with one access line: method, path (never the query
string), status, bytes and milliseconds. Bodies are never logged.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_MAX_PATH = 256

access_log = logging.getLogger("fhirauth.access")


def request_id(header: str | None) -> str:
    """The caller's id when it is a plain token, else a new uuid (32 hex digits)."""
    if header and _VALID_ID.fullmatch(header.strip()):
        return header.strip()
    return uuid.uuid4().hex


def begin() -> None:
    """``before_request``, registered first: the id and the start time."""
    g.request_id = request_id(request.headers.get(REQUEST_ID_HEADER))
    g.started = time.perf_counter()


def end(response: Response) -> Response:
    """``after_request``: echo the id and write the access line."""
    rid = g.get("request_id") or request_id(None)
    response.headers[REQUEST_ID_HEADER] = rid
    started = g.get("started")
    elapsed = round((time.perf_counter() - started) * 1000, 1) if started else None
    path = request.path[:_MAX_PATH]
    size = response.content_length
    access_log.info(
        "%s %s %s %s B %s ms",
        request.method,
        path,
        response.status_code,
        size if size is not None else "-",
        elapsed if elapsed is not None else "-",
        extra={
            "method": request.method,
            "path": path,
            "status": response.status_code,
            "bytes": size,
            "duration_ms": elapsed,
        },
    )
    return response


def init_app(app: Flask) -> None:
    """Register before every other hook, so a request refused by authentication has an id."""
    app.before_request_funcs.setdefault(None, []).insert(0, begin)
    app.after_request(end)
