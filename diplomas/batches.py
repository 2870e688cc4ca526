"""Bulk issuance from a roster: validate everything, then issue exactly once, on every core.

The same service, records and PDFs as single issuance: rows go through `parse_request`,
records are signed and committed by the repository (a chunk per transaction, serials and
records together), and pages come from `service.render_signed` in worker processes.

Exactly once: each row has a stable identity (`ext:<external_id>`, or a hash of its
content), stored with the diploma. Re-running a roster finds those identities and issues
nothing twice; a diploma whose record was committed but whose PDF was not written (a crash
in between) gets its PDF on the rerun. PDFs are written to a temporary name and renamed.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import hashlib
import json
import multiprocessing
import os
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO, TypeVar

from .atomic import fsync_path
from .config import Settings
from .core.batch import Batch, BatchStatus, Problem
from .core.credential import claims_for, signed_record
from .core.errors import ApprovalRequired, DiplomaError, FieldProblem, InvalidInput, NotFound
from .core.ids import new_diploma_id
from .core.model import DEFAULT_TEMPLATE, Diploma, DiplomaRequest, parse_request
from .core.proof import canonical
from .core.proposals import Actor, BatchPlan, Proposal
from .core.statuslist import StatusEntry
from .core.text import normalize
from .service import DiplomaService, check_request, render_signed

CHUNK = 48  # rows per database transaction
EXTERNAL_IDS_PER_QUERY = 500  # rows whose external ids are looked up together
VALIDATION_CHUNK = 64  # rows per validation task
TASK = 16  # rows per worker task: small, so that the workers finish together
_FSYNC_THREADS = 8  # fsyncs in flight at once, which the file system commits together
MANIFEST_FIELDS = (
    "row",
    "serial",
    "id",
    "name",
    "name_en",
    "email",
    "verify_url",
    "holder_url",
    "file",
    "sha256",
    "status",
)
"""A manifest line: where each row's diploma is, and what a mail merge needs (the
holder's name and email, the public link to share and her private link)."""


class Progress(Protocol):
    def phase(self, name: str, total: int) -> None: ...

    def advance(self, count: int) -> None: ...


class _NoProgress:
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
class _Row:
    number: int
    request: DiplomaRequest
    key: str


def row_key(values: dict[str, str], request: DiplomaRequest) -> str:
    """A row's identity: its external id, or a digest of what it says (blank cells left out,
    so a defaulted date does not make a rerun on another day look like a new row)."""
    if request.external_id:
        return f"ext:{request.external_id}"
    content = {k: normalize(v) for k, v in sorted(values.items()) if normalize(v)}
    return "row:" + hashlib.sha256(canonical(content)).hexdigest()[:40]


PRIVATE_FIELDS = frozenset({"national_id"})


def _shown_value(field: str, value: object) -> str:
    """The refused value as problem reports keep it (stored, listed, written to errors.csv):
    a national id only by its last two digits, since it is never stored in the clear."""
    text = str(value or "")[:200]
    if field in PRIVATE_FIELDS and text:
        return "…" + text[-2:] if len(text) > 2 else "…"
    return text


# What a batch writes to its folder names people (manifests, sample pages, the archive):
# readable by the owner only, like errors.csv and the stored PDFs' folder.
OUTPUT_DIRECTORY_MODE = 0o700
OUTPUT_FILE_MODE = 0o600


