"""A bulk issuance from a roster, as the service tracks it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from .model import DiplomaRequest
from .proof import canonical
from .text import normalize


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


def row_key(request: DiplomaRequest, values: Mapping[str, str] | None = None) -> str | None:
    """The identity that makes issuing a request twice return the first diploma: its
    external id; else, for a roster row (`values`, its cells), a digest of what it says
    (blank cells left out, so a defaulted date does not make a rerun on another day look
    like a new row); else None, and each issuance makes a new diploma."""
    if request.external_id:
        return f"ext:{request.external_id}"
    if values is None:
        return None
    content = {k: normalize(v) for k, v in sorted(values.items()) if normalize(v)}
    return "row:" + hashlib.sha256(canonical(content)).hexdigest()[:40]


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


Shard = tuple[int, int, int]
"""A run of a roster's valid rows: first and last row number, and how many rows."""


@dataclass(frozen=True)
class KeptRoster:
    name: str
    content: bytes
    sha256: str
    shards: tuple[Shard, ...]
    """Empty until the roster is validated and split."""
    invalid: frozenset[int]
    """The rows refused at validation (all of them: the batch keeps the first problems)."""


@dataclass(frozen=True)
class BatchLine:
    """A roster row and its diploma."""

    row: int
    diploma_id: str
    created: bool
