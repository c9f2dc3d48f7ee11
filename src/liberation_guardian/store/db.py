"""Open the database: engine, sessions, SQLite settings, and migrations to the latest schema."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"

# SQLite has one writer at a time, and a writer that finds the database locked sleeps
# in growing steps (up to 100 ms) before trying again. Writers queue on a lock instead,
# which hands over at once: a thread lock within the process, and a file lock beside
# the database between processes (several `serve` workers, or a CLI beside a server).
_WRITE_LOCKS: WeakKeyDictionary[Engine, WriteGate] = WeakKeyDictionary()


class WriteGate:
    """One writer at a time on an SQLite file, across threads and processes."""

    def __init__(self, lock_path: Path | None) -> None:
        self._thread_lock = threading.Lock()
        self._lock_path = lock_path
        self._fd: int | None = None

    def __enter__(self) -> WriteGate:
        self._thread_lock.acquire()
        if self._lock_path is not None:
            try:
                if self._fd is None:
                    self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except BaseException:
                self._thread_lock.release()
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


def make_engine(url: str) -> Engine:
    """Create an engine; for SQLite, create its folder and use WAL with durable commits."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        in_memory = not parsed.database or parsed.database == ":memory:"
        _WRITE_LOCKS[engine] = WriteGate(None if in_memory else Path(f"{parsed.database}.writelock"))
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while the ingest writer commits; synchronous=FULL makes every
    # commit reach the disk before the 202 goes out.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest migration (a no-op when it is already there)."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in a transaction that commits on success; writers take turns on SQLite."""
    engine = factory.kw["bind"]
    lock: AbstractContextManager[Any] = _WRITE_LOCKS.get(engine) or nullcontext()
    with lock, factory() as session, session.begin():
        yield session
