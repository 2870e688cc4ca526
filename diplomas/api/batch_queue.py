"""Runs uploaded batches one after another in a background thread, and resumes the ones
a restart interrupted (the runner is idempotent, so resuming is just running again)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from ..batches import BatchOptions, BatchRunner, batch_folder
from ..core.batch import Batch

log = logging.getLogger("diplomas.batches")


class BatchQueue:
    def __init__(self, runner: BatchRunner, workers: int) -> None:
        self.runner = runner
        self.workers = workers
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="batch")

    def submit(self, batch: Batch) -> None:
        self._pool.submit(self._run, batch)

    def resume_unfinished(self) -> None:
        for batch in self.runner.store.unfinished():
            log.info("resuming batch %s", batch.id)
            self.submit(batch)

    def _run(self, batch: Batch) -> None:
        folder = batch_folder(self.runner.settings.home, batch.id)
        rosters = sorted(folder.glob("roster.*"))
        options = BatchOptions(
            out_dir=folder / "out",
            workers=self.workers,
            template=batch.template,
            skip_invalid=batch.skip_invalid,
            archive=True,
        )
        try:
            if not rosters:
                raise FileNotFoundError(f"the roster of batch {batch.id} is gone")
            self.runner.run(rosters[0], options, batch=replace(batch, problems=()))
        except Exception:  # the runner recorded the failure on the batch
            log.exception("batch %s failed", batch.id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
