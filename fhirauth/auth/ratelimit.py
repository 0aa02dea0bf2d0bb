"""Requests per client per fixed window, counted in the database so that every process and
host serving one database shares the count.

Each request is one atomic upsert, ``INSERT ... ON CONFLICT (client_id, slot) DO UPDATE SET
hits = hits + 1 RETURNING hits`` (PostgreSQL and SQLite 3.35+ both speak it), so two
processes never lose an increment. Windows older than the previous one are dropped as the
client opens a new one.
"""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from fhirauth.store.models import RateWindow


def hit(
    sessions: sessionmaker[Session], client_id: str, limit: tuple[int, int], now: datetime
) -> int | None:
    """Count one request by ``client_id``. None when it is within ``limit`` (requests, period
    in seconds); otherwise the seconds until the window ends, for ``Retry-After``."""
    allowed, period = limit
    t = now.timestamp()
    window = int(t // period)
    with sessions.begin() as session:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(RateWindow).values(client_id=client_id, slot=window, hits=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=[RateWindow.client_id, RateWindow.slot],
            set_={"hits": RateWindow.hits + 1},
        ).returning(RateWindow.hits)
        count = session.execute(stmt).scalar_one()
        if count == 1:
            session.execute(
                delete(RateWindow).where(
                    RateWindow.client_id == client_id, RateWindow.slot < window - 1
                )
            )
    if count <= allowed:
        return None
    return max(1, math.ceil((window + 1) * period - t))
