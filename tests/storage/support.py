"""Test data shared by the storage tests and the worker processes they spawn.

Kept free of pytest so that a spawned process imports it cheaply.
"""

from __future__ import annotations

import hashlib
import hmac
import multiprocessing
from collections.abc import Callable
from datetime import UTC, date, datetime
from multiprocessing.synchronize import Barrier
from queue import Empty, Queue
from typing import Any

import pytest

from diplomas.core.model import DiplomaRequest, Institution
from diplomas.core.statuslist import StatusEntry
from diplomas.storage import SqlRepository, make_engine

TBZ = Institution(
    slug="tbzmed",
    name="دانشگاه علوم پزشکی تبریز",
    name_en="Tabriz University of Medical Sciences",
    public_url="https://diplomas.tbzmed.example",
    serial_prefix="TBZMED",
)
SUT = Institution(
    slug="sut",
    name="دانشگاه صنعتی سهند",
    name_en="Sahand University of Technology",
    public_url="https://diplomas.sut.example",
    serial_prefix="SUT",
)
INSTITUTIONS = {i.slug: i for i in (TBZ, SUT)}

NATIONAL_ID_KEY = b"test national id key"

# 1404 ends on 2026-03-20; 1405 begins on 2026-03-21.
LAST_DAY_1404 = date(2026, 3, 20)
FIRST_DAY_1405 = date(2026, 3, 21)
NOW = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)


def hash_national_id(national_id: str) -> str:
    return hmac.new(NATIONAL_ID_KEY, national_id.encode(), hashlib.sha256).hexdigest()


def record_for(diploma_id: str, serial: str, status: tuple[StatusEntry, ...] = ()) -> bytes:
    """Stands in for the signed record: anything deterministic and byte-exact."""
    return f'{{"id":"{diploma_id}","serial":"{serial}"}}'.encode()


def request(name: str = "مریم احمدی", **fields: object) -> DiplomaRequest:
    values: dict[str, object] = {"issued_on": FIRST_DAY_1405, "name_en": "Maryam Ahmadi"}
    values.update(fields)
    return DiplomaRequest(name=name, **values)  # type: ignore[arg-type]


def issue_many(
    url: str,
    worker: int,
    count: int,
    external_ids: bool,
    barrier: Barrier,
    results: Queue[tuple[int, str, list[str]]],
) -> None:
    """Worker process: issue `count` diplomas as fast as possible after the barrier.

    With `external_ids`, every worker issues the same external ids, racing the others."""
    engine = make_engine(url)
    repo = SqlRepository(engine, INSTITUTIONS, hash_national_id)
    serials: list[str] = []
    try:
        barrier.wait(timeout=60)
        for n in range(count):
            external_id = f"race-{n}" if external_ids else f"w{worker}-{n}"
            diploma, _created = repo.issue(
                TBZ, request(external_id=external_id), "k1", record_for, NOW
            )
            serials.append(diploma.serial)
    except Exception as exc:
        results.put((worker, f"{type(exc).__name__}: {exc}", serials))
    else:
        results.put((worker, "", serials))
    finally:
        engine.dispose()


def run_in_processes(
    target: Callable[..., None], workers: int, args_of: Callable[[int], tuple[object, ...]]
) -> list[Any]:
    """Start `workers` spawned processes of `target(*args_of(worker), barrier, results)`,
    released together by the barrier; collect one result from each and check they all
    exited cleanly."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    results = context.Queue()
    processes = [
        context.Process(target=target, args=(*args_of(worker), barrier, results))
        for worker in range(workers)
    ]
    for process in processes:
        process.start()
    outcomes = []
    try:
        for _ in processes:
            outcomes.append(results.get(timeout=120))
    except Empty:
        pytest.fail(f"only {len(outcomes)} of {workers} workers reported")
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
    assert [p.exitcode for p in processes] == [0] * workers
    return outcomes
