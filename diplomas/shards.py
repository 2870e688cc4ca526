"""A server's batch, run as shards by any number of workers (the tasks are in `tasks`).

1. `prepare`: the roster kept with the batch (in the database) is validated once, as a
   run validates it, and its valid rows are split into shards of `SHARD` rows, recorded
   with the roster.
2. `issue_shard`: one shard's rows are issued, a chunk per transaction, through the one
   issuing path (`issue_many`, which records each row's diploma in the batch's rows);
   their PDFs are rendered and stored with their digests. A shard is idempotent: run
   again (a retry, a worker killed halfway and its job taken up by another), it finds
   the rows issued already by their identity (`core.batch.row_key`) and renders only
   the PDFs still missing. Serials are taken in the issuing transaction, so a shard
   rolled back leaves no gap.
3. The worker that completes the last row marks the batch done (`finish_issuing`);
   progress, the manifest and the archive are read from the batch's rows, on any replica.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from .batch_workers import RenderJob, WorkerPool, sign_pages
from .batches import (
    CHUNK,
    TASK,
    BatchOptions,
    BatchService,
    NoProgress,
    Row,
    chunks,
    parsed_rows,
    refusal,
    roster_file,
)
from .core.batch import Batch, BatchStatus, KeptRoster, Shard
from .core.errors import DiplomaError
from .core.ports import RecordingPdfStore
from .manifests import ManifestLine, manifest_line, stream_archive
from .roster import open_roster
from .service import RecordMaker

SHARD = 500
"""Rows per shard: a few seconds of one worker's time, so a killed worker loses little
and a batch spreads over every worker."""


@dataclass(frozen=True)
class Prepared:
    """A batch validated and split: the shards still to issue (none if it was refused)."""

    batch: Batch
    shards: tuple[Shard, ...]


class Shards:
    """Runs a server's batches shard by shard, over a `BatchService` (its store, clock,
    issuing and validation); `pool` renders and signs the pages (the batch service's
    own in-process pool by default, as a worker process on its own runs)."""

    def __init__(self, batches: BatchService, pool: WorkerPool | None = None) -> None:
        self.batches = batches
        self.service = batches.service
        self.store = batches.store
        self.clock = batches.clock
        self.pool = pool

    def _kept(self, batch: Batch) -> KeptRoster | None:
        kept = self.store.roster(batch.id)
        if kept is None:
            self.batches.finish(batch, BatchStatus.FAILED, "the batch's roster is gone")
        return kept

    # -- 1. validate and split ----------------------------------------------------------

    def prepare(self, batch_id: str) -> Prepared | None:
        """Validate a queued batch's roster and split it into shards; for a batch split
        already (a resumed one), the shards not yet complete. None for a batch that is
        not to run (finished, proposed, unknown)."""
        batch = self.store.get(batch_id)
        if batch is None or not batch.status.runnable:
            return None
        kept = self._kept(batch)
        if kept is None:
            return None
        if batch.status is BatchStatus.ISSUING and kept.shards:
            remaining = tuple(s for s in kept.shards if not self.complete(batch, s))
            if not remaining:
                # Every row was issued, but the process that stored the last PDFs stopped
                # before marking the batch done: nothing else ever would.
                self.store.finish_issuing(batch.id, self.clock.now())
                batch = self.store.get(batch.id) or batch
            return Prepared(batch, remaining)
        try:
            return self._prepare(batch, kept)
        except DiplomaError as exc:
            self.batches.finish(batch, BatchStatus.FAILED, f"stopped: {exc}")
            raise

    def _prepare(self, batch: Batch, kept: KeptRoster) -> Prepared:
        approved = self.service.batch_may_run(batch, kept.sha256)
        batch = self.store.touch(batch, self.clock.now(), status=BatchStatus.VALIDATING)
        options = BatchOptions(
            out_dir=Path("."), template=batch.template, skip_invalid=batch.skip_invalid
        )
        collected: list[Row] = []
        named: set[str] = set()
        with roster_file(kept) as path:
            roster = open_roster(path)
            checker = self.pool or self.batches.in_process_pool()
            # The batch's date, as its shards issue with (`issue_shard`): a batch queued
            # before midnight and prepared after it refuses a row dated the new day now,
            # rather than passing it and failing every try of its shard.
            checked = self.batches.validate(
                roster,
                options,
                NoProgress(),
                checker,
                collect=collected,
                co_issuers=named,
                today=batch.created_at.date(),
            )
        problems = checked.problems
        invalid = {p.row for p in problems}
        rows = [r for r in collected if r.number not in invalid]
        batch = self.store.touch(
            batch,
            self.clock.now(),
            total_rows=checked.total,
            valid_rows=len(rows),
            refused=len({p.row for p in problems if p.row > 1}),
            problems=tuple(problems),
        )
        refused = refusal(problems, batch.skip_invalid) or self.batches.unapproved(named, approved)
        if refused:
            return Prepared(self.batches.finish(batch, BatchStatus.REFUSED, refused), ())
        shards = tuple((part[0].number, part[-1].number, len(part)) for part in chunks(rows, SHARD))
        self.store.set_shards(batch.id, shards, invalid)
        batch = self.store.touch(batch, self.clock.now(), status=BatchStatus.ISSUING)
        self.store.finish_issuing(batch.id, self.clock.now())  # a roster of no valid rows
        return Prepared(batch, shards)

    def complete(self, batch: Batch, shard: Shard) -> bool:
        first, last, count = shard
        return self.store.rows_done(batch.id, first, last) >= count

    # -- 2. issue a shard ---------------------------------------------------------------

    def issue_shard(self, batch_id: str, shard: Shard) -> int:
        """Issue the shard's rows (see the module); how many diplomas it issued now.
        Marks the batch done when this completes its last row."""
        batch = self.store.get(batch_id)
        if batch is None or batch.status is not BatchStatus.ISSUING:
            return 0
        if self.complete(batch, shard):
            self.store.finish_issuing(batch.id, self.clock.now())
            return 0
        kept = self._kept(batch)
        if kept is None:
            return 0
        first, last, _ = shard
        # The batch's date, not today's: a shard retried after midnight issues the rows
        # with the date the others have.
        today = batch.created_at.date()
        records = RecordMaker(self.service, self.clock.now())
        pool = self.pool or self.batches.in_process_pool()
        in_flight: deque[list[Future[list[tuple[str, bytes]]]]] = deque()
        issued = 0
        with roster_file(kept) as path:
            roster = open_roster(path)
            rows = parsed_rows(roster, kept.invalid, batch.template, today, (first, last))
            for chunk in chunks(rows, CHUNK):
                results = self.service.repository.issue_many(
                    self.service.institution,
                    [(r.request, r.key) for r in chunk],
                    records.key_id,
                    records,
                    records.now,
                    batch.id,
                    rows=[r.number for r in chunk],
                )
                issued += sum(1 for _, created in results if created)
                jobs = [
                    RenderJob(d.id, d.record, d.request.template, "", d.request.co_issuers)
                    for d, created in results
                    if created or not d.pdf_sha256
                ]
                in_flight.append(
                    [pool.submit(sign_pages, jobs[i : i + TASK]) for i in range(0, len(jobs), TASK)]
                )
                while len(in_flight) > 2:
                    self._store(in_flight.popleft())
            while in_flight:
                self._store(in_flight.popleft())
        self.store.finish_issuing(batch.id, self.clock.now())
        return issued

    def _store(self, tasks: Sequence[Future[list[tuple[str, bytes]]]]) -> None:
        pages = [page for task in tasks for page in task.result()]
        store = self.service.pdf_store
        if isinstance(store, RecordingPdfStore):
            store.put_recorded(pages)
            return
        for diploma_id, pdf in pages:  # files: each written and fsynced, then recorded
            store.put(diploma_id, pdf)
        self.service.repository.set_pdf_sha256_many(
            [(diploma_id, hashlib.sha256(pdf).hexdigest()) for diploma_id, pdf in pages]
        )

    # -- 3. what a finished batch hands out ---------------------------------------------

    def archive_entries(self, batch: Batch) -> Iterator[tuple[ManifestLine, bytes]]:
        """Each row's manifest line and PDF, in roster order: diplomas read a page at a
        time, PDFs a few dozen at a time (memory stays flat whatever the batch's size)."""
        holders, repository = self.service.holders, self.service.repository
        for page in chunks(self.store.lines(batch.id), ARCHIVE_PAGE):
            diplomas = repository.get_many([line.diploma_id for line in page])
            pdfs = self.service.pdf_store.get_many(list(diplomas))
            for line in page:
                diploma = diplomas[line.diploma_id]
                pdf = pdfs.get(diploma.id)
                if pdf is None or hashlib.sha256(pdf).hexdigest() != diploma.pdf_sha256:
                    pdf = self.service.pdf(diploma.id)  # missing or not current: made again
                    diploma = self.service.get(diploma.id)
                entry = manifest_line(
                    line.row,
                    diploma,
                    holders.url(diploma),
                    f"{diploma.serial}.pdf",
                    diploma.pdf_sha256 or "",
                    line.created,
                )
                yield entry, pdf

    def archive(self, batch: Batch) -> Iterator[bytes]:
        """The batch's zip (every PDF, manifest.csv, manifest.json), streamed as it is
        made, from the database: any replica hands out any batch's archive."""
        return stream_archive(self.archive_entries(batch))


ARCHIVE_PAGE = 50
"""Diplomas (and PDFs) read at once for an archive."""
