"""Bulk issuance from a roster: validate everything, then issue exactly once, on every core.

`BatchService` sits over the same ports and clock as `DiplomaService`, and issues through
the same path: rows go through `check_request`, records are made by the service's
`RecordMaker` and committed by the repository's `issue_many` (a chunk per transaction,
serials, records and queued mail together), and pages come from `render_signed` in worker
processes (`batch_workers`).

Exactly once: each row has a stable identity (`core.batch.row_key`), stored with the
diploma. Re-running a roster finds those identities and issues nothing twice; a diploma
whose record was committed but whose PDF was not written (a crash in between) gets its
PDF on the rerun. Files are written to a temporary name and renamed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import time
from collections import deque
from collections.abc import Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar

from .atomic import fsync_path, write_atomic
from .batch_workers import (
    Checked,
    InProcessPool,
    Rendered,
    RenderJob,
    RowCheck,
    WorkerPool,
    WorkerPoolFactory,
    WorkerState,
    check_rows,
    render_jobs,
)
from .core.batch import Batch, BatchStatus, KeptRoster, Problem, row_key
from .core.credential import claims_for
from .core.errors import (
    ApprovalRequired,
    DiplomaError,
    DocumentError,
    FieldProblem,
    InvalidInput,
    NotFound,
    UploadTooLarge,
)
from .core.ids import new_diploma_id
from .core.model import DEFAULT_TEMPLATE, Diploma, DiplomaRequest, parse_request
from .core.proposals import Actor, BatchPlan, Proposal
from .manifests import ManifestWriter, manifest_line, write_archive, writing_manifest
from .roster import Roster, open_roster, write_problems_csv
from .roster.model import STOPPED, RosterRow
from .service import DiplomaService, RecordMaker

CHUNK = 48  # rows per database transaction
EXTERNAL_IDS_PER_QUERY = 500  # rows whose external ids are looked up together
VALIDATION_CHUNK = 64  # rows per validation task
TASK = 16  # rows per worker task: small, so that the workers finish together
_FSYNC_THREADS = 8  # fsyncs in flight at once, which the file system commits together
SHOWN_PROPOSAL_PROBLEMS = 50
ROSTER_TYPES = (".csv", ".tsv", ".txt", ".xlsx")

# What a batch writes to its folder names people (manifests, sample pages, the archive):
# readable by the owner only, like errors.csv and the stored PDFs' folder.
OUTPUT_DIRECTORY_MODE = 0o700

PRIVATE_FIELDS = frozenset({"national_id"})
MAX_SOURCE_NAME = 255
"""Characters of a roster's file name a batch keeps (`batches.source`)."""
MAX_TEMPLATE_NAME = 64
"""The longest design name a batch can name (`batches.template`)."""


class Progress(Protocol):
    def phase(self, name: str, total: int) -> None: ...

    def advance(self, count: int) -> None: ...


