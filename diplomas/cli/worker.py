"""`diplomas worker`: runs batch shards (and mail) from the database's task queue."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Annotated

import typer

from ..core.errors import ConfigurationError
from .console import errors_to_exit, load_settings

log = logging.getLogger("diplomas.worker")


def worker(
    concurrency: Annotated[
        int,
        typer.Option(
            min=1, help="Jobs at once. Rendering is CPU work: run one worker per core instead."
        ),
    ] = 1,
    burst: Annotated[
        bool, typer.Option("--burst", help="Stop once no job is waiting, instead of waiting.")
    ] = False,
) -> None:
    """Take batch shards from the task queue (PostgreSQL) and issue them; run as many as
    you like, on any machines that reach the database and hold the keys. A worker that
    dies mid-shard is noticed (DIPLOMAS_WORKER_STALLED_SECONDS) and its shard finished
    by another. Stops cleanly on Ctrl-C or SIGTERM, after the job in hand."""
    from ..bootstrap import require_database, worker_tasks
    from ..logging_setup import configure_logging
    from ..mail.sender import mail_configured

    with errors_to_exit():
        settings = load_settings()
        configure_logging(settings.log_level)
        if not settings.uses_postgresql:
            raise ConfigurationError(
                "`diplomas worker` takes jobs from PostgreSQL (set DIPLOMAS_DATABASE_URL); "
                "with SQLite the server runs batches itself"
            )
        require_database(settings)
        tasks = worker_tasks(settings)

        async def work() -> None:
            async with tasks.app.open_async():
                log.info(
                    "worker %d taking batch shards%s from the task queue, %d at a time",
                    os.getpid(),
                    " and mail" if mail_configured(settings) else "",
                    concurrency,
                )
                await tasks.work(
                    concurrency=concurrency,
                    heartbeat_seconds=settings.worker_heartbeat_seconds,
                    install_signal_handlers=True,
                    wait=not burst,
                )
            log.info("worker %d stopped", os.getpid())

        asyncio.run(work())
