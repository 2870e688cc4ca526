"""The worker side of bulk issuance: what a worker holds, the tasks it runs, and the pools.

A worker holds a `WorkerState` (renderer, PDF signers, PDF store, institutions), built once
per process by the pool's initializer and passed to each task as its first argument. Two
pools run tasks the same way: `ProcessWorkerPool` on worker processes, and `InProcessPool`,
its twin for one worker (and for the first rows, while the processes start), on a state
made from the service's own objects. Nothing here knows how a state is built from
settings: bootstrap passes that function in (`load_state`), so this module imports
neither bootstrap nor the key stores.

A task takes the state and one picklable argument and returns a picklable result: the
shape a later distributed task (a shard of rows) needs as well.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol, TypeVar

from .atomic import write_atomic
from .core.errors import InvalidInput
from .core.model import DiplomaRequest, Institution
from .core.ports import IssuerKeys, PdfRenderer, PdfSigner, PdfStore
from .service import DiplomaService, TemplateCatalog, check_request, render_signed

_A = TypeVar("_A")
_R = TypeVar("_R")


@dataclass(frozen=True)
class WorkerState:
    """Everything a worker renders, signs and checks with."""

    renderer: PdfRenderer
    templates: TemplateCatalog
    signer: PdfSigner
    co_issuer_keys: Mapping[str, IssuerKeys]
    """Co-issuers' keys by slug: each co-signs the PDFs that name it."""
    issuer: Institution
    co_issuing: Mapping[str, Institution]
    logos: Mapping[str, str]
    pdfs: PdfStore

    @classmethod
    def of_service(cls, service: DiplomaService) -> WorkerState:
        """The state of a worker in the service's own process."""
        return cls(
            renderer=service.renderer,
            templates=service.templates,
            signer=service.pdf_signer,
            co_issuer_keys=service.co_issuer_keys,
            issuer=service.institution,
            co_issuing=service.co_issuing,
            logos=service.logos,
            pdfs=service.pdf_store,
        )


class WorkerPool(Protocol):
    """Runs tasks `task(state, argument)` on workers that each hold a `WorkerState`."""

    def submit(self, task: Callable[[WorkerState, _A], _R], argument: _A) -> Future[_R]: ...

    def ready(self) -> bool:
        """Whether every worker has started (and so loaded keys, design and fonts)."""
        ...

    def broken(self) -> bool:
        """Whether a worker died and took the pool with it: it runs nothing more."""
        ...

    def shutdown(self) -> None: ...


WorkerPoolFactory = Callable[[int, str], WorkerPool]
"""A pool of this many workers, prepared for this design (bootstrap's `worker_pools`)."""


# -- tasks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderJob:
    """One diploma to render, sign and write: the stored PDF and its copy at `path`."""

    diploma_id: str
    record: bytes
    template: str
    path: str
    co_issuers: tuple[str, ...]


@dataclass(frozen=True)
class Rendered:
    diploma_id: str
    sha256: str
    files: tuple[str, ...]
    """The files written (not yet fsynced): the stored PDF, and the copy unless linked."""


def render_jobs(state: WorkerState, jobs: Sequence[RenderJob]) -> list[Rendered]:
    """Render, sign and write each job's PDF.

    Each PDF is written once, into the PDF store, and hard-linked into the output folder
    (so one inode, one fsync), without waiting for the disk: the batch makes the files
    durable before it records their digests, while the workers go on.
    """
    out: list[Rendered] = []
    for job in jobs:
        co_signers = [state.co_issuer_keys[slug].pdf_signer() for slug in job.co_issuers]
        pdf = render_signed(
            state.renderer, state.signer, job.record, job.template, co_signers, state.logos
        )
        state.pdfs.put(job.diploma_id, pdf, durable=False)
        stored = state.pdfs.local_path(job.diploma_id)
        if stored is None:  # in the database: durable already; the copy is a file
            write_atomic(Path(job.path), pdf, durable=False)
            files: tuple[str, ...] = (job.path,)
        else:
            linked = place(stored, Path(job.path), pdf)
            files = (str(stored),) if linked else (str(stored), job.path)
        out.append(Rendered(job.diploma_id, hashlib.sha256(pdf).hexdigest(), files))
    return out


def sign_pages(state: WorkerState, jobs: Sequence[RenderJob]) -> list[tuple[str, bytes]]:
    """Render and sign each job's PDF, and hand it back (a shard stores it with its digest
    in one transaction: `shards`); the jobs' paths are not used."""
    return [
        (
            job.diploma_id,
            render_signed(
                state.renderer,
                state.signer,
                job.record,
                job.template,
                [state.co_issuer_keys[slug].pdf_signer() for slug in job.co_issuers],
                state.logos,
            ),
        )
        for job in jobs
    ]


