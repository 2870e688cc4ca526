"""`SqlBatchStore`: batch progress and problems, so the API can report on any batch; the
rosters the server runs and their rows' diplomas, so any replica or worker can.

A batch's `issued` and `skipped` are counted from its rows (`batch_rows`, written with
each diploma; a new diploma counts once its PDF is stored), not kept as counters that
several workers would race to update. A batch from before the rows were recorded keeps
its stored counts."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, and_, case, func, select, update
from sqlalchemy.orm import Session

from ..core.batch import Batch, BatchLine, BatchStatus, KeptRoster, Problem, Shard
from ..core.errors import NotFound
from .engine import READ_ONLY
from .tables import BatchFileRow, BatchLineRow, BatchRow, DiplomaRow

MAX_STORED_PROBLEMS = 1000


def _problems_json(problems: Sequence[Problem]) -> str:
    return json.dumps([asdict(p) for p in problems[:MAX_STORED_PROBLEMS]], ensure_ascii=False)


_ISSUED = func.count(case((and_(BatchLineRow.created, DiplomaRow.pdf_sha256 != ""), 1)))
_SKIPPED = func.count(case((BatchLineRow.created.is_(False), 1)))


def _rows_with_pdf(batch_id: str) -> Select[Any]:
    """How many of the batch's rows have their diploma and its PDF: what done means."""
    return (
        select(func.count())
        .select_from(BatchLineRow)
        .join(DiplomaRow, DiplomaRow.id == BatchLineRow.diploma_id)
        .where(BatchLineRow.batch_id == batch_id, DiplomaRow.pdf_sha256 != "")
    )


