"""What the commands that act on the database directly share: its options and sessions."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session, sessionmaker

from fhirauth.config import Settings
from fhirauth.store.db import make_engine, migrate, session_factory


@contextmanager
def store(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """Sessions on the configured database, migrated to the current schema."""
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    try:
        migrate(engine)
        yield session_factory(engine)
    finally:
        engine.dispose()


def db_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--data-dir`` and ``--database-url``, as ``serve`` takes them, into ``settings``."""

    @click.option(
        "--data-dir",
        type=click.Path(path_type=Path),
        help="Folder of the SQLite database (default ./fhirauth-data).",
    )
    @click.option("--database-url", help="SQLAlchemy URL, e.g. postgresql://host/db.")
    @functools.wraps(command)
    def wrapper(*args: Any, data_dir: Path | None, database_url: str | None, **kw: Any) -> Any:
        try:
            settings = Settings.from_env(data_dir=data_dir, database_url=database_url)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        return command(*args, settings=settings, **kw)

    return wrapper
