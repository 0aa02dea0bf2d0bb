"""SQLite writers queue on one lock (threads and processes) instead of SQLite's sleeping busy
handler; the lock is held from a transaction's first write to its end, never by a read."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from fhirauth.store.db import make_engine


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    made = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with made.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    return made


def other_process_can_lock(path: Path) -> bool:
    """Whether another process would get the write lock now."""
    pid = os.fork()
    if pid == 0:  # the child: try without waiting, answer through the exit code
        fd = os.open(path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os._exit(1)
        os._exit(0)
    return os.waitpid(pid, 0)[1] == 0


def test_a_write_holds_the_lock_until_commit_and_a_read_never_takes_it(
    engine: Engine, tmp_path: Path
) -> None:
    lock_file = tmp_path / "db.sqlite3.writelock"
    with engine.connect() as conn:
        conn.execute(text("SELECT count(*) FROM t")).scalar()
        assert not conn.connection.dbapi_connection.holding
        conn.execute(text("INSERT INTO t VALUES (1)"))
        assert conn.connection.dbapi_connection.holding
        assert not other_process_can_lock(lock_file)
        conn.commit()
        assert not conn.connection.dbapi_connection.holding
        assert other_process_can_lock(lock_file)


def test_a_rollback_lets_go_too(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("UPDATE t SET n = 2"))
        assert conn.connection.dbapi_connection.holding
        conn.rollback()
        assert not conn.connection.dbapi_connection.holding


def test_concurrent_writers_in_threads_all_land(engine: Engine) -> None:
    errors: list[BaseException] = []

    def write(k: int) -> None:
        try:
            for i in range(25):
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": k * 100 + i})
                    conn.execute(text("SELECT count(*) FROM t")).scalar()
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(DISTINCT n) FROM t")).scalar() == 200
