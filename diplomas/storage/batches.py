"""`SqlBatchStore`: batch progress and problems, so the API can report on any batch."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ..core.batch import Batch, BatchStatus, Problem
from ..core.errors import NotFound
from .engine import READ_ONLY
from .tables import BatchRow

MAX_STORED_PROBLEMS = 1000


def _problems_json(problems: Sequence[Problem]) -> str:
    return json.dumps([asdict(p) for p in problems[:MAX_STORED_PROBLEMS]], ensure_ascii=False)


def _batch(row: BatchRow) -> Batch:
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
        issued=row.issued,
        skipped=row.skipped,
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
            return _batch(row) if row else None

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
            )
            return [_batch(r) for r in rows]

    def unfinished(self) -> list[Batch]:
        """The batches to resume: unfinished, and not waiting for approval."""
        live = [s.value for s in BatchStatus if s.runnable]
        with Session(self._reader) as session, session.begin():
            rows = session.scalars(select(BatchRow).where(BatchRow.status.in_(live)))
            return [_batch(r) for r in rows]

    def touch(self, batch: Batch, at: datetime, **changes: object) -> Batch:
        """Save `batch` with `changes` applied and `updated_at` set; return the new value."""
        updated = replace(batch, updated_at=at, **changes)  # type: ignore[arg-type]
        self.save(updated)
        return updated
