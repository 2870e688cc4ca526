"""Background work on procrastinate: a server's batches, shard by shard, and the mail.

With PostgreSQL the jobs live in the database (procrastinate's tables, made by migration
0014): `diplomas worker` processes on any number of machines take them. A worker sends a
heartbeat every few seconds; one that falls silent (killed, its machine gone) is found
by the stalled-job sweep, a periodic task every worker runs, and its shard is run again
by another worker. That is safe because a shard is idempotent (`shards`).

With SQLite the same tasks run inside the server, on procrastinate's in-memory queue, so
one machine needs no other service; a restarted server defers its unfinished batches
again (`resume`).

The jobs of one batch: `prepare_batch` (validate, split; one at a time per batch), then
one `issue_shard` per shard (each shard one at a time: a retry never runs beside the
try it replaces). Deferring a job already waiting is a no-op (queueing locks), so any
replica may start or resume any batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import procrastinate
from procrastinate import exceptions as pq
from procrastinate.connector import BaseConnector
from procrastinate.job_context import JobContext
from procrastinate.testing import InMemoryConnector

from .batch_workers import WorkerPool, WorkerPoolFactory
from .batches import BatchService
from .core.batch import BatchStatus, Shard
from .core.errors import StorageUnavailable
from .shards import Shards
from .storage.engine import database_url as parse_database_url

log = logging.getLogger("diplomas.tasks")

BATCHES = "batches"
MAIL = "mail"
ATTEMPTS = 5
"""Tries of a job that raises (the database away, say) before its batch is failed."""
RETRY = procrastinate.RetryStrategy(max_attempts=ATTEMPTS - 1, exponential_wait=3)
MAIL_EVERY_SECONDS = 10


def connector_for(database_url: str) -> BaseConnector:
    """procrastinate's connector for the database: PostgreSQL's own (libpq URL, its
    `options` such as a search path kept), else the in-memory queue of this process."""
    # Parsed as the database layer parses it, so that every form it accepts (`postgres://`
    # too) reaches the same database: otherwise the queue would be this process's alone.
    url = parse_database_url(database_url)
    if url.get_backend_name() != "postgresql":
        return InMemoryConnector()
    from procrastinate import PsycopgConnector
    from psycopg.conninfo import make_conninfo

    # Each part as a libpq keyword (SQLAlchemy's own translation), quoted by psycopg: a URL
    # rendered back to text would carry the password decoded (a space in it, `%20` in the
    # URL, broke the connection string, and libpq's error, which quotes it, was logged).
    parts = url.translate_connect_args(username="user", database="dbname")
    query = {key: value for key, value in url.query.items() if isinstance(value, str)}
    conninfo = make_conninfo("", **parts, **query)
    return PsycopgConnector(conninfo=conninfo, kwargs={"application_name": "diplomas-tasks"})


class Pools:
    """A worker pool per design, started at first use and kept for the next shards
    (starting processes for each shard would cost more than some shards take).

    A pool is started again when it broke (one of its processes died), and when the
    service it was started for was replaced (the settings or keys changed on disk): its
    processes loaded the keys, institutions and design of their start."""

    def __init__(self, factory: WorkerPoolFactory | None, workers: int) -> None:
        self.factory, self.workers = factory, workers
        self._pools: dict[str, tuple[object, WorkerPool]] = {}
        self._lock = threading.Lock()

    def __call__(self, template: str, owner: object = None) -> WorkerPool | None:
        """The pool for `template`, started for `owner` (the service of the moment)."""
        if self.factory is None or self.workers <= 1:
            return None  # in the worker's own process
        with self._lock:
            kept = self._pools.get(template)
            if kept is not None and (kept[0] is not owner or kept[1].broken()):
                reason = "broke" if kept[1].broken() else "belongs to settings replaced since"
                log.warning("the worker pool of design %r %s: starting another", template, reason)
                kept[1].shutdown()
                kept = None
            if kept is None:
                kept = self._pools[template] = (owner, self.factory(self.workers, template))
            return kept[1]

    def shutdown(self) -> None:
        with self._lock:
            for _, pool in self._pools.values():
                pool.shutdown()
            self._pools.clear()


class Tasks:
    """The task app: its tasks, and starting, resuming and working them.

    `batches` answers the batch service of the moment (a server's service is replaced
    when the settings change); `pool` the pool that renders a design's pages (None: in
    this process); `mail`, where mail is sent by workers, the sender of the moment.
    """

    def __init__(
        self,
        connector: BaseConnector,
        batches: Callable[[], BatchService],
        *,
        pool: Callable[[str], WorkerPool | None] | None = None,
        mail: Callable[[], Any] | None = None,
        stalled_seconds: float = 30,
    ) -> None:
        self.app = procrastinate.App(connector=connector)
        self.batches = batches
        self.pool = pool or (lambda template: None)
        self.stalled_seconds = stalled_seconds
        app = self.app

        @app.task(name="diplomas.prepare_batch", queue=BATCHES, retry=RETRY, pass_context=True)
        async def prepare_batch(context: JobContext, batch_id: str) -> None:
            shards = await asyncio.to_thread(self._prepare, context, batch_id)
            try:
                for shard in shards:
                    await self._defer_shard(batch_id, shard)
            except Exception as exc:
                # The shards not queued on the last try would never run: fail the batch.
                await asyncio.to_thread(self._fail_on_last_try, context, batch_id, exc)
                raise

        @app.task(name="diplomas.issue_shard", queue=BATCHES, retry=RETRY, pass_context=True)
        def issue_shard(
            context: JobContext, batch_id: str, first: int, last: int, count: int
        ) -> None:
            with self._failing_batch(context, batch_id):
                batches = self.batches()
                batch = batches.store.get(batch_id)
                template = batch.template if batch else ""
                began = time.monotonic()
                issued = Shards(batches, self.pool(template)).issue_shard(
                    batch_id, (first, last, count)
                )
                log.info(
                    "batch %s: rows %d to %d done, %d diploma(s) issued now, in %.1f s",
                    batch_id,
                    first,
                    last,
                    issued,
                    time.monotonic() - began,
                )

        # Every worker defers this on schedule (procrastinate defers a periodic task once
        # per tick whatever the number of workers); one sweep runs at a time.
        sweep_every = max(1, int(stalled_seconds // 3))

        @app.periodic(cron=f"* * * * * */{sweep_every}", periodic_id="sweep")
        @app.task(name="diplomas.sweep", queue=BATCHES, queueing_lock="diplomas.sweep")
        async def sweep(timestamp: int) -> None:
            await self.sweep()

        self._prepare_batch = prepare_batch
        self._issue_shard = issue_shard

        if mail is not None:

            @app.periodic(cron=f"* * * * * */{MAIL_EVERY_SECONDS}", periodic_id="mail")
            @app.task(name="diplomas.send_mail", queue=MAIL, queueing_lock="diplomas.send_mail")
            def send_mail(timestamp: int) -> None:
                sender = mail()
                if sender is not None:
                    sender.drain()

    # -- the tasks' work ------------------------------------------------------------------

    def _prepare(self, context: JobContext, batch_id: str) -> tuple[Shard, ...]:
        with self._failing_batch(context, batch_id):
            batches = self.batches()
            batch = batches.store.get(batch_id)
            pool = self.pool(batch.template) if batch else None
            prepared = Shards(batches, pool).prepare(batch_id)
            return prepared.shards if prepared else ()

    @contextlib.contextmanager
    def _failing_batch(self, context: JobContext, batch_id: str) -> Iterator[None]:
        """Around a job: its last try's error fails the batch (earlier ones are retried)."""
        try:
            yield
        except Exception as exc:
            self._fail_on_last_try(context, batch_id, exc)
            raise

    def _fail_on_last_try(self, context: JobContext, batch_id: str, exc: Exception) -> None:
        job = context.job
        if job is not None and (job.attempts or 0) + 1 < ATTEMPTS:
            log.warning("batch %s: %s; tried again later", batch_id, exc)
            return
        batches = self.batches()
        batch = batches.store.get(batch_id)
        if batch is not None and not batch.status.finished:
            batches.finish(
                batch,
                BatchStatus.FAILED,
                f"stopped: {exc}; upload the roster again to finish it (the rows issued "
                "are found and not issued twice)",
            )

    async def _defer_shard(self, batch_id: str, shard: Shard) -> None:
        first, last, count = shard
        name = f"shard:{batch_id}:{first}"
        with contextlib.suppress(pq.AlreadyEnqueued):  # waiting already: it will run
            await self._issue_shard.configure(queueing_lock=name, lock=name).defer_async(
                batch_id=batch_id, first=first, last=last, count=count
            )

    async def sweep(self) -> int:
        """Put back the jobs of workers silent for `stalled_seconds`, and start the
        batches queued that long without a job; how many of either."""
        manager = self.app.job_manager
        stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=self.stalled_seconds)
        count = 0
        for job in stalled:
            try:
                await manager.retry_job(job)
            except pq.ProcrastinateException:
                continue  # finished or taken back meanwhile
            log.warning("job %s of a silent worker is run again", job.id)
            count += 1
        return count + await self._start_jobless()

    async def _start_jobless(self) -> int:
        """A batch is saved, queued, before its job is written: if the database went away
        in between, the upload was answered 503 and the batch has no job. Start each such
        batch (a prepare job waiting already makes `start` a no-op; a running one has moved
        the batch past `queued`)."""
        since = datetime.now(UTC) - timedelta(seconds=self.stalled_seconds)
        queued = await asyncio.to_thread(lambda: self.batches().store.queued_before(since))
        started = 0
        for batch_id in queued:
            jobs = await self.app.job_manager.list_jobs_async(queueing_lock=f"prepare:{batch_id}")
            # Waiting, or taken by a worker that has not yet moved the batch on.
            if not any(job.status in ("todo", "doing") for job in jobs):
                log.warning("batch %s was queued without a job: started now", batch_id)
                await self.start(batch_id)
                started += 1
        return started

    # -- starting and working -------------------------------------------------------------

    async def start(self, batch_id: str) -> None:
        """Run a queued batch (and resume an interrupted one): defer its preparation,
        unless one is waiting already. StorageUnavailable if the queue's database cannot
        be reached: the batch stays queued, and a worker's sweep starts it later."""
        try:
            with contextlib.suppress(pq.AlreadyEnqueued):
                await self._prepare_batch.configure(
                    queueing_lock=f"prepare:{batch_id}", lock=f"batch:{batch_id}"
                ).defer_async(batch_id=batch_id)
        except pq.ConnectorException as exc:
            raise StorageUnavailable(
                f"the task queue's database did not answer ({type(exc.__cause__ or exc).__name__})"
            ) from exc

    async def resume(self) -> int:
        """Start every unfinished batch again (a run is idempotent); how many."""
        unfinished = await asyncio.to_thread(lambda: self.batches().store.unfinished())
        for batch in unfinished:
            log.info("resuming batch %s", batch.id)
            await self.start(batch.id)
        return len(unfinished)

    async def work(
        self,
        *,
        queues: tuple[str, ...] = (BATCHES, MAIL),
        concurrency: int = 1,
        heartbeat_seconds: float = 10,
        install_signal_handlers: bool = False,
        wait: bool = True,
    ) -> None:
        """Take and run jobs until cancelled (or, without `wait`, until none is left)."""
        await self.app.run_worker_async(
            queues=list(queues),
            concurrency=concurrency,
            wait=wait,
            install_signal_handlers=install_signal_handlers,
            update_heartbeat_interval=heartbeat_seconds,
            stalled_worker_timeout=self.stalled_seconds,
            delete_jobs="successful",
        )
