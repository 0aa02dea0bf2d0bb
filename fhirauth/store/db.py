"""Engines, sessions and schema migration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from fhirauth.store import writelock

MIGRATIONS = Path(__file__).parent / "migrations"


def _to_json(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # beyond orjson (a lone surrogate, an integer past 64 bits)
        return json.dumps(value)


def _from_json(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # what only _to_json's fallback writes
        return json.loads(text)


def make_engine(url: str, **kwargs: Any) -> Engine:
    # JSON columns (stored Claims, items, registrations) are read on every $inquire and
    # written on every $submit: the standard library's json took a tenth of an $inquire.
    kwargs = {"json_serializer": _to_json, "json_deserializer": _from_json, **kwargs}
    if url.startswith("sqlite"):
        factory = writelock.SerialWriterConnection
        engine = create_engine(url, connect_args={"timeout": 30, "factory": factory}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        writelock.install(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers and one writer work at once; several server processes share the file.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the newest revision; a no-op when it is current."""
    cfg = _alembic_config()
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with engine.connect() as conn:
        if MigrationContext.configure(conn).get_current_revision() == head:
            return
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # SQLite alters a table by rebuilding it, which foreign keys that point at the
            # table forbid; the pragma only takes effect outside a transaction.
            _foreign_keys(conn, "OFF")
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("a migration left rows whose foreign keys point nowhere")
        finally:
            if sqlite:
                _foreign_keys(conn, "ON")


def _foreign_keys(conn: Connection, state: str) -> None:
    conn.exec_driver_sql(f"PRAGMA foreign_keys={state}")
    conn.commit()