def _private(path: Path) -> int:
    """A new file, or one emptied, readable and writable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, OUTPUT_FILE_MODE)
    os.fchmod(fd, OUTPUT_FILE_MODE)  # an older file of that name keeps its mode otherwise
    return fd


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(_private(tmp), "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# -- worker processes --------------------------------------------------------------------

_worker: dict[str, Any] = {}


def _init_worker(settings: Settings, template: str, environment: dict[str, str]) -> None:
    from .bootstrap import open_key_stores

    # The forkserver kept the environment of whenever it started; a worker takes the one
    # of the process that runs the batch, as a spawned process would. A PKCS#11 module
    # finds its configuration there (SoftHSM2: SOFTHSM2_CONF).
    os.environ.update(environment)
    from .render import TemplateRenderer
    from .storage.files import FilePdfStore

    stores = open_key_stores(settings)
    issuer, *co_issuers = stores.values()
    _worker["renderer"] = renderer = TemplateRenderer(settings.templates_dir)
    _worker["signer"] = issuer.pdf_signer()
    _worker["co_signers"] = {store.institution.slug: store for store in co_issuers}
    _worker["issuer"] = issuer.institution
    _worker["co_issuing"] = {store.institution.slug: store.institution for store in co_issuers}
    _worker["logos"] = {
        did: path for store in stores.values() for did, path in store.institution.logos.items()
    }
    _worker["pdfs"] = FilePdfStore(settings.pdf_dir)
    # Read the design and its fonts now, while the main process still validates; a
    # missing or broken template is the validation's to report, not the worker's.
    with contextlib.suppress(DiplomaError):
        renderer.ensure_template(template)
    # Everything loaded so far (modules, keys, fonts) lives as long as the worker: keep
    # it out of the collector's way. Each full collection would otherwise walk ~140,000
    # long-lived objects again; with them frozen, a diploma costs ~0.4 ms less.
    gc.freeze()


Job = tuple[str, bytes, str, str, tuple[str, ...]]
"""Diploma id, record, template, output path, co-issuers' slugs."""
_Entry = tuple[int, Diploma, bool, Path]  # row number, diploma, created, output path


def _render_jobs(jobs: Sequence[Job]) -> list[tuple[str, str, tuple[str, ...]]]:
    """Render, sign and write each job's PDF; return (diploma id, SHA-256, files written).

    Each PDF is written once, into the PDF store, and hard-linked into the output folder
    (so one inode, one fsync), without waiting for the disk: the main process makes the
    files durable (`_durable`) before it records their digests, while the workers go on.
    """
    out: list[tuple[str, str, tuple[str, ...]]] = []
    pdfs = _worker["pdfs"]
    for diploma_id, record, template, path, co_issuers in jobs:
        co_signers = [_worker["co_signers"][slug].pdf_signer() for slug in co_issuers]
        pdf = render_signed(
            _worker["renderer"], _worker["signer"], record, template, co_signers, _worker["logos"]
        )
        pdfs.put(diploma_id, pdf, durable=False)
        stored = pdfs.path(diploma_id)
        linked = _place(stored, Path(path), pdf)
        files = (str(stored),) if linked else (str(stored), path)
        out.append((diploma_id, hashlib.sha256(pdf).hexdigest(), files))
    return out


Checked = tuple[DiplomaRequest | None, list[tuple[str, str]]]
"""A row's request if it passed, and each (field, message) it was refused for."""


def _check_rows(rows: Sequence[dict[str, str]], template: str, today: date) -> list[Checked]:
    """Validate roster rows as issuance will (`service.check_request`), in a worker: the
    page layout check is most of the time, and the workers are idle until validation ends."""
    out: list[Checked] = []
    for values in rows:
        try:
            request, _ = check_request(
                {**values, "template": template},
                today=today,
                issuer=_worker["issuer"],
                co_issuing=_worker["co_issuing"],
                templates=_worker["renderer"],
            )
        except InvalidInput as exc:
            out.append((None, [(p.field, p.message) for p in exc.problems]))
        else:
            out.append((request, []))
    return out


def _place(stored: Path, target: Path, pdf: bytes) -> bool:
    """Put the stored PDF at `target` atomically: a hard link (True), or a copy across
    devices (False)."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        os.link(stored, tmp)
        linked = True
    except OSError:
        with open(_private(tmp), "wb") as fh:
            fh.write(pdf)
        linked = False
    os.replace(tmp, target)
    return linked


def _durable(files: Sequence[str], folders: Sequence[str], fsyncs: ThreadPoolExecutor) -> None:
    """fsync these files (all at once, so that the file system commits them together),
    then the folders (for the renames). Only these files: `os.sync()` would also wait
    for every other process's writes."""
    list(fsyncs.map(fsync_path, files))
    if os.name == "posix":  # elsewhere folders cannot be opened, nor need to be
        for folder in folders:
            fsync_path(folder)


