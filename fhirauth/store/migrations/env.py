"""alembic environment: fhirauth passes the connection in (``store.db.migrate``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from fhirauth.store.models import Base, UTCDateTime

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations through fhirauth (fhirauth.store.db.migrate)")

if connection.dialect.name == "postgresql":
    # Several hosts may start at once against one database: migrate one at a time.
    connection.execute(text("SELECT pg_advisory_xact_lock(72657)"))


def _render_item(kind: str, obj: object, _ctx: object) -> str | bool:
    # Migrations must not import model code that later changes: write the plain column type.
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    render_item=_render_item,
)
with context.begin_transaction():
    context.run_migrations()
