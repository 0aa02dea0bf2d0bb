"""Schema migrations over a database that already holds data (``fhirauth.store.db.migrate``)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, text

from fhirauth.store.db import _alembic_config, make_engine, migrate
from tests.conftest import NOW


def _upgrade_to(engine: Engine, revision: str) -> None:
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def _authorization(conn: object, auth_id: str, ref: str, status: str) -> None:
    conn.execute(  # type: ignore[attr-defined]
        text(
            'INSERT INTO "authorization" (id, pre_auth_ref, claim_response_id, principal, '
            "policy_id, status, current_version, received_at, updated_at, expedited) VALUES "
            "(:id, :ref, :cr, 'anonymous', 'demo', :status, 1, :now, :now, false)"
        ),
        {"id": auth_id, "ref": ref, "cr": f"cr-{auth_id}", "status": status, "now": NOW},
    )


def test_0009_leaves_refused_submissions_without_a_number_and_keeps_every_row(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    try:
        _upgrade_to(engine, "0008")
        with engine.begin() as conn:
            _authorization(conn, "a1", "PAKEEPTHIS2", "decided")
            _authorization(conn, "a2", "PADROPTHIS3", "error")
            conn.execute(
                text(
                    "INSERT INTO authorization_item (authorization_id, sequence, review_action) "
                    "VALUES ('a1', 1, 'A1')"
                )
            )
        migrate(engine)  # rebuilds "authorization", which authorization_item points at
        with engine.connect() as conn:
            refs = dict(conn.execute(text('SELECT id, pre_auth_ref FROM "authorization"')).all())
            assert refs == {"a1": "PAKEEPTHIS2", "a2": None}
            assert conn.execute(text("SELECT count(*) FROM authorization_item")).scalar() == 1
            if conn.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_0012_gives_requests_decided_before_it_their_determination(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        _upgrade_to(engine, "0011")
        with engine.begin() as conn:
            for auth_id, status, actions in (
                ("d1", "decided", ["A1", "NA"]),
                ("d2", "denied", ["A3"]),
                ("d3", "decided", ["A1", "A3"]),
                ("p1", "pended", ["A4"]),
                ("c1", "cancelled", ["C"]),
            ):
                _authorization(conn, auth_id, f"PA{auth_id.upper()}XXXXXXX", status)
                if status != "pended":
                    conn.execute(
                        text('UPDATE "authorization" SET decided_at = :at WHERE id = :id'),
                        {"at": NOW, "id": auth_id},
                    )
                for seq, action in enumerate(actions, 1):
                    conn.execute(
                        text(
                            "INSERT INTO authorization_item (authorization_id, sequence, "
                            "review_action) VALUES (:id, :seq, :action)"
                        ),
                        {"id": auth_id, "seq": seq, "action": action},
                    )
        migrate(engine)
        with engine.connect() as conn:
            found = {
                auth_id: (what, at is not None)
                for auth_id, what, at in conn.execute(
                    text('SELECT id, determination, determined_at FROM "authorization"')
                )
            }
        assert found == {
            "d1": ("approved", True),
            "d2": ("denied", True),
            "d3": ("partial", True),
            "p1": (None, False),
            "c1": (None, False),  # cancelled: withdrawn before or after, nobody can tell
        }
    finally:
        engine.dispose()
