"""Roster drafts: a roster uploaded in the console, its columns matched to fields, checked
row by row, before it is issued (or proposed) as a batch.

A draft is a folder of its own under the instance's home (0700, files 0600): the file as
uploaded, its column mapping, and, when the mapping differs from what the headers say,
a CSV copy with the chosen headers (every column kept; one left out is headed `#`).
Only the user who uploaded a draft can open it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .core.errors import DocumentError, FieldProblem, InvalidInput, NotFound
from .core.model import DiplomaRequest
from .core.text import ascii_digits, normalize
from .core.users import User
from .roster import PREFERRED_HEADERS, ROSTER_FIELDS, field_for_header, open_roster
from .roster.headers import is_ignored_header
from .roster.reader import Roster

if TYPE_CHECKING:
    from .service import DiplomaService

ROSTER_TYPES = (".csv", ".tsv", ".txt", ".xlsx")
IGNORE = ""
"""The mapping's value for a column left out of the diplomas (kept in the file)."""
SAMPLE_ROWS = 3
SAMPLE_PAGES = 2
MAX_SHOWN_PROBLEMS = 1000


@dataclass(frozen=True)
class Draft:
    id: str
    owner_id: str
    source: str
    """The file's name as uploaded."""
    template: str
    created_at: datetime
    folder: Path
    mapping: tuple[str, ...] | None = None
    """The field chosen for each column (IGNORE to leave it out); None until chosen."""

    @property
    def upload(self) -> Path:
        """The file as uploaded, under its own name (a batch is named after its file)."""
        return self.folder / "upload" / self.source

    @property
    def mapped(self) -> Path:
        return self.folder / "mapped" / f"{Path(self.source).stem}.csv"

    @property
    def roster_file(self) -> Path:
        """The file a batch reads: the remapped copy if there is one, else the upload."""
        return self.mapped if self.mapped.exists() else self.upload


@dataclass(frozen=True)
class Column:
    index: int
    header: str
    guess: str
    """The field its header names; IGNORE when it names none."""
    samples: tuple[str, ...]
    unknown: bool
    """A header that names no field and is not one the reader skips anyway."""


@dataclass(frozen=True)
class RowProblem:
    row: int
    column: str
    field: str
    value: str
    message: str


@dataclass(frozen=True)
class Duplicate:
    row: int
    person: str
    """The national id or «name <email»> that repeats."""
    other: str
    """Where else it is: «row N» of this roster, or a serial already issued."""
    issued: bool


@dataclass(frozen=True)
class RosterCheck:
    rows: int
    valid: int
    problems: tuple[RowProblem, ...]
    duplicates: tuple[Duplicate, ...]
    samples: tuple[DiplomaRequest, ...] = field(default=())
    file_problems: tuple[str, ...] = ()


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


