"""A fresh database for each configuration: a SQLite folder, or a PostgreSQL schema."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from fhirauth.store.db import make_engine


@dataclass(frozen=True)
class Database:
    data_dir: Path
    url: str | None  # None: SQLite under data_dir


@contextlib.contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[Database]:
    """An empty database: a new SQLite folder, or a new schema in FHIRAUTH_DATABASE_URL's
    PostgreSQL database (as tests/conftest.py does), dropped afterwards."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=workdir))
    if backend == "sqlite":
        yield Database(data_dir, None)
        return
    server = postgresql_url()
    assert server is not None
    schema = f"bench_{uuid.uuid4().hex[:16]}"
    admin = make_engine(server)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in server else "?"
        yield Database(data_dir, f"{server}{sep}options=-csearch_path%3D{schema}")
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def postgresql_url() -> str | None:
    url = os.environ.get("FHIRAUTH_DATABASE_URL", "")
    return url if url.startswith(("postgresql://", "postgresql+psycopg://")) else None