class NoProgress:
    def phase(self, name: str, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass


@dataclass(frozen=True)
class BatchOptions:
    out_dir: Path
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    template: str = DEFAULT_TEMPLATE
    dry_run: bool = False
    skip_invalid: bool = False
    encoding: str | None = None
    archive: bool = False


@dataclass(frozen=True)
class BatchReport:
    batch: Batch
    seconds: float
    errors_csv: Path | None = None
    manifest_csv: Path | None = None
    manifest_json: Path | None = None
    archive: Path | None = None
    sample: Path | None = None

    @property
    def rate(self) -> float:
        return self.batch.issued / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Row:
    number: int
    request: DiplomaRequest
    key: str


@dataclass(frozen=True)
class _Validation:
    problems: list[Problem]
    valid: int
    total: int
    first: Row | None


def _shown_value(field: str, value: object) -> str:
    """The refused value as problem reports keep it (stored, listed, written to errors.csv):
    a national id only by its last two digits, since it is never stored in the clear."""
    text = str(value or "")[:200]
    if field in PRIVATE_FIELDS and text:
        return "…" + text[-2:] if len(text) > 2 else "…"
    return text


@contextlib.contextmanager
def roster_file(kept: KeptRoster) -> Iterator[Path]:
    """A roster kept in the database as a file (the roster readers take a path), in a
    private temporary folder removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="roster-") as folder:
        path = Path(folder) / kept.name
        path.write_bytes(kept.content)
        yield path


def shortened(name: str, limit: int) -> str:
    """`name` cut to `limit` characters, the end of its stem marked with an ellipsis and
    its suffix kept."""
    if len(name) <= limit:
        return name
    suffix = Path(name).suffix if len(Path(name).suffix) < limit // 2 else ""
    return name[: limit - len(suffix) - 1] + "…" + suffix


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


class BatchService:
    """Rosters in, batches of diplomas out: upload, proposal, run, resume.

    `pools` makes the worker pool of a run (bootstrap's `worker_pools`, on processes);
    without it, runs issue in this process. A server's batches run as shards (`shards`).
    """

    def __init__(
        self,
        service: DiplomaService,
        *,
        pools: WorkerPoolFactory | None = None,
        max_roster_bytes: int | None = None,
    ) -> None:
        self.service = service
        self.store = service.batches
        self.clock = service.clock
        self.pools = pools
        self.max_roster_bytes = max_roster_bytes

    def new_batch(
        self, source: str, options: BatchOptions, status: BatchStatus = BatchStatus.QUEUED
    ) -> Batch:
        """A new batch of the roster named `source` (shortened to what a batch keeps);
        InvalidInput for a design name longer than any design's."""
        if len(options.template) > MAX_TEMPLATE_NAME:
            raise InvalidInput(
                FieldProblem(
                    "template",
                    f"no design has a name this long (at most {MAX_TEMPLATE_NAME} characters)",
                )
            )
        now = self.clock.now()
        batch = Batch(
            id=new_diploma_id(),
            institution=self.service.institution.slug,
            status=status,
            source=shortened(source, MAX_SOURCE_NAME),
            template=options.template,
            skip_invalid=options.skip_invalid,
            created_at=now,
            updated_at=now,
        )
        self.store.save(batch)
        return batch

    # -- receiving a roster ---------------------------------------------------------------

    def receive(
        self,
        name: str,
        roster: BinaryIO,
        options: BatchOptions,
        proposer: Actor,
    ) -> Batch | Proposal:
        """Keep an uploaded roster with a new batch (in the database) and queue the batch
        (the caller starts it: `tasks`); where the two-person rule applies, validate it now
        (InvalidInput lists its problems; nothing is kept then) and propose it: the
        batch waits, `proposed`, until every approval is given.

        DocumentError for a file that is no roster by its name; UploadTooLarge past
        `max_roster_bytes`."""
        self.service.require_issuer()
        name = os.path.basename(name or "roster.csv")
        suffix = Path(name).suffix.lower()
        if suffix not in ROSTER_TYPES:
            raise DocumentError(f"a roster must be one of {', '.join(ROSTER_TYPES)}, not {name!r}")
        proposing = self.service.rule_anywhere
        batch = self.new_batch(
            name, options, BatchStatus.PROPOSED if proposing else BatchStatus.QUEUED
        )
        with tempfile.TemporaryDirectory(prefix="roster-") as folder:
            kept = Path(folder) / f"roster{suffix}"
            try:
                self._keep(roster, kept)
            except UploadTooLarge as exc:
                # Refused, not left queued: nothing would ever run it.
                self.finish(batch, BatchStatus.REFUSED, str(exc))
                raise
            self.keep_roster(batch, kept)
            if not proposing:
                return batch
            try:
                proposal = self.propose(kept, options, proposer, batch)
            except InvalidInput:
                now = self.clock.now()
                self.store.touch(
                    batch,
                    now,
                    status=BatchStatus.REFUSED,
                    message="the roster has problems; nothing was proposed",
                    finished_at=now,
                )
                raise
        if proposal is not None:
            return proposal
        queued: Batch = self.store.touch(batch, self.clock.now(), status=BatchStatus.QUEUED)
        return queued

    def keep_roster(self, batch: Batch, roster_path: Path) -> None:
        """Keep the roster a server runs in the database, where every replica and worker
        reads it (`shards`), pinned by its digest."""
        content = roster_path.read_bytes()
        digest = hashlib.sha256(content).hexdigest()
        self.store.keep_roster(batch.id, roster_path.name, content, digest)

    def adopt_folder_rosters(self, home: Path) -> list[str]:
        """Unfinished batches received before rosters were kept in the database keep
        theirs in `home/batches/<id>/roster.*`: keep each in the database now, so that
        resuming finds it (upgrades). The ids of the batches adopted."""
        adopted = []
        for batch in self.store.unfinished():
            if self.store.roster(batch.id) is not None:
                continue
            found = sorted((home / "batches" / batch.id).glob("roster.*"))
            if found:
                self.keep_roster(batch, found[0])
                adopted.append(batch.id)
        return adopted

    def _keep(self, roster: BinaryIO, kept: Path) -> None:
        limit = self.max_roster_bytes
        with open(kept, "wb") as fh:
            copied = 0
            while chunk := roster.read(1 << 20):
                copied += len(chunk)
                if limit is not None and copied > limit:
                    raise UploadTooLarge(f"the roster is larger than {limit // (1 << 20)} MB")
                fh.write(chunk)

    def submit_file(
        self, roster_path: Path, source: str, options: BatchOptions, proposer: Actor
    ) -> Batch | Proposal:
        """A roster checked already (the console's): proposed where the two-person rule
        applies to its rows, else a queued batch with a copy of it (the caller hands the
        batch to its queue)."""
        proposal = self.propose(roster_path, options, proposer)
        if proposal is not None:
            return proposal
        batch = self.new_batch(source, options)
        self.keep_roster(batch, roster_path)
        return batch

    def propose(
        self,
        roster_path: Path,
        options: BatchOptions,
        proposer: Actor,
        batch: Batch | None = None,
    ) -> Proposal | None:
        """Validate a roster as a run would and, when the two-person rule applies to the
        issuer or a co-issuer its rows name, propose it: a batch in the `proposed` status
        (no queue runs it) whose roster is kept with it and pinned by its digest.

        InvalidInput lists the roster's problems (none is proposed then, unless
        `skip_invalid` and the problems are in rows only). None when no approval is
        needed: the caller runs it as before. `batch` is the caller's own, saved
        `proposed` with the roster kept (`receive`); without it one is made and the
        roster kept with it."""
        roster = open_roster(roster_path, encoding=options.encoding)
        rows: list[Row] = []
        checked = self.validate(
            roster,
            options,
            NoProgress(),
            InProcessPool(WorkerState.of_service(self.service)),
            collect=rows,
        )
        problems, total = checked.problems, checked.total
        if refusal(problems, options.skip_invalid):
            raise InvalidInput(
                [
                    FieldProblem(
                        f"row {p.row}" + (f", {p.column or p.field}" if p.column or p.field else "")
                        if p.row
                        else (p.field or "roster"),
                        p.message,
                    )
                    for p in problems[:SHOWN_PROPOSAL_PROBLEMS]
                ]
            )
        requests = tuple(r.request for r in rows)
        required = self.service.batch_approvals(requests)
        if not required:
            return None
        if batch is None:
            batch = self.new_batch(roster_path.name, options, BatchStatus.PROPOSED)
            self.keep_roster(batch, roster_path)
        batch = self.store.touch(
            batch,
            self.clock.now(),
            total_rows=total,
            valid_rows=len(requests),
            refused=len({p.row for p in problems if p.row > 1}),
            problems=tuple(problems),
            message="proposed: waiting for approval",
        )
        plan = BatchPlan(
            batch_id=batch.id,
            source=batch.source,
            roster_sha256=file_sha256(roster_path),
            template=options.template,
            skip_invalid=options.skip_invalid,
            total_rows=total,
            requests=requests,
            refused_rows=batch.refused,
        )
        return self.service.propose_batch(batch, plan, proposer, required=required)

    # -- running --------------------------------------------------------------------------

    def run(
        self,
        roster_path: Path,
        options: BatchOptions,
        progress: Progress | None = None,
        batch: Batch | None = None,
    ) -> BatchReport:
        """Validate and issue a roster (see the module). A batch proposed under the
        two-person rule runs only once approved and only with the roster approved;
        a roster whose rows need approval and were never proposed is refused
        (ApprovalRequired) before anything is signed."""
        progress = progress or NoProgress()
        started = time.perf_counter()
        approved = batch is not None and self.service.batch_may_run(batch, file_sha256(roster_path))
        batch = batch or self.new_batch(roster_path.name, options)
        out = options.out_dir
        out.mkdir(mode=OUTPUT_DIRECTORY_MODE, parents=True, exist_ok=True)
        for stale in out.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        batch = self.store.touch(batch, self.clock.now(), status=BatchStatus.VALIDATING)
        pool: WorkerPool | None = None
        try:
            # Workers start (and load keys, design and fonts) while the roster is being
            # validated; they issue nothing until validation has passed.
            pool = None if options.dry_run else self.start_pool(options)
            roster = open_roster(roster_path, encoding=options.encoding)
            checker = pool or self.in_process_pool()
            named: set[str] = set()
            checked = self.validate(roster, options, progress, checker, co_issuers=named)
            problems = checked.problems
            errors_csv = out / "errors.csv"
            if problems:
                write_problems_csv(errors_csv, problems)
            else:
                errors_csv.unlink(missing_ok=True)
            batch = self.store.touch(
                batch,
                self.clock.now(),
                total_rows=checked.total,
                valid_rows=checked.valid,
                refused=len({p.row for p in problems if p.row > 1}),
                problems=tuple(problems),
            )
            report_errors = errors_csv if problems else None
            refused = refusal(problems, options.skip_invalid)
            if refused:
                batch = self.finish(batch, BatchStatus.REFUSED, refused)
                return BatchReport(batch, time.perf_counter() - started, report_errors)
            if options.dry_run:
                sample = self._sample(checked.first, options) if checked.first else None
                batch = self.finish(batch, BatchStatus.DONE, "dry run: validated, nothing issued")
                return BatchReport(
                    batch, time.perf_counter() - started, report_errors, sample=sample
                )
            unapproved = self.unapproved(named, approved)
            if unapproved:
                batch = self.finish(batch, BatchStatus.REFUSED, unapproved)
                raise ApprovalRequired(batch.message)
            invalid = {p.row for p in problems}
            batch = self.store.touch(batch, self.clock.now(), status=BatchStatus.ISSUING)
            assert pool is not None
            rows = self._valid_rows(roster, invalid, options)
            with writing_manifest(out) as manifest:
                issuing = _Issuing(self, batch, out, pool, manifest, progress, options.workers)
                batch = issuing.issue(rows)
            archive = write_archive(out) if options.archive else None
            batch = self.finish(batch, BatchStatus.DONE, "")
            return BatchReport(
                batch,
                time.perf_counter() - started,
                report_errors,
                out / "manifest.csv",
                out / "manifest.json",
                archive,
            )
        except Exception as exc:
            message = str(exc) if isinstance(exc, DiplomaError) else f"{type(exc).__name__}: {exc}"
            self.finish(batch, BatchStatus.FAILED, f"stopped: {message}; rerun to resume")
            raise
        finally:
            if pool is not None:
                pool.shutdown()

    def unapproved(self, co_issuers: set[str], approved: bool) -> str:
        """Why a roster naming these co-issuers may not run unapproved ('' if it may)."""
        required = self.service.required_approvals(self.service.co_issuers_of(sorted(co_issuers)))
        if not required or approved:
            return ""
        return (
            f"the two-person rule applies to {', '.join(required)}: propose the roster, it "
            "runs once approved; nothing was issued"
        )

    def in_process_pool(self) -> InProcessPool:
        return InProcessPool(WorkerState.of_service(self.service))

    def start_pool(self, options: BatchOptions) -> WorkerPool:
        workers = max(1, options.workers)
        if workers == 1 or self.pools is None:
            return self.in_process_pool()
        return self.pools(workers, options.template)

    def finish(self, batch: Batch, status: BatchStatus, message: str) -> Batch:
        now = self.clock.now()
        finished: Batch = self.store.touch(
            batch, now, status=status, message=message, finished_at=now
        )
        return finished

    # -- validation -----------------------------------------------------------------------

    def _rows(
        self, roster: Roster, options: BatchOptions, pool: WorkerPool, today: date
    ) -> Iterator[tuple[int, dict[str, str], DiplomaRequest | None, list[Problem]]]:
        """Every non-blank row with its request (None if invalid) and its problems, in
        roster order; the checks run on the worker pool, a few chunks ahead."""
        ahead: deque[tuple[list[RosterRow], Future[list[Checked]]]] = deque()
        inline: InProcessPool | None = None
        for rows in chunks(roster.rows(), VALIDATION_CHUNK):
            check = RowCheck([dict(row.values) for row in rows], options.template, today)
            # Until the workers are up, the main process checks rows itself.
            checker = pool
            if not pool.ready():
                checker = inline = inline or self.in_process_pool()
            ahead.append((rows, checker.submit(check_rows, check)))
            while len(ahead) > 2 * max(1, options.workers):
                yield from self._checked(roster, *ahead.popleft())
        while ahead:
            yield from self._checked(roster, *ahead.popleft())

    @staticmethod
    def _checked(
        roster: Roster, rows: list[RosterRow], future: Future[list[Checked]]
    ) -> Iterator[tuple[int, dict[str, str], DiplomaRequest | None, list[Problem]]]:
        for row, (request, refused) in zip(rows, future.result(), strict=True):
            values = dict(row.values)
            problems = [Problem(p.row, p.column, p.field, p.message, p.value) for p in row.problems]
            problems.extend(
                Problem(
                    row.number,
                    roster.header_for(field),
                    field,
                    message,
                    _shown_value(field, values.get(field, "")),
                )
                for field, message in refused
            )
            yield row.number, values, (None if problems else request), problems

    def validate(
        self,
        roster: Roster,
        options: BatchOptions,
        progress: Progress,
        pool: WorkerPool,
        *,
        collect: list[Row] | None = None,
        co_issuers: set[str] | None = None,
        today: date | None = None,
    ) -> _Validation:
        """The roster's problems and counts; each valid row is added to `collect` and the
        co-issuers it names to `co_issuers`, when given. Dates are checked against `today`
        (by default the clock's): the day the rows will be issued with."""
        problems = [Problem(p.row, p.column, p.field, p.message, p.value) for p in roster.problems]
        if problems:
            return _Validation(problems, 0, 0, None)
        try:
            self.service.templates.ensure_template(options.template)
        except NotFound as exc:
            return _Validation([Problem(0, "", "template", str(exc), options.template)], 0, 0, None)
        seen: dict[str, int] = {}
        issued_before: list[tuple[int, DiplomaRequest, bool]] = []
        valid = total = 0
        first: Row | None = None
        progress.phase("validating", roster.count())
        today = today or self.clock.now().date()
        for number, values, request, row_problems in self._rows(roster, options, pool, today):
            total += 1
            progress.advance(1)
            if request is not None:
                key = row_key(request, values)
                assert key is not None
                if key in seen:
                    what = "external_id" if request.external_id else "content"
                    column = roster.header_for("external_id") if request.external_id else ""
                    row_problems.append(
                        Problem(
                            number,
                            column,
                            "external_id" if request.external_id else "",
                            f"repeats row {seen[key]} (same {what})",
                            request.external_id,
                        )
                    )
                else:
                    seen[key] = number
                    if first is None:
                        first = Row(number, request, key)
                    if collect is not None:
                        collect.append(Row(number, request, key))
                    if co_issuers is not None:
                        co_issuers.update(request.co_issuers)
            if row_problems:
                problems.extend(row_problems)
            else:
                valid += 1
                if request is not None and request.external_id:
                    issued_before.append((number, request, bool(values.get("issued_on"))))
        if total == 0:
            problems.append(Problem(0, "", "", "the roster has no data rows"))
        changed = self._changed_rows(roster, issued_before)
        if changed:
            valid -= len(changed)
            problems = sorted([*problems, *changed], key=lambda p: p.row)
        return _Validation(problems, valid, total, first)

    def _changed_rows(
        self, roster: Roster, rows: list[tuple[int, DiplomaRequest, bool]]
    ) -> list[Problem]:
        """A problem for each row whose external id was issued before with other details:
        a re-run issues nothing for it, and a changed row is a correction to make on
        purpose (`diplomas correct`), never a change skipped in silence."""
        problems = []
        for start in range(0, len(rows), EXTERNAL_IDS_PER_QUERY):
            part = rows[start : start + EXTERNAL_IDS_PER_QUERY]
            changed = self.service.changed_external_ids([(r, dated) for _, r, dated in part])
            for index, exc in sorted(changed.items()):
                number, request, _ = part[index]
                problems.append(
                    Problem(
                        number,
                        roster.header_for("external_id"),
                        "external_id",
                        f"was issued already as {exc.serial} with other details "
                        f"({', '.join(exc.fields)}); to change that diploma, run "
                        f"`diplomas correct {exc.serial} --set FIELD=VALUE`, or put back "
                        f"what it says",
                        request.external_id,
                    )
                )
        return problems

    def _sample(self, first: Row, options: BatchOptions) -> Path:
        """Dry run: one unsigned page of the first valid row, numbered as a sample."""
        institution = self.service.institution
        claims = claims_for(
            institution,
            first.request,
            "sample" + "0" * 17,
            f"{institution.serial_prefix}-0000-000000",
            self.service.co_issuers_of(first.request.co_issuers),
        )
        path = options.out_dir / f"sample-row-{first.number}.pdf"
        page = self.service.renderer.render(claims, options.template, self.service.logos)
        write_atomic(path, page)
        return path

    def _valid_rows(
        self, roster: Roster, invalid: set[int], options: BatchOptions
    ) -> Iterator[Row]:
        today = self.clock.now().date()
        return parsed_rows(roster, invalid, options.template, today)


def refusal(problems: Sequence[Problem], skip_invalid: bool) -> str:
    """Why a roster with these problems issues nothing ('' if its valid rows may issue).
    File-level problems, and a row past which the file could not be read, leave the
    roster unknown: nothing of it is issued, even with --skip-invalid."""
    if not problems:
        return ""
    header_level = any(p.row <= 1 or p.message.endswith(STOPPED) for p in problems)
    if header_level or not skip_invalid:
        return f"{len(problems)} problem(s) in the roster; nothing was issued" + (
            "" if header_level else " (use --skip-invalid to issue the valid rows)"
        )
    return ""


def parsed_rows(
    roster: Roster,
    invalid: Collection[int],
    template: str,
    today: date,
    between: tuple[int, int] = (0, sys.maxsize),
) -> Iterator[Row]:
    """The valid rows, parsed; only those numbered `between` first and last (a shard's:
    the others are read but not parsed)."""
    first, last = between
    for row in roster.rows():
        if row.number > last:
            return
        if row.number < first or row.number in invalid or row.problems:
            continue
        values = dict(row.values)
        request = parse_request({**values, "template": template}, today=today)
        key = row_key(request, values)
        assert key is not None
        yield Row(row.number, request, key)


# -- issuing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """A row's diploma, and where its PDF goes in the output folder."""

    number: int
    diploma: Diploma
    created: bool
    path: Path


@dataclass(frozen=True)
class _Rendering:
    """A chunk committed, its PDFs being rendered on the workers."""

    entries: list[_Entry]
    tasks: list[Future[list[Rendered]]]


@dataclass(frozen=True)
class _Syncing:
    """A chunk rendered, its files being fsynced by a helper thread."""

    entries: list[_Entry]
    digests: dict[str, str]
    durable: Future[None]


class _Issuing:
    """One run's issuing: each chunk of rows goes through four steps, in roster order:

    1. `_commit`: issued in the database (serials, signed records, queued mail);
    2. `_render`: its PDFs rendered, signed and written on the workers;
    3. `_make_durable`: its files fsynced, by a helper thread;
    4. `_record`: its digests recorded and its manifest lines written.

    Several chunks are in flight at once, so that the main thread keeps the workers
    supplied and never waits for the disk while there is other work. A chunk is the unit
    a distributed task would run (steps 1 to 3); step 4 stays with the batch's owner.
    """

    def __init__(
        self,
        batches: BatchService,
        batch: Batch,
        out: Path,
        pool: WorkerPool,
        manifest: ManifestWriter,
        progress: Progress,
        workers: int,
    ) -> None:
        self.batches = batches
        self.service = batches.service
        self.batch = batch
        self.out = out
        self.pool = pool
        self.manifest = manifest
        self.progress = progress
        self.in_flight = 2 * max(1, workers)
        self.records = RecordMaker(self.service, batches.clock.now())
        self.rendering: deque[_Rendering] = deque()
        self.syncing: deque[_Syncing] = deque()
        self.issued = 0
        self.skipped = 0

    def issue(self, rows: Iterable[Row]) -> Batch:
        self.progress.phase("issuing", self.batch.valid_rows)
        fsyncs = ThreadPoolExecutor(_FSYNC_THREADS, thread_name_prefix="fsync")
        syncer = ThreadPoolExecutor(1, thread_name_prefix="durable")
        try:
            for chunk in chunks(rows, CHUNK):
                self.rendering.append(self._render(self._commit(chunk)))
                while len(self.rendering) > self.in_flight:
                    self.syncing.append(self._make_durable(syncer, fsyncs))
                if self._record_ready():
                    self._touch()
            while self.rendering:
                self.syncing.append(self._make_durable(syncer, fsyncs))
            while self.syncing:
                self._record(self.syncing.popleft())
        finally:
            syncer.shutdown()
            fsyncs.shutdown()
        return self._touch()

    def _commit(self, chunk: Sequence[Row]) -> list[_Entry]:
        results = self.service.repository.issue_many(
            self.service.institution,
            [(r.request, r.key) for r in chunk],
            self.records.key_id,
            self.records,
            self.records.now,
            self.batch.id,
            rows=[r.number for r in chunk],
        )
        return [
            _Entry(r.number, diploma, created, self.out / f"{diploma.serial}.pdf")
            for r, (diploma, created) in zip(chunk, results, strict=True)
        ]

    def _render(self, entries: list[_Entry]) -> _Rendering:
        jobs = [
            RenderJob(
                e.diploma.id,
                e.diploma.record,
                e.diploma.request.template,
                str(e.path),
                e.diploma.request.co_issuers,
            )
            for e in entries
            if e.created or not e.path.exists()
        ]
        tasks = [
            self.pool.submit(render_jobs, jobs[i : i + TASK]) for i in range(0, len(jobs), TASK)
        ]
        return _Rendering(entries, tasks)

    def _make_durable(self, syncer: ThreadPoolExecutor, fsyncs: ThreadPoolExecutor) -> _Syncing:
        rendering = self.rendering.popleft()
        done = [item for task in rendering.tasks for item in task.result()]
        files = [name for item in done for name in item.files]
        folders = sorted({os.path.dirname(name) for name in files} | {str(self.out)})
        durable = syncer.submit(_durable, files, folders, fsyncs)
        return _Syncing(rendering.entries, {r.diploma_id: r.sha256 for r in done}, durable)

    def _record_ready(self) -> bool:
        """Record the chunks whose files are durable (or too many waiting); whether any."""
        recorded = False
        while self.syncing and (
            self.syncing[0].durable.done() or len(self.syncing) > self.in_flight
        ):
            self._record(self.syncing.popleft())
            recorded = True
        return recorded

    def _record(self, chunk: _Syncing) -> None:
        chunk.durable.result()
        self.service.repository.set_pdf_sha256_many(list(chunk.digests.items()))
        holders = self.service.holders
        for entry in chunk.entries:
            diploma = entry.diploma
            sha = chunk.digests.get(diploma.id) or diploma.pdf_sha256 or file_sha256(entry.path)
            if diploma.id not in chunk.digests:
                self._adopt(diploma, entry.path, sha)
            self.manifest.write(
                manifest_line(
                    entry.number, diploma, holders.url(diploma), entry.path.name, sha, entry.created
                )
            )
            if entry.created:
                self.issued += 1
            else:
                self.skipped += 1
        self.progress.advance(len(chunk.entries))

    def _adopt(self, diploma: Diploma, path: Path, sha: str) -> None:
        """A PDF written by an earlier, interrupted run: make the store agree with it."""
        repository, pdfs = self.service.repository, self.service.pdf_store
        if not diploma.pdf_sha256:
            repository.set_pdf_sha256(diploma.id, sha)
        if pdfs.get(diploma.id) is None:
            pdfs.put(diploma.id, path.read_bytes())

    def _touch(self) -> Batch:
        self.batch = self.batches.store.touch(
            self.batch, self.batches.clock.now(), issued=self.issued, skipped=self.skipped
        )
        return self.batch


def _durable(files: Sequence[str], folders: Sequence[str], fsyncs: ThreadPoolExecutor) -> None:
    """fsync these files (all at once, so that the file system commits them together),
    then the folders (for the renames). Only these files: `os.sync()` would also wait
    for every other process's writes."""
    list(fsyncs.map(fsync_path, files))
    if os.name == "posix":  # elsewhere folders cannot be opened, nor need to be
        for folder in folders:
            fsync_path(folder)


_T = TypeVar("_T")


def chunks(rows: Iterable[_T], size: int) -> Iterator[list[_T]]:
    chunk: list[_T] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