class RosterDrafts:
    def __init__(self, service: DiplomaService, home: Path) -> None:
        self.service = service
        self.root = home / "rosters"

    def stage(
        self,
        owner: User,
        source: str,
        chunks: Iterable[bytes],
        *,
        template: str,
        max_bytes: int,
    ) -> Draft:
        """Keep an uploaded roster as a new draft of `owner`'s; DocumentError for a file
        type that is not a roster or one over `max_bytes` (nothing kept then)."""
        name = os.path.basename(source or "roster.csv")[:200].strip()
        if name.startswith(".") or not name:
            name = "roster" + name
        suffix = Path(name).suffix.lower()
        if suffix not in ROSTER_TYPES:
            raise DocumentError(f"a roster must be one of {', '.join(ROSTER_TYPES)}, not {name!r}")
        self.service.templates.ensure_template(template)
        draft = Draft(
            id=secrets.token_urlsafe(16),
            owner_id=owner.id,
            source=name,
            template=template,
            created_at=self.service.clock.now(),
            folder=self.root / "",
        )
        draft = Draft(**{**draft.__dict__, "folder": self.root / draft.id})
        _private_dir(self.root)
        _private_dir(draft.folder)
        _private_dir(draft.upload.parent)
        _private_dir(draft.mapped.parent)
        try:
            fd = os.open(draft.upload, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                size = 0
                for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise DocumentError(
                            f"the roster is larger than {max_bytes // (1 << 20)} MB"
                        )
                    fh.write(chunk)
            self._save(draft)
        except BaseException:
            shutil.rmtree(draft.folder, ignore_errors=True)
            raise
        return draft

    def _save(self, draft: Draft) -> None:
        meta = {
            "id": draft.id,
            "owner_id": draft.owner_id,
            "source": draft.source,
            "template": draft.template,
            "created_at": draft.created_at.isoformat(),
            "mapping": list(draft.mapping) if draft.mapping is not None else None,
        }
        _write_private(draft.folder / "draft.json", json.dumps(meta).encode())

    def get(self, owner: User, draft_id: str) -> Draft:
        """The owner's draft; NotFound for anyone else's or an unknown id alike."""
        if not draft_id or not all(c.isalnum() or c in "-_" for c in draft_id):
            raise NotFound("no roster draft with this id")
        meta_file = self.root / draft_id / "draft.json"
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, ValueError):
            raise NotFound("no roster draft with this id") from None
        if meta["owner_id"] != owner.id:
            raise NotFound("no roster draft with this id")
        mapping = meta.get("mapping")
        return Draft(
            id=meta["id"],
            owner_id=meta["owner_id"],
            source=meta["source"],
            template=meta["template"],
            created_at=datetime.fromisoformat(meta["created_at"]),
            folder=self.root / draft_id,
            mapping=tuple(mapping) if mapping is not None else None,
        )

    def discard(self, draft: Draft) -> None:
        shutil.rmtree(draft.folder, ignore_errors=True)

    # -- columns ----------------------------------------------------------------------------

    def _open(self, path: Path) -> Roster:
        return open_roster(path)

    def columns(self, draft: Draft) -> tuple[list[Column], list[str]]:
        """Each column of the uploaded file with the field its header names and a few of
        its values; and the file's own problems when it cannot be read at all."""
        roster = self._open(draft.upload)
        header = roster.header
        if not header:
            return [], [p.message for p in roster.problems] or ["the roster has no header row"]
        samples = roster.samples(SAMPLE_ROWS)
        columns = []
        for index, written in enumerate(header):
            guess = field_for_header(written) if written else None
            columns.append(
                Column(
                    index=index,
                    header=written,
                    guess=guess or IGNORE,
                    samples=tuple(row[index] for row in samples if index < len(row)),
                    unknown=bool(written) and guess is None and not is_ignored_header(written),
                )
            )
        # A field named by two headers: only its first column counts as that field.
        seen: set[str] = set()
        for i, column in enumerate(columns):
            if column.guess in seen:
                columns[i] = Column(**{**column.__dict__, "guess": IGNORE})
            seen.add(column.guess)
        return columns, []

    def map_columns(self, draft: Draft, mapping: Mapping[int, str]) -> Draft:
        """Choose each column's field (IGNORE to leave it out). InvalidInput when a field
        is chosen twice, a field is unknown, or no column holds the name."""
        columns, problems = self.columns(draft)
        if problems:
            raise InvalidInput(FieldProblem("roster", problems[0]))
        chosen: list[str] = []
        issues: list[FieldProblem] = []
        for column in columns:
            value = mapping.get(column.index, column.guess)
            if value not in (IGNORE, *ROSTER_FIELDS):
                issues.append(FieldProblem(f"column {column.index + 1}", f"{value!r} is no field"))
                value = IGNORE
            if value != IGNORE and value in chosen:
                issues.append(
                    FieldProblem(
                        f"column {column.index + 1}",
                        f"{PREFERRED_HEADERS[value]} ({value}) is chosen for two columns",
                    )
                )
            chosen.append(value)
        if "name" not in chosen:
            issues.append(FieldProblem("name", "choose the column that holds the names"))
        if issues:
            raise InvalidInput(*issues)
        as_guessed = all(c == col.guess for c, col in zip(chosen, columns, strict=True))
        unknown = any(col.unknown for col in columns)
        draft.mapped.unlink(missing_ok=True)
        if not as_guessed or unknown:
            header = [
                PREFERRED_HEADERS[c] if c != IGNORE else f"# {col.header or col.index + 1}"
                for c, col in zip(chosen, columns, strict=True)
            ]
            self._open(draft.upload).write_with_header(header, draft.mapped)
            os.chmod(draft.mapped, 0o600)
        updated = Draft(**{**draft.__dict__, "mapping": tuple(chosen)})
        self._save(updated)
        return updated

    # -- checking ---------------------------------------------------------------------------

    def check(self, draft: Draft) -> RosterCheck:
        """Every row checked as issuing would check it; people who appear twice (same
        national id, or same name and email) in the roster or among diplomas issued."""
        from .service import check_request

        roster = self._open(draft.roster_file)
        file_problems = tuple(p.message for p in roster.problems if p.row <= 1)
        if file_problems:
            return RosterCheck(0, 0, (), (), (), file_problems)
        service = self.service
        today = service.clock.now().date()
        problems: list[RowProblem] = []
        duplicates: list[Duplicate] = []
        samples: list[DiplomaRequest] = []
        by_id: dict[str, int] = {}
        by_name_email: dict[tuple[str, str], int] = {}
        rows = valid = 0
        for row in roster.rows():
            rows += 1
            row_problems = [
                RowProblem(p.row, p.column, p.field, p.value, p.message) for p in row.problems
            ]
            # Exactly as the batch will check it (`batches._check_rows`).
            raw = {**row.values, "template": draft.template}
            try:
                request, _ = check_request(
                    raw,
                    today=today,
                    issuer=service.institution,
                    co_issuing=service.co_issuing,
                    templates=service.templates,
                )
            except InvalidInput as exc:
                row_problems += [
                    RowProblem(
                        row.number,
                        roster.header_for(p.field),
                        p.field,
                        "" if p.field == "national_id" else str(row.values.get(p.field, ""))[:80],
                        p.message,
                    )
                    for p in exc.problems
                ]
                request = None
            if len(problems) < MAX_SHOWN_PROBLEMS:
                problems += row_problems
            if request is None or row_problems:
                continue
            valid += 1
            if len(samples) < SAMPLE_PAGES:
                samples.append(request)
            nid = ascii_digits(request.national_id)
            if nid:
                if nid in by_id:
                    duplicates.append(
                        Duplicate(row.number, _masked(nid), f"row {by_id[nid]}", False)
                    )
                else:
                    by_id[nid] = row.number
            if request.email:
                key = (normalize(request.name), request.email.lower())
                if key in by_name_email:
                    duplicates.append(
                        Duplicate(
                            row.number,
                            f"{key[0]} <{key[1]}>",
                            f"row {by_name_email[key]}",
                            False,
                        )
                    )
                else:
                    by_name_email[key] = row.number
        issued = service.repository.issued_to(by_id, by_name_email)
        for kind, person, serial in issued:
            if kind == "national_id":
                duplicates.append(Duplicate(by_id[person], _masked(person), serial, True))
            else:
                name, _, email = person.rpartition(" <")
                row_number = by_name_email.get((normalize(name), email.rstrip(">").lower()))
                if row_number is not None:
                    duplicates.append(Duplicate(row_number, person, serial, True))
        if rows == 0:
            file_problems = ("the roster has no data rows",)
        return RosterCheck(
            rows,
            valid,
            tuple(problems),
            tuple(sorted(duplicates, key=lambda d: d.row)),
            tuple(samples),
            file_problems,
        )


def _masked(national_id: str) -> str:
    """A national id as shown in warnings: enough to find the row, not the whole id."""
    return f"…{national_id[-4:]}"
