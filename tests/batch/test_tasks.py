"""The batch tasks on procrastinate's in-memory queue (what one server with SQLite runs):
a batch started twice is prepared once, its shards run to the end, a restart resumes
what is unfinished, and a job's last failed try fails its batch with words that say
what to do."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import time
from concurrent.futures.process import BrokenProcessPool
from datetime import date
from pathlib import Path

import pytest
from conftest import PG_URL, Instance
from procrastinate import exceptions as pq
from procrastinate.connector import BaseConnector
from procrastinate.job_context import JobContext
from procrastinate.jobs import Job
from procrastinate.testing import InMemoryConnector
from sqlalchemy import make_url

from diplomas import shards as shards_module
from diplomas.batch_workers import RowCheck, check_rows
from diplomas.batches import BatchOptions, BatchService
from diplomas.bootstrap import worker_pools
from diplomas.core.batch import Batch, BatchStatus
from diplomas.core.proposals import Actor
from diplomas.tasks import ATTEMPTS, Pools, Tasks, connector_for

from .rosters import cohort


@pytest.fixture(autouse=True)
def small_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shards_module, "SHARD", 4)


def received(batches: BatchService, roster: Path) -> Batch:
    with open(roster, "rb") as fh:
        batch = batches.receive(roster.name, fh, BatchOptions(Path(".")), Actor("t"))
    assert isinstance(batch, Batch)
    return batch


def test_a_batch_started_twice_runs_once_to_the_end(instance: Instance, tmp_path: Path) -> None:
    batches = BatchService(instance.service)
    batch = received(batches, cohort(tmp_path / "c.csv", 10))
    connector = InMemoryConnector()
    tasks = Tasks(connector, lambda: batches)

    async def run() -> None:
        async with tasks.app.open_async():
            await work()

    async def work() -> None:
        await tasks.start(batch.id)
        await tasks.start(batch.id)  # another replica, say: the job waits already
        assert [j["task_name"] for j in connector.jobs.values()] == ["diplomas.prepare_batch"]
        # The worker as the server runs it, until the batch is finished.
        worker = asyncio.create_task(tasks.work())
        for _ in range(1200):
            if instance.service.batch(batch.id).status.finished:
                break
            await asyncio.sleep(0.05)
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker

    asyncio.run(run())
    done = instance.service.batch(batch.id)
    assert (done.status, done.issued) == (BatchStatus.DONE, 10)
    # Every batch job succeeded, and was deleted as it did (the sweep's may remain).
    left = {j["task_name"] for j in connector.jobs.values()}
    assert left <= {"diplomas.sweep"}
    serials = sorted(int(d.serial.rsplit("-", 1)[1]) for d in instance.service.search("", 0, 20)[0])
    assert serials == list(range(1, 11))


def test_a_restart_resumes_the_unfinished_batches_only(instance: Instance, tmp_path: Path) -> None:
    batches = BatchService(instance.service)
    waiting = received(batches, cohort(tmp_path / "c.csv", 3))
    finished = batches.new_batch("done.csv", BatchOptions(Path(".")), BatchStatus.DONE)
    connector = InMemoryConnector()
    tasks = Tasks(connector, lambda: batches)
    assert asyncio.run(tasks.resume()) == 1
    [job] = connector.jobs.values()
    assert job["args"] == {"batch_id": waiting.id} and finished.id != waiting.id


def test_the_last_failed_try_fails_the_batch(instance: Instance, tmp_path: Path) -> None:
    batches = BatchService(instance.service)
    batch = received(batches, cohort(tmp_path / "c.csv", 3))
    tasks = Tasks(InMemoryConnector(), lambda: batches)

    def context(attempts: int) -> JobContext:
        job = Job(
            queue="batches",
            lock=None,
            queueing_lock=None,
            task_name="diplomas.issue_shard",
            attempts=attempts,
        )
        return JobContext(app=tasks.app, job=job, start_timestamp=0.0, abort_reason=lambda: None)

    for attempts in (0, ATTEMPTS - 2):
        with pytest.raises(OSError), tasks._failing_batch(context(attempts), batch.id):
            raise OSError("database away")
        assert instance.service.batch(batch.id).status is BatchStatus.QUEUED  # tried again
    with pytest.raises(OSError), tasks._failing_batch(context(ATTEMPTS - 1), batch.id):
        raise OSError("database away")
    failed = instance.service.batch(batch.id)
    assert failed.status is BatchStatus.FAILED
    assert "database away" in failed.message and "upload the roster again" in failed.message


@pytest.mark.postgres
def test_the_queue_connects_with_a_password_that_a_connection_string_must_quote(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A password with spaces, a quote, a backslash, `@`, `:` and `/` (percent-encoded in
    DIPLOMAS_DATABASE_URL): the queue connects as the database layer does, and the password
    reaches no log. (The server trusts local connections, so any password is accepted:
    what is tested is that the connection string carries it intact.)"""
    if not PG_URL:
        pytest.skip("DIPLOMAS_TEST_DATABASE_URL not set")
    password = "my s3cret 'pw\\@:/"
    url = make_url(PG_URL).set(password=password).render_as_string(hide_password=False)
    connector = connector_for(url)

    async def select_one() -> object:
        await connector.open_async()
        try:
            return await connector.execute_query_one_async("SELECT 1 AS one")
        finally:
            await connector.close_async()

    with caplog.at_level("DEBUG"):
        assert asyncio.run(select_one()) == {"one": 1}
    assert "s3cret" not in caplog.text


