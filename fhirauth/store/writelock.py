"""One SQLite writer at a time, queued on a lock that wakes the next writer at once.

SQLite lets one connection write at a time; the others wait in its busy handler, which sleeps
1, 2, 5, 10 ... up to 100 ms between tries and never learns that the lock came free. Under a
few concurrent writers (four threads in each of two gunicorn workers) most of a request's time
went to those sleeps: ``$submit`` p99 near a second while the CPU idled. Here a writer instead
queues on a thread lock (within the process) and then on ``flock`` of a file beside the
database (between processes); both wake the next waiter the moment the holder lets go.

The lock is taken just before the first INSERT, UPDATE or DELETE of a transaction, the
statements before which pysqlite opens one, and let go after the transaction's COMMIT or
ROLLBACK, or at once when the statement ran outside a transaction. Reads never take it: in
WAL mode they do not wait for the writer. A process that dies holding ``flock`` loses it with
its descriptor. SQLite's own locking stays underneath, so a connection that skips this (the
``sqlite3`` shell, another program) is still safe, only slower.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from typing import Any

from sqlalchemy import Connection, Engine, event

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
# As long as SQLite's own busy timeout: a writer that waits longer gets the same error.
WAIT_SECONDS = 30.0


class _FileLock:
    """A thread lock and, per process, a descriptor of the lock file (a descriptor inherited
    through fork shares one lock with the parent, so each process opens its own)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.threads = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def acquire(self) -> None:
        if not self.threads.acquire(timeout=WAIT_SECONDS):
            raise sqlite3.OperationalError("database is locked (waited for the write lock)")
        if self.path is None:
            return
        try:
            fcntl.flock(self._descriptor(), fcntl.LOCK_EX)
        except BaseException:
            self.threads.release()
            raise

    def release(self) -> None:
        try:
            if self.path is not None and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self.threads.release()

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            assert self.path is not None
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd


_LOCKS: dict[str, _FileLock] = {}
_LOCKS_GUARD = threading.Lock()


def lock_for(database: str) -> _FileLock:
    """The lock of one database file (``:memory:`` and the empty name: a thread lock only)."""
    key = os.path.abspath(database) if database not in ("", ":memory:") else f"memory:{database}"
    with _LOCKS_GUARD:
        if key not in _LOCKS:
            path = None if key.startswith("memory:") else key + ".writelock"
            _LOCKS[key] = _FileLock(path)
        return _LOCKS[key]


class SerialWriterConnection(sqlite3.Connection):
    """A pysqlite connection that holds its database's write lock while it writes."""

    write_lock: _FileLock
    holding = False

    def before_statement(self, statement: str) -> None:
        if not self.holding and statement.lstrip()[:7].upper().startswith(_WRITES):
            self.write_lock.acquire()
            self.holding = True

    def after_statement(self) -> None:
        if self.holding and not self.in_transaction:  # autocommitted: nothing left to guard
            self._let_go()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._let_go()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._let_go()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._let_go()

    def _let_go(self) -> None:
        if self.holding:
            self.holding = False
            self.write_lock.release()


def install(engine: Engine) -> None:
    """Give an engine made with ``connect_args={"factory": SerialWriterConnection}`` its
    database's lock and the hooks that take it."""
    lock = lock_for(engine.url.database or "")

    def connected(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.write_lock = lock

    def before(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        conn.connection.dbapi_connection.before_statement(statement)  # type: ignore[union-attr]

    def after(conn: Connection, *_args: Any) -> None:
        conn.connection.dbapi_connection.after_statement()  # type: ignore[union-attr]

    event.listen(engine, "connect", connected)
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
