"""Runs uploaded batches one after another in a background thread, and resumes the ones
a restart interrupted (a run is idempotent, so resuming is just running again)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from ..batches import BatchService
from ..core.batch import Batch

log = logging.getLogger("diplomas.batches")


class BatchQueue:
    """`batches` answers the batch service of the moment (the app's service may be
    replaced while it runs, when the settings change)."""

    def __init__(self, batches: Callable[[], BatchService], workers: int) -> None:
        self.batches = batches
        self.workers = workers
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="batch")

    def submit(self, batch: Batch) -> None:
        self._pool.submit(self._run, batch)

    def resume_unfinished(self) -> None:
        for batch in self.batches().store.unfinished():
            log.info("resuming batch %s", batch.id)
            self.submit(batch)

    def _run(self, batch: Batch) -> None:
        try:
            self.batches().run_stored(replace(batch, problems=()), self.workers)
        except Exception:  # the run recorded the failure on the batch
            log.exception("batch %s failed", batch.id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