@pytest.mark.postgres
def test_the_queue_takes_every_form_of_postgresql_url_the_database_layer_takes() -> None:
    """`postgres://` is PostgreSQL to the database layer: the queue must be that database's
    too, never an in-memory queue of this process alone (a replica given such a URL
    accepted batches that no worker ever saw)."""
    if not PG_URL:
        pytest.skip("DIPLOMAS_TEST_DATABASE_URL not set")
    for scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        url = make_url(PG_URL).set(drivername=scheme).render_as_string(hide_password=False)
        connector = connector_for(url)
        assert not isinstance(connector, InMemoryConnector), scheme

        async def select_one(connector: BaseConnector = connector) -> object:
            await connector.open_async()
            try:
                return await connector.execute_query_one_async("SELECT 1 AS one")
            finally:
                await connector.close_async()

        assert asyncio.run(select_one()) == {"one": 1}, scheme
    assert isinstance(connector_for("sqlite:///x.db"), InMemoryConnector)


def test_a_server_starts_a_new_worker_pool_when_one_broke_or_its_service_was_replaced(
    instance: Instance,
) -> None:
    """A render process killed (the kernel's OOM killer, say) breaks its pool; the next
    shard gets a new pool instead of failing like every shard after it. A pool started
    for a service that was replaced since (settings or keys changed on disk) is not
    reused either: its processes hold the old keys."""
    pools = Pools(worker_pools(instance.settings), 2)
    service = object()
    check = RowCheck([], "classic", date.today())
    others = {p.pid for p in multiprocessing.active_children()}
    try:
        first = pools("classic", service)
        assert first.submit(check_rows, check).result(120) == []
        assert pools("classic", service) is first and not first.broken()
        victim = next(p for p in multiprocessing.active_children() if p.pid not in others)
        os.kill(victim.pid, signal.SIGKILL)  # type: ignore[arg-type]
        victim.join(30)
        # The executor learns of the death from its own thread: until then the other
        # process may still answer a task.
        deadline = time.monotonic() + 30
        with pytest.raises(BrokenProcessPool):
            while time.monotonic() < deadline:
                first.submit(check_rows, check).result(120)
                time.sleep(0.05)
        assert first.broken()

        second = pools("classic", service)
        assert second is not first and second.submit(check_rows, check).result(120) == []
        third = pools("classic", object())  # the service replaced
        assert third is not second and third.submit(check_rows, check).result(120) == []
    finally:
        pools.shutdown()


def test_shards_that_could_not_be_queued_on_the_last_try_fail_the_batch(
    instance: Instance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Preparing validates and splits the batch, then queues its shards: when queueing
    fails on the job's last try, the batch fails saying so (it stayed issuing with no
    shard to run); on an earlier try it is left for the retry."""
    batches = BatchService(instance.service)
    batch = received(batches, cohort(tmp_path / "c.csv", 3))
    tasks = Tasks(InMemoryConnector(), lambda: batches)

    async def queue_away(batch_id: str, shard: object) -> None:
        raise pq.ConnectorException("connection to server lost")

    monkeypatch.setattr(tasks, "_defer_shard", queue_away)

    def prepare(attempts: int) -> None:
        job = Job(
            queue="batches",
            lock=None,
            queueing_lock=None,
            task_name="diplomas.prepare_batch",
            attempts=attempts,
        )
        context = JobContext(app=tasks.app, job=job, start_timestamp=0.0, abort_reason=lambda: None)
        with pytest.raises(pq.ConnectorException):
            asyncio.run(tasks._prepare_batch.func(context, batch.id))

    prepare(0)
    assert instance.service.batch(batch.id).status is BatchStatus.ISSUING  # tried again
    prepare(ATTEMPTS - 1)
    failed = instance.service.batch(batch.id)
    assert failed.status is BatchStatus.FAILED
    assert "connection to server lost" in failed.message


def test_the_sweep_starts_a_queued_batch_only_when_no_job_waits_or_runs_for_it(
    instance: Instance, tmp_path: Path
) -> None:
    """The sweep starts a batch left queued without a job (its job could not be written),
    never a second preparation of one whose job waits or has been taken by a worker."""
    batches = BatchService(instance.service)
    batch = received(batches, cohort(tmp_path / "c.csv", 3))
    tasks = Tasks(InMemoryConnector(), lambda: batches, stalled_seconds=0.01)
    manager = tasks.app.job_manager

    async def sweeps() -> list[int]:
        async with tasks.app.open_async():
            await asyncio.sleep(0.05)  # queued for longer than the stall time
            found = [await tasks._start_jobless()]  # no job: started
            found.append(await tasks._start_jobless())  # its job waits
            worker = await manager.register_worker()
            job = await manager.fetch_job(queues=None, worker_id=worker)  # a worker takes it
            assert job is not None and job.task_name == "diplomas.prepare_batch"
            found.append(await tasks._start_jobless())  # its job runs
            return found

    assert asyncio.run(sweeps()) == [1, 0, 0]
    assert instance.service.batch(batch.id).status is BatchStatus.QUEUED
