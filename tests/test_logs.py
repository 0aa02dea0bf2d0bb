"""Log lines: text or JSON, each with the request id and client id (``-`` outside requests)."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import sys

import pytest

from fhirauth import logs
from fhirauth.config import Settings


def record(**extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("fhirauth.test", logging.INFO, __file__, 1, "stored %s", ("x",), None)
    rec.__dict__.update(extra)
    return rec


def test_text_lines_carry_time_level_logger_request_and_client() -> None:
    rec = record()
    logs.RequestContext().filter(rec)  # outside a request: "-"
    line = logs.TextFormatter().format(rec)
    assert line.endswith(" INFO fhirauth.test [req - client -] stored x")
    assert line[:24].endswith("Z") and line[10] == "T"


def test_json_lines_are_one_object_with_the_access_fields_when_present() -> None:
    rec = record(request_id="r1", client_id="c1", method="GET", path="/fhir/metadata", status=200)
    out = json.loads(logs.JsonFormatter().format(rec))
    assert out["message"] == "stored x" and out["level"] == "INFO"
    assert (out["request_id"], out["client_id"]) == ("r1", "c1")
    assert (out["method"], out["path"], out["status"]) == ("GET", "/fhir/metadata", 200)
    assert "bytes" not in out
    try:
        raise ValueError("boom")
    except ValueError:
        failed = record(request_id="r2", client_id="c2")
        failed.exc_info = sys.exc_info()
    assert "ValueError" in json.loads(logs.JsonFormatter().format(failed))["exception"]


def test_configure_replaces_its_own_handler_and_keeps_others() -> None:
    root = logging.getLogger()
    other = logging.NullHandler()
    root.addHandler(other)
    try:
        logs.configure("INFO", "json")
        logs.configure("WARNING", "text")
        ours = [h for h in root.handlers if getattr(h, "_fhirauth_handler", False)]
        assert len(ours) == 1 and isinstance(ours[0].formatter, logs.TextFormatter)
        assert other in root.handlers and root.level == logging.WARNING
        assert logging.getLogger("alembic").level == logging.WARNING
    finally:
        root.removeHandler(other)
        logs.configure()


def test_gunicorns_lines_go_through_our_handler_and_its_access_lines_nowhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    try:
        logging.config.dictConfig(logs.dict_config("INFO", "json"))
        logging.getLogger("gunicorn.error").info("Booting worker with pid: %s", 42)
        logging.getLogger("gunicorn.access").info('1.2.3.4 "GET /fhir/AuditEvent?x=1"')
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [line["message"] for line in lines] == ["Booting worker with pid: 42"]
        assert lines[0]["logger"] == "gunicorn.error" and lines[0]["request_id"] == "-"
    finally:
        logs.configure()


def test_the_format_is_a_setting() -> None:
    assert Settings.from_env({"FHIRAUTH_LOG_FORMAT": "JSON"}).log_format == "json"
    assert Settings.from_env({}).log_format == "text"
    with pytest.raises(ValueError, match="FHIRAUTH_LOG_FORMAT"):
        Settings.from_env({"FHIRAUTH_LOG_FORMAT": "xml"})
    with pytest.raises(ValueError, match="FHIRAUTH_LOG_FORMAT"):
        logs.formatter("xml")
