"""Log lines: time, level, logger, request id and client id, as text (default) or JSON lines.

Every line a request causes carries the request's id (its ``X-Request-ID`` header, or one we
made) and the calling client's id, so one request can be followed through the log. Messages
never carry patient data (names, member ids, birth dates, bodies): callers log ids and counts.
The same handler serves gunicorn's own lines (``serve`` passes ``dict_config`` to gunicorn).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import g, has_request_context

LOG_FORMATS = ("text", "json")
# Fields an access line adds (``extra=``), printed by both formats.
ACCESS_FIELDS = ("method", "path", "status", "bytes", "duration_ms")
_MARK = "_fhirauth_handler"
# Libraries whose INFO lines say nothing an operator needs ("Context impl SQLiteImpl.").
QUIET = {"alembic": "WARNING"}


class RequestContext(logging.Filter):
    """Adds ``request_id`` and ``client_id`` to every record: those of the Flask request being
    served, or ``-`` outside one (start-up, the notification worker)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = client_id = None
        if has_request_context():
            request_id = g.get("request_id")
            principal = g.get("principal")
            client_id = g.get("audit_agent") or getattr(principal, "id", None)
        if not getattr(record, "request_id", None):
            record.request_id = request_id or "-"
        if not getattr(record, "client_id", None):
            record.client_id = client_id or "-"
        return True


def _time(record: logging.LogRecord) -> str:
    at = datetime.fromtimestamp(record.created, UTC)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """``2026-12-04T05:31:51.826Z INFO fhirauth.api [req 3f2a… client fhirauth-demo] message``"""

    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"{_time(record)} {record.levelname} {record.name} "
            f"[req {getattr(record, 'request_id', '-')} "
            f"client {getattr(record, 'client_id', '-')}] {record.getMessage()}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, ``request_id``,
    ``client_id``, and on access lines ``method``, ``path``, ``status``, ``bytes``,
    ``duration_ms``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "client_id": getattr(record, "client_id", "-"),
        }
        for name in ACCESS_FIELDS:
            if hasattr(record, name):
                out[name] = getattr(record, name)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def formatter(style: str = "text") -> logging.Formatter:
    if style not in LOG_FORMATS:
        raise ValueError(f"FHIRAUTH_LOG_FORMAT={style!r}: use one of {', '.join(LOG_FORMATS)}")
    return JsonFormatter() if style == "json" else TextFormatter()


def handler(style: str = "text") -> logging.Handler:
    """A stderr handler writing ``style`` lines with the request context."""
    out = logging.StreamHandler(sys.stderr)
    out.setFormatter(formatter(style))
    out.addFilter(RequestContext())
    setattr(out, _MARK, True)
    return out


def configure(level: str = "INFO", style: str = "text") -> None:
    """Send fhirauth's log (the root logger) to stderr in ``style``. Calling it again replaces
    the handler it (or ``dict_config``) installed; handlers others installed (pytest's) stay."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler(style))
    root.setLevel(level)
    for name, quiet in QUIET.items():
        logging.getLogger(name).setLevel(quiet)


def dict_config(level: str = "INFO", style: str = "text") -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: its own lines (start-up, workers, errors) go through the
    same handler and format as fhirauth's."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "fhirauth": {"()": handler, "style": style},
            "discard": {"class": "logging.NullHandler"},
        },
        "root": {"level": level, "handlers": ["fhirauth"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            # fhirauth writes its own access line; gunicorn's would carry the query string.
            "gunicorn.access": {"level": "INFO", "handlers": ["discard"], "propagate": False},
            **{name: {"level": quiet} for name, quiet in QUIET.items()},
        },
    }
