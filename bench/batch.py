"""Bulk issuance end to end, and the bare unsigned render rate, in the same run.

    .venv/bin/python bench/batch.py                  # N = 1,000 and 10,000
    .venv/bin/python bench/batch.py --sizes 2000 --workers 2

For each N: a fresh instance (SQLite file unless --database-url), a generated roster of N
rows with Persian names, `BatchRunner.run` (validation, rendering, both signatures,
database, files, manifest) timed as a whole; then the same page rendered unsigned N times
on the same number of worker processes. Each N runs in its own process, so its peak memory
(the main process, and the largest worker) is its own.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FIRST = ["زهرا", "علی", "مریم", "رضا", "سارا", "محمد", "فاطمه", "حسین", "نرگس", "امیر"]
LAST = ["محمدی‌نژاد", "رضایی", "احمدی", "کریمی", "حسینی", "موسوی", "جعفری", "قاسمی"]
LATIN_FIRST = [
    "Zahra",
    "Ali",
    "Maryam",
    "Reza",
    "Sara",
    "Mohammad",
    "Fatemeh",
    "Hossein",
    "Narges",
    "Amir",
]
LATIN_LAST = [
    "Mohammadinejad",
    "Rezaei",
    "Ahmadi",
    "Karimi",
    "Hosseini",
    "Mousavi",
    "Jafari",
    "Ghasemi",
]


def write_roster(path: Path, n: int) -> None:
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
                    f"B-{i:06d}",
                ]
            )


_renderer = None


def _init_render(templates: str) -> None:
    global _renderer
    from diplomas.render import TemplateRenderer

    _renderer = TemplateRenderer(Path(templates))


def _render_many(claims: object, count: int) -> int:
    assert _renderer is not None
    for _ in range(count):
        _renderer.render(claims, "classic")  # type: ignore[arg-type]
    return count


def child(n: int, workers: int, database_url: str) -> dict[str, float]:
    from diplomas.batches import BatchOptions, BatchRunner
    from diplomas.bootstrap import build_service, init_instance
    from diplomas.config import Settings
    from diplomas.core.credential import claims_from_credential
    from diplomas.core.verification import parse_record

    with tempfile.TemporaryDirectory() as tmp:
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

        start = time.perf_counter()
        report = BatchRunner(service, settings).run(roster, options)
        signed_s = time.perf_counter() - start
        if report.batch.issued != n:
            raise SystemExit(f"issued {report.batch.issued} of {n}: {report.batch.message}")
        main_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

        sample = service.search("", 0, 1)[0][0]
        claims = claims_from_credential(parse_record(sample.record))
        per_task = 48
        with ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_render,
            initargs=(str(settings.templates_dir),),
        ) as pool:
            list(pool.map(_render_many, [claims] * workers, [1] * workers))  # warm up
            start = time.perf_counter()
            tasks = [min(per_task, n - i) for i in range(0, n, per_task)]
            done = sum(pool.map(_render_many, [claims] * len(tasks), tasks))
            render_s = time.perf_counter() - start
        assert done == n
        return {
            "n": n,
            "signed_rate": n / signed_s,
            "signed_s": signed_s,
            "render_rate": n / render_s,
            "main_peak_mb": main_peak,
            "worker_peak_mb": worker_peak,
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.workers, args.database_url)))
        return

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
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    header = (
        f"{'N':>7} {'signed/s':>9} {'time s':>7} {'unsigned/s':>11} {'ratio':>6} "
        f"{'main MB':>8} {'worker MB':>10}"
    )
    print(header)
    for r in results:
        print(
            f"{r['n']:>7} {r['signed_rate']:>9.1f} {r['signed_s']:>7.1f} "
            f"{r['render_rate']:>11.1f} {r['signed_rate'] / r['render_rate']:>6.2f} "
            f"{r['main_peak_mb']:>8.1f} {r['worker_peak_mb']:>10.1f}"
        )
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(
            f"peak memory {last['n']} vs {first['n']} rows: main "
            f"{last['main_peak_mb'] / first['main_peak_mb']:.2f}x, workers "
            f"{last['worker_peak_mb'] / first['worker_peak_mb']:.2f}x"
        )


if __name__ == "__main__":
    main()