def _worker_context() -> multiprocessing.context.BaseContext:
    """Workers fork from a server process that imported the heavy modules once: as quick
    to start as fork, without forking a parent that may hold threads and connections."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["diplomas.batches", "diplomas.render", "diplomas.pdfsign"])
    return context


class _WorkerPool:
    """A process pool whose workers start at once, from a helper thread.

    Processes start on `submit`, and the first one waits for the forkserver to import
    the heavy modules (~0.4 s); a thread submitting a no-op per worker lets the main
    thread validate the roster meanwhile.
    """

    def __init__(self, pool: ProcessPoolExecutor, workers: int) -> None:
        self._pool = pool
        self._started: list[Future[int]] = []
        self._starter = threading.Thread(
            target=lambda: self._started.extend(pool.submit(int) for _ in range(workers)),
            name="start-workers",
            daemon=True,
        )
        self._workers = workers
        self._starter.start()

    def ready(self) -> bool:
        """Whether every worker has started (and so loaded keys, design and fonts)."""
        started = list(self._started)
        return len(started) == self._workers and all(f.done() for f in started)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        return self._pool.submit(fn, *args)

    def shutdown(self) -> None:
        self._starter.join()
        self._pool.shutdown()


class _InProcess:
    """The worker pool's twin for one worker: same function, no processes."""

    def __init__(self, service: DiplomaService) -> None:
        _worker.update(
            renderer=service.renderer,
            signer=service.pdf_signer,
            pdfs=service.pdf_store,
            co_signers=service.co_issuer_keys,
            issuer=service.institution,
            co_issuing=service.co_issuing,
            logos=service.logos,
        )

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args))
        return future

    def ready(self) -> bool:
        return True

    def shutdown(self) -> None:
        pass


# -- the runner --------------------------------------------------------------------------


def batch_folder(home: Path, batch_id: str) -> Path:
    """Where a batch run by the server keeps its roster (`roster.<ext>`) and output."""
    return home / "batches" / batch_id


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


SHOWN_PROPOSAL_PROBLEMS = 50