def _counted(session: Session, ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(issued, skipped) by batch, for the batches with rows recorded."""
    if not ids:
        return {}
    found = session.execute(
        select(BatchLineRow.batch_id, _ISSUED, _SKIPPED)
        .join(DiplomaRow, DiplomaRow.id == BatchLineRow.diploma_id)
        .where(BatchLineRow.batch_id.in_(list(ids)))
        .group_by(BatchLineRow.batch_id)
    )
    return {batch_id: (issued, skipped) for batch_id, issued, skipped in found}


def _batch(row: BatchRow, counted: tuple[int, int] | None = None) -> Batch:
    issued, skipped = counted or (row.issued, row.skipped)
    return Batch(
        id=row.id,
        institution=row.institution,
        status=BatchStatus(row.status),
        source=row.source,
        template=row.template,
        skip_invalid=row.skip_invalid,
        created_at=row.created_at,
        updated_at=row.updated_at,
        total_rows=row.total_rows,
        valid_rows=row.valid_rows,
        issued=issued,
        skipped=skipped,
        refused=row.refused,
        problems=tuple(Problem(**p) for p in json.loads(row.problems)),
        message=row.message,
        finished_at=row.finished_at,
    )


class SqlBatchStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**READ_ONLY)

    def save(self, batch: Batch) -> None:
        """Insert or update the whole batch record (one short write transaction)."""
        with Session(self._engine) as session, session.begin():
            row = session.get(BatchRow, batch.id)
            if row is None:
                row = BatchRow(id=batch.id)
                session.add(row)
            row.institution = batch.institution
            row.status = batch.status.value
            row.source = batch.source
            row.template = batch.template
            row.skip_invalid = batch.skip_invalid
            row.total_rows = batch.total_rows
            row.valid_rows = batch.valid_rows
            row.issued = batch.issued
            row.skipped = batch.skipped
            row.refused = batch.refused
            row.problems = _problems_json(batch.problems)
            row.message = batch.message
            row.created_at = batch.created_at
            row.updated_at = batch.updated_at
            row.finished_at = batch.finished_at

    def get(self, batch_id: str) -> Batch | None:
        with Session(self._reader) as session, session.begin():
            row = session.get(BatchRow, batch_id)
            return _batch(row, _counted(session, [batch_id]).get(batch_id)) if row else None

    def require(self, batch_id: str) -> Batch:
        batch = self.get(batch_id)
        if batch is None:
            raise NotFound("no batch with this id")
        return batch

    def recent(self, limit: int = 50, offset: int = 0) -> list[Batch]:
        """Batches, newest first."""
        with Session(self._reader) as session, session.begin():
            rows = session.scalars(
                select(BatchRow)
                .order_by(BatchRow.created_at.desc(), BatchRow.id)
                .offset(offset)
                .limit(limit)
            ).all()
            counted = _counted(session, [r.id for r in rows])
            return [_batch(r, counted.get(r.id)) for r in rows]

    def unfinished(self) -> list[Batch]:
        """The batches to resume: unfinished, and not waiting for approval."""
        live = [s.value for s in BatchStatus if s.runnable]
        with Session(self._reader) as session, session.begin():
            rows = session.scalars(select(BatchRow).where(BatchRow.status.in_(live))).all()
            counted = _counted(session, [r.id for r in rows])
            return [_batch(r, counted.get(r.id)) for r in rows]

    def queued_before(self, moment: datetime) -> list[str]:
        """The ids of the batches queued, and not touched since `moment` (no counting:
        the workers' sweep asks every few seconds)."""
        with Session(self._reader) as session, session.begin():
            return list(
                session.scalars(
                    select(BatchRow.id).where(
                        BatchRow.status == BatchStatus.QUEUED.value, BatchRow.updated_at < moment
                    )
                )
            )

    def touch(self, batch: Batch, at: datetime, **changes: object) -> Batch:
        """Save `batch` with `changes` applied and `updated_at` set; return the new value."""
        updated = replace(batch, updated_at=at, **changes)  # type: ignore[arg-type]
        self.save(updated)
        return updated

    def finish_issuing(self, batch_id: str, at: datetime) -> bool:
        """Mark an issuing batch done once every valid row has its diploma and PDF;
        whether this call did (of several workers finishing shards at once, one does)."""
        with Session(self._engine) as session, session.begin():
            # Locked: of two workers finishing the last shards at once, one marks it.
            row = session.get(BatchRow, batch_id, with_for_update=True)
            if row is None or row.status != BatchStatus.ISSUING.value:
                return False
            # Done means every row's diploma has its PDF: a row issued by an earlier batch
            # (skipped here) whose PDF was never stored is still this batch's to render.
            if (session.scalar(_rows_with_pdf(batch_id)) or 0) < row.valid_rows:
                return False
            issued, skipped = _counted(session, [batch_id]).get(batch_id, (0, 0))
            row.status = BatchStatus.DONE.value
            row.issued, row.skipped = issued, skipped
            row.message = ""
            row.updated_at = row.finished_at = at
            return True

    # -- rosters and rows ---------------------------------------------------------------

    def keep_roster(self, batch_id: str, name: str, content: bytes, sha256: str) -> None:
        with Session(self._engine) as session, session.begin():
            session.merge(
                BatchFileRow(
                    batch_id=batch_id, name=name, sha256=sha256, content=content, shards="[]"
                )
            )

    def roster(self, batch_id: str) -> KeptRoster | None:
        with Session(self._reader) as session, session.begin():
            row = session.get(BatchFileRow, batch_id)
            if row is None:
                return None
            split = json.loads(row.shards) or {"shards": [], "invalid": []}
            shards = tuple((int(a), int(b), int(c)) for a, b, c in split["shards"])
            invalid = frozenset(int(n) for n in split["invalid"])
            return KeptRoster(row.name, bytes(row.content), row.sha256, shards, invalid)

    def set_shards(self, batch_id: str, shards: Sequence[Shard], invalid: Collection[int]) -> None:
        split = {"shards": [list(s) for s in shards], "invalid": sorted(invalid)}
        with Session(self._engine) as session, session.begin():
            session.execute(
                update(BatchFileRow)
                .where(BatchFileRow.batch_id == batch_id)
                .values(shards=json.dumps(split))
            )

    def rows_done(self, batch_id: str, first: int, last: int) -> int:
        """How many of the rows first..last have their diploma and its PDF."""
        with Session(self._reader) as session, session.begin():
            done: int = (
                session.scalar(
                    _rows_with_pdf(batch_id).where(BatchLineRow.row.between(first, last))
                )
                or 0
            )
            return done

    def lines(self, batch_id: str, page: int = 500) -> Iterator[BatchLine]:
        """The batch's rows and their diplomas, in roster order, read a page at a time."""
        after = 0
        while True:
            with Session(self._reader) as session, session.begin():
                found = session.execute(
                    select(BatchLineRow.row, BatchLineRow.diploma_id, BatchLineRow.created)
                    .where(BatchLineRow.batch_id == batch_id, BatchLineRow.row > after)
                    .order_by(BatchLineRow.row)
                    .limit(page)
                ).all()
            for row, diploma_id, created in found:
                yield BatchLine(row, diploma_id, created)
            if len(found) < page:
                return
            after = found[-1][0]