def place(stored: Path, target: Path, pdf: bytes) -> bool:
    """Put the stored PDF at `target` atomically: a hard link renamed into place (True), or
    a copy across devices (False). Not `write_atomic`: a link has no bytes to write, and
    the caller fsyncs the whole chunk at once."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        os.link(stored, tmp)
    except OSError:
        write_atomic(target, pdf, durable=False)
        return False
    os.replace(tmp, target)
    return True


@dataclass(frozen=True)
class RowCheck:
    """Roster rows to validate as issuance will, on the date `today`."""

    rows: Sequence[Mapping[str, str]]
    template: str
    today: date


Checked = tuple[DiplomaRequest | None, list[tuple[str, str]]]
"""A row's request if it passed, and each (field, message) it was refused for."""


def check_rows(state: WorkerState, check: RowCheck) -> list[Checked]:
    """Validate roster rows as issuance will (`service.check_request`), in a worker: the
    page layout check is most of the time, and the workers are idle until validation ends."""
    out: list[Checked] = []
    for values in check.rows:
        try:
            request, _ = check_request(
                {**values, "template": check.template},
                today=check.today,
                issuer=state.issuer,
                co_issuing=state.co_issuing,
                templates=state.templates,
            )
        except InvalidInput as exc:
            out.append((None, [(p.field, p.message) for p in exc.problems]))
        else:
            out.append((request, []))
    return out


# -- pools -------------------------------------------------------------------------------


class InProcessPool:
    """The worker pool's twin for one worker: the same tasks, run at once in this process."""

    def __init__(self, state: WorkerState) -> None:
        self.state = state

    def submit(self, task: Callable[[WorkerState, _A], _R], argument: _A) -> Future[_R]:
        future: Future[_R] = Future()
        future.set_result(task(self.state, argument))
        return future

    def ready(self) -> bool:
        return True

    def broken(self) -> bool:
        return False

    def shutdown(self) -> None:
        pass


LoadState = Callable[[object, str, dict[str, str]], WorkerState]
"""(settings, template, environment) -> the state of a new worker process."""


class _ProcessState:
    """The state of this worker process, set by the pool's initializer. A process has one
    pool at most; in the parent it stays unset."""

    state: WorkerState | None = None


def _start_worker(
    load_state: LoadState, settings: object, template: str, environment: dict[str, str]
) -> None:
    import gc

    _ProcessState.state = load_state(settings, template, environment)
    # Everything loaded so far (modules, keys, fonts) lives as long as the worker: keep
    # it out of the collector's way (see bench/README.md for what that saves).
    gc.freeze()


def _run(task: Callable[[WorkerState, _A], _R], argument: _A) -> _R:
    state = _ProcessState.state
    assert state is not None, "a task ran outside a started worker"
    return task(state, argument)


class ProcessWorkerPool:
    """A process pool whose workers start at once, from a helper thread.

    Processes start on `submit`, and the first one waits for the forkserver to import the
    heavy modules; a thread submitting a no-op per worker lets the main thread validate
    the roster meanwhile.
    """

    def __init__(
        self, workers: int, load_state: LoadState, settings: object, template: str
    ) -> None:
        self._pool = ProcessPoolExecutor(
            workers,
            mp_context=worker_context(),
            initializer=_start_worker,
            initargs=(load_state, settings, template, dict(os.environ)),
        )
        self._workers = workers
        self._broken = False
        self._started: list[Future[int]] = []
        self._starter = threading.Thread(target=self._start_all, name="start-workers", daemon=True)
        self._starter.start()

    def _start_all(self) -> None:
        self._started.extend(self._pool.submit(int) for _ in range(self._workers))

    def ready(self) -> bool:
        started = list(self._started)
        return len(started) == self._workers and all(f.done() for f in started)

    def submit(self, task: Callable[[WorkerState, _A], _R], argument: _A) -> Future[_R]:
        try:
            future = self._pool.submit(_run, task, argument)
        except BrokenProcessPool:
            self._broken = True
            raise
        future.add_done_callback(self._note_broken)
        return future

    def _note_broken(self, future: Future[_R]) -> None:
        # A worker killed (the kernel's OOM killer, a crash in native code) breaks the
        # whole executor: every later task would fail at once.
        if not future.cancelled() and isinstance(future.exception(), BrokenProcessPool):
            self._broken = True

    def broken(self) -> bool:
        return self._broken

    def shutdown(self) -> None:
        self._starter.join()
        self._pool.shutdown()


def worker_context() -> multiprocessing.context.BaseContext:
    """Workers fork from a server process that imported the heavy modules once: as quick
    to start as fork, without forking a parent that may hold threads and connections."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(
        ["diplomas.batch_workers", "diplomas.bootstrap", "diplomas.render", "diplomas.pdfsign"]
    )
    return context