class BatchRunner:
    def __init__(self, service: DiplomaService, settings: Settings) -> None:
        self.service = service
        self.settings = settings
        self.store = service.batches

    def new_batch(
        self, source: str, options: BatchOptions, status: BatchStatus = BatchStatus.QUEUED
    ) -> Batch:
        now = datetime.now(UTC)
        batch = Batch(
            id=new_diploma_id(),
            institution=self.service.institution.slug,
            status=status,
            source=source,
            template=options.template,
            skip_invalid=options.skip_invalid,
            created_at=now,
            updated_at=now,
        )
        self.store.save(batch)
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
        (no queue runs it) whose roster is kept in its folder and pinned by its digest.

        InvalidInput lists the roster's problems (none is proposed then, unless
        `skip_invalid` and the problems are in rows only). None when no approval is
        needed: the caller runs it as before. `batch` is the caller's own, saved
        `proposed` with the roster in its folder (the API's upload); without it one is
        made and the roster copied there."""
        from .roster import open_roster
        from .roster.model import STOPPED

        roster = open_roster(roster_path, encoding=options.encoding)
        rows: list[_Row] = []
        problems, _, total, _ = self._validate(
            roster, options, _NoProgress(), _InProcess(self.service), collect=rows
        )
        header_level = any(p.row <= 1 or p.message.endswith(STOPPED) for p in problems)
        if problems and (header_level or not options.skip_invalid):
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
            folder = batch_folder(self.settings.home, batch.id)
            folder.mkdir(parents=True, mode=OUTPUT_DIRECTORY_MODE)
            kept = folder / f"roster{roster_path.suffix.lower()}"
            _atomic_write(kept, roster_path.read_bytes())
            roster_path = kept
        batch = self.store.touch(
            batch,
            datetime.now(UTC),
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
        from .roster import open_roster, write_problems_csv
        from .roster.model import STOPPED

        progress = progress or _NoProgress()
        started = time.perf_counter()
        approved = batch is not None and self.service.batch_may_run(batch, file_sha256(roster_path))
        batch = batch or self.new_batch(roster_path.name, options)
        out = options.out_dir
        out.mkdir(mode=OUTPUT_DIRECTORY_MODE, parents=True, exist_ok=True)
        for stale in out.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        batch = self.store.touch(batch, datetime.now(UTC), status=BatchStatus.VALIDATING)
        pool: Any = None
        try:
            # Workers start (and load keys, design and fonts) while the roster is being
            # validated; they issue nothing until validation has passed.
            pool = None if options.dry_run else self._start_pool(options)
            roster = open_roster(roster_path, encoding=options.encoding)
            checker = pool or _InProcess(self.service)
            named: set[str] = set()
            problems, valid, total, first = self._validate(
                roster, options, progress, checker, co_issuers=named
            )
            errors_csv = out / "errors.csv"
            if problems:
                write_problems_csv(errors_csv, problems)
            else:
                errors_csv.unlink(missing_ok=True)
            refused_rows = len({p.row for p in problems if p.row > 1})
            # File-level problems, and a row past which the file could not be read, leave
            # the roster unknown: nothing of it is issued, even with --skip-invalid.
            header_level = any(p.row <= 1 or p.message.endswith(STOPPED) for p in problems)
            batch = self.store.touch(
                batch,
                datetime.now(UTC),
                total_rows=total,
                valid_rows=valid,
                refused=refused_rows,
                problems=tuple(problems),
            )
            report_errors = errors_csv if problems else None
            if problems and (header_level or not options.skip_invalid):
                batch = self._finish(
                    batch,
                    BatchStatus.REFUSED,
                    f"{len(problems)} problem(s) in the roster; nothing was issued"
                    + ("" if header_level else " (use --skip-invalid to issue the valid rows)"),
                )
                return BatchReport(batch, time.perf_counter() - started, report_errors)
            if options.dry_run:
                sample = self._sample(first, options) if first else None
                batch = self._finish(batch, BatchStatus.DONE, "dry run: validated, nothing issued")
                return BatchReport(
                    batch, time.perf_counter() - started, report_errors, sample=sample
                )
            required = self.service.required_approvals(self.service.co_issuers_of(sorted(named)))
            if required and not approved:
                batch = self._finish(
                    batch,
                    BatchStatus.REFUSED,
                    f"the two-person rule applies to {', '.join(required)}: propose the "
                    "roster, it runs once approved; nothing was issued",
                )
                raise ApprovalRequired(batch.message)
            invalid = {p.row for p in problems}
            batch = self.store.touch(batch, datetime.now(UTC), status=BatchStatus.ISSUING)
            batch, manifests = self._issue(roster, invalid, options, progress, batch, pool)
            archive = self._archive(out, manifests) if options.archive else None
            batch = self._finish(batch, BatchStatus.DONE, "")
            return BatchReport(
                batch,
                time.perf_counter() - started,
                report_errors,
                manifests[0],
                manifests[1],
                archive,
            )
        except Exception as exc:
            message = str(exc) if isinstance(exc, DiplomaError) else f"{type(exc).__name__}: {exc}"
            self._finish(batch, BatchStatus.FAILED, f"stopped: {message}; rerun to resume")
            raise
        finally:
            if pool is not None:
                pool.shutdown()

    def _start_pool(self, options: BatchOptions) -> Any:
        workers = max(1, options.workers)
        if workers == 1:
            return _InProcess(self.service)
        return _WorkerPool(
            ProcessPoolExecutor(
                workers,
                mp_context=_worker_context(),
                initializer=_init_worker,
                initargs=(self.settings, options.template, dict(os.environ)),
            ),
            workers,
        )

    def _finish(self, batch: Batch, status: BatchStatus, message: str) -> Batch:
        now = datetime.now(UTC)
        finished: Batch = self.store.touch(
            batch, now, status=status, message=message, finished_at=now
        )
        return finished

    # -- validation -----------------------------------------------------------------------

    def _rows(
        self, roster: Any, options: BatchOptions, pool: Any
    ) -> Iterator[tuple[int, dict[str, str], DiplomaRequest | None, list[Problem]]]:
        """Every non-blank row with its request (None if invalid) and its problems, in
        roster order; the checks run on the worker pool, a few chunks ahead."""
        today = datetime.now(UTC).date()
        ahead: deque[tuple[list[Any], Future[list[Checked]]]] = deque()

        def collect() -> Iterator[tuple[int, dict[str, str], DiplomaRequest | None, list[Problem]]]:
            rows, future = ahead.popleft()
            for row, (request, refused) in zip(rows, future.result(), strict=True):
                values = dict(row.values)
                problems = [
                    Problem(p.row, p.column, p.field, p.message, p.value) for p in row.problems
                ]
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

        inline: _InProcess | None = None
        for rows in _chunks(roster.rows(), VALIDATION_CHUNK):
            values = [dict(row.values) for row in rows]
            # Until the workers are up (~0.5 s), the main process checks rows itself.
            checker = pool
            if not pool.ready():
                checker = inline = inline or _InProcess(self.service)
            ahead.append((rows, checker.submit(_check_rows, values, options.template, today)))
            while len(ahead) > 2 * max(1, options.workers):
                yield from collect()
        while ahead:
            yield from collect()

    def _validate(
        self,
        roster: Any,
        options: BatchOptions,
        progress: Progress,
        pool: Any,
        *,
        collect: list[_Row] | None = None,
        co_issuers: set[str] | None = None,
    ) -> tuple[list[Problem], int, int, _Row | None]:
        """(problems, valid rows, rows, first valid row); each valid row is added to
        `collect` and the co-issuers it names to `co_issuers`, when given."""
        problems = [Problem(p.row, p.column, p.field, p.message, p.value) for p in roster.problems]
        if problems:
            return problems, 0, 0, None
        try:
            self.service.templates.ensure_template(options.template)
        except NotFound as exc:
            return [Problem(0, "", "template", str(exc), options.template)], 0, 0, None
        seen: dict[str, int] = {}
        issued_before: list[tuple[int, DiplomaRequest, bool]] = []
        valid = total = 0
        first: _Row | None = None
        progress.phase("validating", roster.count())
        for number, values, request, row_problems in self._rows(roster, options, pool):
            total += 1
            progress.advance(1)
            if request is not None:
                key = row_key(values, request)
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
                        first = _Row(number, request, key)
                    if collect is not None:
                        collect.append(_Row(number, request, key))
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
        return problems, valid, total, first

    def _changed_rows(
        self, roster: Any, rows: list[tuple[int, DiplomaRequest, bool]]
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

    def _sample(self, first: _Row, options: BatchOptions) -> Path:
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
        _atomic_write(path, page)
        return path

    # -- issuing --------------------------------------------------------------------------

    def _issue(
        self,
        roster: Any,
        invalid: set[int],
        options: BatchOptions,
        progress: Progress,
        batch: Batch,
        pool: Any,
    ) -> tuple[Batch, tuple[Path, Path]]:
        service = self.service
        institution = service.institution
        signer = service.record_keys.signer()
        out = options.out_dir
        now = datetime.now(UTC)

        def make_record(
            request: DiplomaRequest, diploma_id: str, serial: str, status: tuple[StatusEntry, ...]
        ) -> bytes:
            co_issuers = service.co_issuers_of(request.co_issuers)
            signers = [signer, *(service.co_issuer_keys[i.slug].signer() for i in co_issuers)]
            claims = claims_for(institution, request, diploma_id, serial, co_issuers, status)
            return signed_record(claims, signers, now)

        workers = max(1, options.workers)
        # A chunk goes through two queues: `rendering` (its worker tasks run), then
        # `syncing` (a helper thread fsyncs its files); only then are its digests recorded
        # and its manifest lines written, in roster order. The main thread never waits
        # for the disk while there is other work: it keeps the workers supplied.
        rendering: deque[tuple[list[_Entry], list[Future[Any]]]] = deque()
        syncing: deque[tuple[list[_Entry], dict[str, str], Future[None]]] = deque()
        fsyncs = ThreadPoolExecutor(_FSYNC_THREADS, thread_name_prefix="fsync")
        chunk_syncer = ThreadPoolExecutor(1, thread_name_prefix="durable")
        counts = {"issued": 0, "skipped": 0}
        holders = service.holders
        manifest_csv, manifest_json = out / "manifest.csv", out / "manifest.json"
        tmp_csv = manifest_csv.with_name(".manifest.csv.tmp")
        tmp_json = manifest_json.with_name(".manifest.json.tmp")
        progress.phase("issuing", batch.valid_rows)
        with (
            open(_private(tmp_csv), "w", newline="", encoding="utf-8-sig") as fcsv,
            open(_private(tmp_json), "w", encoding="utf-8") as fjson,
        ):
            writer = csv.writer(fcsv)
            writer.writerow(MANIFEST_FIELDS)
            fjson.write("[")
            first_entry = [True]

            def rendered() -> None:
                entries, futures = rendering.popleft()
                done = [item for future in futures for item in future.result()]
                files = [name for _, _, written in done for name in written]
                folders = sorted({os.path.dirname(name) for name in files} | {str(out)})
                durable = chunk_syncer.submit(_durable, files, folders, fsyncs)
                syncing.append((entries, {d_id: sha for d_id, sha, _ in done}, durable))

            def record() -> None:
                entries, digests, durable = syncing.popleft()
                durable.result()
                service.repository.set_pdf_sha256_many(list(digests.items()))
                for number, diploma, created, path in entries:
                    sha = digests.get(diploma.id) or diploma.pdf_sha256 or _file_sha(path)
                    if diploma.id not in digests:
                        self._adopt(diploma, path, sha)
                    entry = {
                        "row": number,
                        "serial": diploma.serial,
                        "id": diploma.id,
                        "name": diploma.request.name,
                        "name_en": diploma.request.name_en,
                        "email": diploma.request.email,
                        "verify_url": diploma.verify_url,
                        "holder_url": holders.url(diploma),
                        "file": path.name,
                        "sha256": sha,
                        "status": "issued" if created else "already issued",
                    }
                    _write_manifest(writer, fjson, entry, first_entry)
                    counts["issued" if created else "skipped"] += 1
                progress.advance(len(entries))

            try:
                for chunk in _chunks(self._valid_rows(roster, invalid, options), CHUNK):
                    results = service.repository.issue_many(
                        institution,
                        [(r.request, r.key) for r in chunk],
                        signer.key_id,
                        make_record,
                        now,
                        batch.id,
                    )
                    entries, jobs = [], []
                    for r, (diploma, created) in zip(chunk, results, strict=True):
                        path = out / f"{diploma.serial}.pdf"
                        entries.append((r.number, diploma, created, path))
                        if created or not path.exists():
                            jobs.append(
                                (
                                    diploma.id,
                                    diploma.record,
                                    diploma.request.template,
                                    str(path),
                                    diploma.request.co_issuers,
                                )
                            )
                    tasks = [jobs[i : i + TASK] for i in range(0, len(jobs), TASK)]
                    rendering.append((entries, [pool.submit(_render_jobs, t) for t in tasks]))
                    while len(rendering) > 2 * workers:
                        rendered()
                    recorded = False
                    while syncing and (syncing[0][2].done() or len(syncing) > 2 * workers):
                        record()
                        recorded = True
                    if recorded:
                        batch = self.store.touch(batch, datetime.now(UTC), **counts)
                while rendering:
                    rendered()
                while syncing:
                    record()
            finally:
                chunk_syncer.shutdown()
                fsyncs.shutdown()
            fjson.write("\n]\n")
        os.replace(tmp_csv, manifest_csv)
        os.replace(tmp_json, manifest_json)
        batch = self.store.touch(batch, datetime.now(UTC), **counts)
        return batch, (manifest_csv, manifest_json)

    def _adopt(self, diploma: Diploma, path: Path, sha: str) -> None:
        """A PDF written by an earlier, interrupted run: make the store agree with it."""
        repository, pdfs = self.service.repository, self.service.pdf_store
        if not diploma.pdf_sha256:
            repository.set_pdf_sha256(diploma.id, sha)
        if pdfs.get(diploma.id) is None:
            pdfs.put(diploma.id, path.read_bytes())

    def _valid_rows(self, roster: Any, invalid: set[int], options: BatchOptions) -> Iterator[_Row]:
        today = datetime.now(UTC).date()
        for row in roster.rows():
            if row.number in invalid or row.problems:
                continue
            values = dict(row.values)
            request = parse_request({**values, "template": options.template}, today=today)
            yield _Row(row.number, request, row_key(values, request))

    def _archive(self, out: Path, manifests: tuple[Path, Path]) -> Path:
        """One zip of every PDF named in the manifest, plus the manifests, written streaming."""
        archive = out / "diplomas.zip"
        tmp = out / ".diplomas.zip.tmp"
        with (
            open(_private(tmp), "wb") as raw,
            zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_STORED) as zf,
        ):
            with open(manifests[0], encoding="utf-8-sig", newline="") as fh:
                for entry in csv.DictReader(fh):
                    zf.write(out / entry["file"], entry["file"])
            for manifest in manifests:
                zf.write(manifest, manifest.name)
        os.replace(tmp, archive)
        return archive


def _write_manifest(writer: Any, fjson: TextIO, entry: dict[str, Any], first: list[bool]) -> None:
    from .roster import safe_cell

    writer.writerow([safe_cell(str(entry[k])) for k in MANIFEST_FIELDS])
    fjson.write(("\n  " if first[0] else ",\n  ") + json.dumps(entry, ensure_ascii=False))
    first[0] = False


def _file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


_T = TypeVar("_T")


def _chunks(rows: Iterable[_T], size: int) -> Iterator[list[_T]]:
    chunk: list[_T] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
