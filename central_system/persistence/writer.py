"""One writer thread for SQLite: units of work run next to the file and commit in groups.

Through aiosqlite every statement of a unit of work is a round trip between the
event loop and the driver's thread, and SQLite lets one writer in at a time, so
under a fleet each charger's message waited for everyone else's round trips.
Here a use case's whole database part (a coroutine whose only awaits are its
unit of work's) is sent to one thread that owns one connection:

* the thread takes every job that is waiting (up to ``batch_limit``), opens one
  ``BEGIN IMMEDIATE`` transaction, runs each job's units of work inside it, each
  in its own SAVEPOINT (a job that fails rolls back alone), and commits once,
  or every ``group_budget`` (5 ms) of running jobs when more are waiting, so
  grouping never holds an answer back for long;
* every commit is ``synchronous=FULL``: with the commit shared by the whole
  group, durability on power loss costs one ``fdatasync`` per group, so every
  answer a charger gets is on disk before it is sent, not only those to
  StartTransaction and StopTransaction;
* a job's result (or exception) reaches its caller only after that commit, so
  nothing is answered that could still roll back.

The sessions the thread hands out are ordinary ``AsyncSession``\\ s over a
synchronous connection: the repositories and the use cases are the same code
as on PostgreSQL, and their awaits complete without suspending.

Reads inside a job see the group's earlier writes; this is the same ordering
the single writer connection gave before, without the waiting. A job submitted
``read_only`` (an Authorize, a handshake's security read) runs outside the
groups, in a snapshot of what is committed, and is answered at once: it has no
commit to wait for.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar, cast

from sqlalchemy import create_engine, event
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.pool import StaticPool

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds of running jobs after which a group is committed and its jobs answered,
#: even if more jobs are waiting: what grouping may add to an answer's latency.
GROUP_BUDGET = 0.005

#: Seconds between two checkpoints of the write-ahead log.
CHECKPOINT_EVERY = 0.5

#: ``Connection.info`` key: the writer is running read-only jobs, outside any group.
_READING = "group_writer_reading"


class WriterStopped(RuntimeError):
    """The writer has stopped (or was never started); nothing more can be written."""


class _Lane(enum.IntEnum):
    """Where a job goes among those taken together, in this order."""

    READ = 0  # outside the groups, answered at once
    URGENT = 1  # a handshake: committed first
    WRITE = 2
    BACKGROUND = 3  # the message log: committed after the chargers' writes


@dataclass(slots=True)
class _Job:
    work: Coroutine[Any, Any, Any]
    loop: asyncio.AbstractEventLoop
    reply: asyncio.Future[Any]
    lane: _Lane
    outcome: Any = None
    error: BaseException | None = None


class GroupCommitDialect(SQLiteDialect_pysqlite):
    """pysqlite, with savepoints sent as plain SQL.

    Every job opens and releases a SAVEPOINT with a fresh name, which SQLAlchemy
    compiles anew each time (a fifth of the thread's time under a fleet).
    """

    supports_statement_cache = True

    def do_savepoint(self, connection: Connection, name: str) -> None:
        _driver(connection).execute(f"SAVEPOINT {name}")

    def do_rollback_to_savepoint(self, connection: Connection, name: str) -> None:
        _driver(connection).execute(f"ROLLBACK TO SAVEPOINT {name}")

    def do_release_savepoint(self, connection: Connection, name: str) -> None:
        _driver(connection).execute(f"RELEASE SAVEPOINT {name}")


def _driver(connection: Connection) -> sqlite3.Connection:
    return cast(sqlite3.Connection, connection.connection.dbapi_connection)


registry.register("sqlite.groupcommit", __name__, "GroupCommitDialect")


class _Begun:
    """``session.begin()`` / ``begin_nested()`` of an ``InlineSession``: awaitable, or a block."""

    def __init__(self, begin: Callable[[], SessionTransaction]) -> None:
        self._begin = begin
        self._transaction: SessionTransaction | None = None

    def __await__(self) -> Generator[Any, None, _Begun]:
        self._transaction = self._begin()
        return self
        yield  # pragma: no cover - makes this a generator that never suspends

    async def __aenter__(self) -> _Begun:
        self._transaction = self._begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._transaction is not None
        self._transaction.__exit__(exc_type, exc, tb)


class InlineSession(AsyncSession):
    """An ``AsyncSession`` that calls its synchronous session in place.

    ``AsyncSession`` runs each call in a greenlet so that an asyncio driver can
    suspend it; on the writer's thread the driver is the blocking ``sqlite3``
    and nothing ever suspends, so the greenlet is pure cost (a tenth of the
    thread's time). Only the methods the repositories use are provided.
    """

    async def execute(self, statement: Any, params: Any = None, **kw: Any) -> Any:
        return self.sync_session.execute(statement, params, **kw)

    async def scalar(self, statement: Any, params: Any = None, **kw: Any) -> Any:
        return self.sync_session.scalar(statement, params, **kw)

    async def scalars(self, statement: Any, params: Any = None, **kw: Any) -> Any:
        return self.sync_session.scalars(statement, params, **kw)

    async def get(self, entity: Any, ident: Any, **kw: Any) -> Any:
        return self.sync_session.get(entity, ident, **kw)

    async def flush(self, objects: Any = None) -> None:
        self.sync_session.flush(objects)

    async def commit(self) -> None:
        self.sync_session.commit()

    async def rollback(self) -> None:
        self.sync_session.rollback()

    async def close(self) -> None:
        self.sync_session.close()

    def begin(self) -> Any:
        return _Begun(self.sync_session.begin)

    def begin_nested(self) -> Any:
        return _Begun(self.sync_session.begin_nested)


def _session_class(connection: Connection) -> type[Session]:
    """Sessions that join the group's transaction with a SAVEPOINT of their own."""

    class GroupSession(Session):
        def __init__(self, bind: object = None, binds: object = None, **kw: Any) -> None:
            super().__init__(bind=connection, join_transaction_mode="create_savepoint", **kw)

    return GroupSession


class SqliteWriter:
    """The thread that writes this process's charger traffic to SQLite.

    ``await writer(coroutine)`` runs the coroutine on the thread inside the next
    group and returns its result once the group is committed. The coroutine must
    await nothing but units of work from ``writer.sessions``.
    """

    def __init__(
        self,
        url: str,
        *,
        busy_timeout_ms: int = 10_000,
        batch_limit: int = 500,
        group_budget: float = GROUP_BUDGET,
    ) -> None:
        sync_url = make_url(url).set(drivername="sqlite+groupcommit")
        self._engine = create_engine(sync_url, poolclass=StaticPool)
        self._busy_timeout_ms = busy_timeout_ms
        self._path = make_url(url).database or ""
        self._checkpointer: threading.Thread | None = None
        self._stopping = threading.Event()
        self._batch_limit = batch_limit
        self._group_budget = group_budget
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._connection: Connection | None = None
        self._accepting = False
        #: Groups committed and jobs run (tests and diagnosis read them).
        self.groups = 0
        self.jobs = 0
        self._install_pragmas()
        #: Sessions for the units of work that run on the thread.
        self.sessions: async_sessionmaker[AsyncSession] | None = None

    def _install_pragmas(self) -> None:
        busy = int(self._busy_timeout_ms)

        @event.listens_for(self._engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # transactions are begun below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={busy}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=FULL")
            # Checkpoints run on a thread of their own (``_checkpoint_forever``):
            # copying the log into the database would stall whichever commit
            # crossed the threshold, and every job waiting behind it.
            cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.close()

        @event.listens_for(self._engine, "begin")
        def _on_begin(connection: Connection) -> None:
            # A read (outside any group) takes a snapshot; a group takes the write lock.
            reading = connection.info.get(_READING, False)
            connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Open the connection and start the thread (after the migrations)."""
        if self._thread is not None:
            return
        self._connection = self._engine.connect()
        self.sessions = async_sessionmaker(
            class_=InlineSession,
            sync_session_class=_session_class(self._connection),
            expire_on_commit=False,
        )
        self._accepting = True
        self._thread = threading.Thread(target=self._serve, name="sqlite-writer", daemon=True)
        self._thread.start()
        self._stopping.clear()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_forever, name="sqlite-checkpointer", daemon=True
        )
        self._checkpointer.start()

    async def stop(self) -> None:
        """Run what was submitted, then close the connection and end the thread."""
        if self._thread is None:
            return
        self._accepting = False
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)
        self._thread = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._engine.dispose()
        self._stopping.set()
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.join)
            self._checkpointer = None

    # -------------------------------------------------------------- submitting

    async def __call__(
        self,
        work: Coroutine[Any, Any, T],
        *,
        read_only: bool = False,
        urgent: bool = False,
        background: bool = False,
    ) -> T:
        """Run ``work`` on the thread; its result once its group is committed.

        ``read_only`` work runs outside the groups and is answered at once;
        ``urgent`` work (a handshake) is committed before the other jobs waiting
        with it; ``background`` work (the message log) is committed in a group of its own
        after the group of the jobs that were waiting with it, so no charger's
        answer waits for it.
        """
        if not self._accepting:
            work.close()
            raise WriterStopped("the database writer is not running")
        if threading.current_thread() is self._thread:
            work.close()  # it would wait for the very thread it runs on
            raise RuntimeError("a job on the writer thread cannot submit another job")
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[T] = loop.create_future()
        lane = (
            _Lane.READ
            if read_only
            else _Lane.URGENT
            if urgent
            else _Lane.BACKGROUND
            if background
            else _Lane.WRITE
        )
        self._queue.put(_Job(work, loop, reply, lane))
        return await reply

    # ------------------------------------------------------------- the thread

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                jobs = [first]
                stop = False
                while len(jobs) < self._batch_limit:
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if job is None:
                        stop = True
                        break
                    jobs.append(job)
                for lane in _Lane:
                    taken = [job for job in jobs if job.lane is lane]
                    if not taken:
                        continue
                    if lane is _Lane.READ:
                        self._read(loop, taken)
                    else:
                        self._commit_groups(loop, taken)
                if stop:
                    return
        finally:
            loop.close()

    def _checkpoint_forever(self) -> None:
        """Copy the write-ahead log into the database every half second.

        PASSIVE: it never waits for the writer nor makes it wait; what a reader
        still needs is left for the next round.
        """
        connection = sqlite3.connect(self._path, timeout=self._busy_timeout_ms / 1000)
        try:
            while not self._stopping.wait(CHECKPOINT_EVERY):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as error:
                    logger.warning("WAL checkpoint failed: %s", error)
        finally:
            connection.close()

    def _read(self, loop: asyncio.AbstractEventLoop, jobs: list[_Job]) -> None:
        """Read-only jobs: each in its own snapshot, answered without waiting for a commit."""
        connection = self._connection
        assert connection is not None
        connection.info[_READING] = True
        try:
            loop.run_until_complete(self._run_all(jobs))
        finally:
            connection.info[_READING] = False
        self.jobs += len(jobs)
        self._settle(jobs)

    def _commit_groups(self, loop: asyncio.AbstractEventLoop, jobs: list[_Job]) -> None:
        """Commit ``jobs`` in as many groups as ``GROUP_BUDGET`` of running time makes."""
        while jobs:
            ran = self._commit_group(loop, jobs)
            jobs = jobs[ran:]

    def _commit_group(self, loop: asyncio.AbstractEventLoop, jobs: list[_Job]) -> int:
        """Run jobs from the head of ``jobs`` until the budget is spent; commit; answer them."""
        connection = self._connection
        assert connection is not None
        try:
            transaction = connection.begin()
        except Exception as error:  # the file is locked past busy_timeout, the disk failed
            logger.error("could not begin a write transaction: %s", error)
            for job in jobs:
                job.work.close()
                job.error = error
            self._settle(jobs)
            return len(jobs)
        jobs = jobs[: loop.run_until_complete(self._run_within(jobs, self._group_budget))]
        try:
            transaction.commit()
        except Exception as error:
            logger.error("group commit of %d jobs failed: %s", len(jobs), error)
            transaction.rollback()
            for job in jobs:
                job.error, job.outcome = error, None
        self.groups += 1
        self.jobs += len(jobs)
        self._settle(jobs)
        return len(jobs)

    @classmethod
    async def _run_within(cls, jobs: list[_Job], budget: float) -> int:
        """Run jobs in order, at least one, until ``budget`` seconds have passed."""
        deadline = time.perf_counter() + budget
        ran = 0
        for job in jobs:
            await cls._run_one(job)
            ran += 1
            if time.perf_counter() >= deadline:
                break
        return ran

    @staticmethod
    async def _run_one(job: _Job) -> None:
        try:
            job.outcome = await job.work
        except (Exception, asyncio.CancelledError) as error:  # the caller gets it
            job.error = error

    @classmethod
    async def _run_all(cls, jobs: list[_Job]) -> None:
        for job in jobs:
            await cls._run_one(job)

    @staticmethod
    def _settle(jobs: list[_Job]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        for job in jobs:
            by_loop.setdefault(job.loop, []).append(job)
        for loop, delivered in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, delivered)
            except RuntimeError:  # that loop is closed: nobody is waiting
                logger.warning("%d database results had no one to deliver to", len(delivered))


def _deliver(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.reply.done():  # the caller gave up (its connection closed)
            continue
        if job.error is not None:
            job.reply.set_exception(job.error)
        else:
            job.reply.set_result(job.outcome)
