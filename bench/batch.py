"""Bulk issuance end to end, and the bare unsigned render rate, in the same run.

    .venv/bin/python bench/batch.py                  # N = 1,000 and 10,000
    .venv/bin/python bench/batch.py --sizes 2000 --workers 2
    .venv/bin/python bench/batch.py --database-url postgresql://postgres@127.0.0.1/test \
        --distributed     # and the same rows on `diplomas worker` processes

With --distributed (PostgreSQL), each N is also issued the server's way, in the same run
and on the same instance (other external ids): the roster received as an upload is, then
as many `diplomas worker` processes as --workers started, the batch deferred, and the time
taken until the batch is done (worker start-up included, as the batch's pool start-up is).
Each N gets a PostgreSQL schema of its own, dropped afterwards.

For each N: a fresh instance (SQLite file unless --database-url), a generated roster of N
rows with Persian names, `BatchService.run` (validation, rendering, both signatures,
database, files, manifest) timed as a whole, worker start-up included; then the same pages
rendered unsigned on the same number of worker processes, started the same way (forkserver)
and prepared the same way (design and fonts loaded, long-lived objects frozen out of the
collector's way), also timed with their start-up, in a fresh process of its own so that
its workers start as cold as the batch's: the very pages the signed pass drew (the
issued diplomas' records, read before the timing starts, each parsed and drawn as the
signed workers do, less the signature).

Each N runs in its own process, so its peak memory is its own: a thread samples the
resident set of the whole process tree from /proc every 20 ms during the batch (the
workers are the forkserver's children, which RUSAGE_CHILDREN never sees), and reports the
main process, the largest worker, and the tree's total. It also sums the tree's CPU time,
so that the cost per diploma can be compared when other processes share the cores and the
wall-clock rates swing.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.batch.rosters import FIRST, LAST, LATIN_FIRST, LATIN_LAST


def write_roster(path: Path, n: int, prefix: str = "B") -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["نام", "نام لاتین", "به پاس", "رشته", "تاریخ صدور", "شناسه"])
        for i in range(n):
            w.writerow(
                [
                    f"{FIRST[i % 10]} {LAST[(i // 10) % 8]}",
                    f"{LATIN_FIRST[i % 10]} {LATIN_LAST[(i // 10) % 8]}",
                    f"بنیان‌گذار شرکت دانش‌بنیان شماره {i}",
                    "فناوری سلامت",
                    "۱۴۰۵/۰۹/۰۱",
                    f"{prefix}-{i:06d}",
                ]
            )


class TreeMonitor:
    """Peak resident memory and CPU time of this process and its descendants, from /proc.

    A thread samples the tree every `interval` seconds. `main_mb` is this process;
    `worker_mb` the largest process two or more levels down (pool workers forked by the
    forkserver; with a spawn pool, the largest child); `tree_mb` the largest total of the
    tree at one instant, helpers included. `cpu_s` is the CPU time (user + system) the
    tree spent inside the `with` block, every process counted up to its last sample.
    """

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.main_mb = self.worker_mb = self.tree_mb = 0.0
        self._me = os.getpid()
        self._ticks = os.sysconf("SC_CLK_TCK")
        self._base: dict[int, int] = {}
        self._last: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def cpu_s(self) -> float:
        return sum(t - self._base.get(pid, 0) for pid, t in self._last.items()) / self._ticks

    def __enter__(self) -> TreeMonitor:
        self.sample()
        self._base = dict(self._last)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
        # The sampler may miss a short spike of the main process; the kernel does not.
        self.main_mb = max(self.main_mb, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        total = 0.0
        level, pids = 0, [self._me]
        while pids:
            children = []
            for pid in pids:
                rss, cpu = _usage(pid)
                if cpu is None:
                    continue
                self._last[pid] = cpu
                total += rss
                if level == 0:
                    self.main_mb = max(self.main_mb, rss)
                elif level >= 2 or self._spawned(pid):
                    self.worker_mb = max(self.worker_mb, rss)
                children.extend(_children(pid))
            level, pids = level + 1, children
        self.tree_mb = max(self.tree_mb, total)

    def _spawned(self, pid: int) -> bool:
        """A direct child that is a spawn pool worker (not a forkserver or tracker)."""
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                return b"multiprocessing.spawn" in fh.read()
        except OSError:
            return False


def _usage(pid: int) -> tuple[float, int | None]:
    """Resident MB and CPU clock ticks (user + system) of `pid`; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        with open(f"/proc/{pid}/status", "rb") as fh:
            status = fh.read()
    except OSError:
        return 0.0, None
    # the command name may hold spaces: the fields that matter follow its ")"
    fields = stat[stat.rindex(b")") + 2 :].split()
    cpu = int(fields[11]) + int(fields[12])
    rss = 0.0
    for line in status.splitlines():
        if line.startswith(b"VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return rss, cpu


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", "rb") as fh:
                found.extend(int(child) for child in fh.read().split())
    except OSError:
        pass
    return found


_renderer = None


def _init_render(templates: str) -> None:
    """The unsigned workers are prepared like the batch's (`diplomas.batches._init_worker`):
    design and fonts loaded, then everything long-lived frozen out of the collector's way."""
    global _renderer
    from diplomas.render import TemplateRenderer

    _renderer = TemplateRenderer(Path(templates))
    _renderer.ensure_template("classic")
    gc.freeze()


def _render_all(records: list[bytes]) -> int:
    """Draw each record's page unsigned, as `service.render_signed` draws it, less the
    signature: claims read back from the record, then the page."""
    from diplomas.core.credential import claims_from_credential
    from diplomas.core.verification import parse_record

    assert _renderer is not None
    for record in records:
        _renderer.render(claims_from_credential(parse_record(record)), "classic")
    return len(records)


def _issued_records(database_url: str) -> list[bytes]:
    """Every record just issued, read before the unsigned pass is timed."""
    import sqlalchemy as sa

    from diplomas.storage.engine import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return [bytes(r) for (r,) in conn.execute(sa.text("SELECT record FROM diplomas"))]
    finally:
        engine.dispose()


def unsigned_pass(records_file: str, workers: int, templates: str) -> dict[str, float]:
    """Draw every record's page unsigned on `workers` processes started the batch's way."""
    from diplomas.batch_workers import worker_context

    records = Path(records_file).read_bytes().splitlines()
    with TreeMonitor() as tree:
        start = time.perf_counter()
        with ProcessPoolExecutor(
            workers,
            mp_context=worker_context(),
            initializer=_init_render,
            initargs=(templates,),
        ) as pool:
            chunks = [records[i : i + 16] for i in range(0, len(records), 16)]
            done = sum(pool.map(_render_all, chunks))
        seconds = time.perf_counter() - start
    return {"done": done, "seconds": seconds, "cpu_s": tree.cpu_s}


def distributed_pass(settings: object, n: int, workers: int) -> dict[str, float]:
    """The same number of rows the server's way: received, deferred, and issued by
    `workers` worker processes (procrastinate on PostgreSQL), timed until done."""
    import asyncio

    from diplomas.batches import BatchOptions, BatchService
    from diplomas.bootstrap import build_service
    from diplomas.config import Settings
    from diplomas.core.batch import Batch, BatchStatus
    from diplomas.core.proposals import Actor
    from diplomas.tasks import Tasks, connector_for

    assert isinstance(settings, Settings)
    service = build_service(settings)
    batches = BatchService(service)
    roster = settings.home / "distributed.csv"
    write_roster(roster, n, prefix="D")
    with open(roster, "rb") as fh:
        batch = batches.receive("distributed.csv", fh, BatchOptions(Path(".")), Actor("bench"))
    assert isinstance(batch, Batch), batch
    env = {
        **os.environ,
        "DIPLOMAS_HOME": str(settings.home),
        "DIPLOMAS_KEYS_DIR": str(settings.keys_dir),
        "DIPLOMAS_KEY_PASSPHRASE": "bench passphrase",
        "DIPLOMAS_DATABASE_URL": settings.database_url,
        "DIPLOMAS_LOG_LEVEL": "WARNING",
    }
    diplomas = str(Path(sys.executable).parent / "diplomas")
    tasks = Tasks(connector_for(settings.database_url), lambda: batches)

    async def defer() -> None:
        async with tasks.app.open_async():
            await tasks.start(batch.id)

    with TreeMonitor() as tree:
        start = time.perf_counter()
        procs = [
            subprocess.Popen([diplomas, "worker"], env=env, stdout=subprocess.DEVNULL)
            for _ in range(workers)
        ]
        try:
            asyncio.run(defer())
            while (done := service.batch(batch.id)).status is not BatchStatus.DONE:
                if done.status.finished:
                    raise SystemExit(f"distributed run {done.status.value}: {done.message}")
                time.sleep(0.05)
            seconds = time.perf_counter() - start
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(60)
    if done.issued != n:
        raise SystemExit(f"distributed run issued {done.issued} of {n}")
    return {"seconds": seconds, "cpu_s": tree.cpu_s, "tree_mb": tree.tree_mb}


@contextlib.contextmanager
def fresh_schema(database_url: str) -> Iterator[str]:
    """A PostgreSQL schema of its own for one run (the URL naming it), dropped after."""
    if not database_url:
        yield ""
        return
    import secrets

    import sqlalchemy as sa

    from diplomas.storage.engine import make_engine

    schema = "bench_" + secrets.token_hex(4)
    admin = make_engine(database_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    joiner = "&" if "?" in database_url else "?"
    try:
        yield f"{database_url}{joiner}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def child(
    n: int, workers: int, database_url: str, where: str, distributed: bool = False
) -> dict[str, float]:
    with fresh_schema(database_url) as url:
        return _child(n, workers, url, where, distributed)


def _child(
    n: int, workers: int, database_url: str, where: str, distributed: bool
) -> dict[str, float]:
    from diplomas.batches import BatchOptions
    from diplomas.bootstrap import build_batches, build_service, init_instance
    from diplomas.config import Settings

    Path(where).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        root = Path(tmp)
        settings = Settings(
            home=root / "var",
            keys_dir=root / "keys",
            database_url=database_url,
            key_passphrase="bench passphrase",
        )  # type: ignore[arg-type]
        init_instance(settings, {})
        service = build_service(settings)
        roster = root / "roster.csv"
        write_roster(roster, n)
        options = BatchOptions(out_dir=root / "out", workers=workers)

        with TreeMonitor() as memory:
            start = time.perf_counter()
            report = build_batches(service, settings).run(roster, options)
            signed_s = time.perf_counter() - start
        if report.batch.issued != n:
            raise SystemExit(f"issued {report.batch.issued} of {n}: {report.batch.message}")

        # The unsigned pass runs in a fresh process of its own, so that it starts its
        # workers cold, as the batch did (this process's forkserver is warm by now).
        records_file = root / "records.jsonl"
        records_file.write_bytes(
            b"".join(r + b"\n" for r in _issued_records(settings.effective_database_url))
        )
        unsigned = json.loads(
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--unsigned",
                    str(records_file),
                    "--workers",
                    str(workers),
                    "--templates",
                    str(settings.templates_dir),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        assert unsigned["done"] == n
        spread = distributed_pass(settings, n, workers) if distributed else None
        return {
            **(
                {
                    "distributed_rate": n / spread["seconds"],
                    "distributed_cpu_ms": spread["cpu_s"] / n * 1000,
                }
                if spread
                else {}
            ),
            "n": n,
            "signed_rate": n / signed_s,
            "signed_s": signed_s,
            "render_rate": n / unsigned["seconds"],
            "signed_cpu_ms": memory.cpu_s / n * 1000,
            "render_cpu_ms": unsigned["cpu_s"] / n * 1000,
            "main_peak_mb": memory.main_mb,
            "worker_peak_mb": memory.worker_mb,
            "tree_peak_mb": memory.tree_mb,
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--database-url", default="")
    parser.add_argument(
        "--dir",
        default=str(Path(__file__).resolve().parents[1] / ".bench"),
        help="where the throw-away instances live (default: .bench in the repository, on "
        "the disk an instance's var/ would be on; here /tmp creates files several times "
        "slower than the rest of the same disk)",
    )
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="also issue each N on `diplomas worker` processes (needs --database-url)",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--unsigned", help=argparse.SUPPRESS)
    parser.add_argument("--templates", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.unsigned:
        print(json.dumps(unsigned_pass(args.unsigned, args.workers, args.templates)))
        return
    if args.child:
        print(
            json.dumps(
                child(args.child, args.workers, args.database_url, args.dir, args.distributed)
            )
        )
        return
    if args.distributed and not args.database_url:
        parser.error("--distributed takes its jobs from PostgreSQL: give --database-url")

    print(
        f"workers: {args.workers} on {os.cpu_count()} cores; "
        f"database: {'PostgreSQL' if args.database_url else 'SQLite file'}"
    )
    results = []
    for n in args.sizes:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(n),
                "--workers",
                str(args.workers),
                "--database-url",
                args.database_url,
                "--dir",
                args.dir,
                *(["--distributed"] if args.distributed else []),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    header = (
        f"{'N':>7} {'signed/s':>9} {'time s':>7} {'unsigned/s':>11} {'ratio':>6} "
        f"{'main MB':>8} {'worker MB':>10} {'tree MB':>8} {'CPU ms signed':>14} "
        f"{'unsigned':>9}"
    )
    print(header)
    for r in results:
        print(
            f"{r['n']:>7} {r['signed_rate']:>9.1f} {r['signed_s']:>7.1f} "
            f"{r['render_rate']:>11.1f} {r['signed_rate'] / r['render_rate']:>6.2f} "
            f"{r['main_peak_mb']:>8.1f} {r['worker_peak_mb']:>10.1f} {r['tree_peak_mb']:>8.1f} "
            f"{r['signed_cpu_ms']:>14.2f} {r['render_cpu_ms']:>9.2f}"
        )
    for r in results:
        if "distributed_rate" in r:
            print(
                f"{r['n']:>7} distributed: {r['distributed_rate']:.1f} signed/s on "
                f"{args.workers} `diplomas worker` processes, "
                f"{r['distributed_rate'] / r['signed_rate']:.2f}x the CLI's "
                f"{r['signed_rate']:.1f} (goal: at least 0.9x); "
                f"{r['distributed_cpu_ms']:.2f} CPU ms a diploma"
            )
    print(
        "ratio = signed/s / unsigned/s (wall clock, same worker count); CPU ms = CPU time of "
        "the whole process tree per diploma (main, forkserver, workers), from /proc"
    )
    if len(results) > 1:
        first, last = results[0], results[-1]
        ratios = ", ".join(
            f"{what} {_ratio(last[key], first[key])}"
            for what, key in (
                ("main", "main_peak_mb"),
                ("largest worker", "worker_peak_mb"),
                ("whole tree", "tree_peak_mb"),
            )
        )
        print(f"peak memory {last['n']} vs {first['n']} rows: {ratios} (goal: at most 1.2x)")


def _ratio(last: float, first: float) -> str:
    return f"{last / first:.2f}x" if first else "n/a (not measured)"


if __name__ == "__main__":
    main()
