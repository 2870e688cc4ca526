"""A bulk issuance from a roster, as the service tracks it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class BatchStatus(StrEnum):
    PROPOSED = "proposed"
    """Waiting for approval (the two-person rule, `core.proposals`): nothing runs it."""
    QUEUED = "queued"
    VALIDATING = "validating"
    ISSUING = "issuing"
    DONE = "done"
    REFUSED = "refused"  # the roster had problems and --skip-invalid was not given
    FAILED = "failed"  # stopped by an error; rerunning resumes it
    REJECTED = "rejected"  # its proposal was rejected: never run

    @property
    def finished(self) -> bool:
        return self in (
            BatchStatus.DONE,
            BatchStatus.REFUSED,
            BatchStatus.FAILED,
            BatchStatus.REJECTED,
        )

    @property
    def runnable(self) -> bool:
        """Whether a queue may start or resume it: unfinished, and not waiting for approval."""
        return not self.finished and self is not BatchStatus.PROPOSED


@dataclass(frozen=True)
class Problem:
    """One roster problem: where (row as the spreadsheet numbers it, column as headed) and why."""

    row: int
    column: str
    field: str
    message: str
    value: str = ""


@dataclass(frozen=True)
class Batch:
    id: str
    institution: str
    status: BatchStatus
    source: str
    template: str
    skip_invalid: bool
    created_at: datetime
    updated_at: datetime
    total_rows: int = 0
    valid_rows: int = 0
    issued: int = 0
    skipped: int = 0
    refused: int = 0
    problems: tuple[Problem, ...] = field(default=())
    message: str = ""
    finished_at: datetime | None = None

    @property
    def done_rows(self) -> int:
        return self.issued + self.skipped
