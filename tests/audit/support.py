"""Worker processes for the concurrency tests (kept free of pytest: spawned processes
import it)."""

from __future__ import annotations

from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from queue import Queue

from storage.support import INSTITUTIONS, NOW, TBZ, hash_national_id, record_for, request

from diplomas.core.audit import AuditAction
from diplomas.storage import SqlRepository, make_engine
from diplomas.storage.audit import SqlAuditLog


def append_and_issue(
    url: str, worker: int, count: int, barrier: Barrier, results: Queue[tuple[int, str]]
) -> None:
    """Alternate bare appends (as token use does) with issuances (entry in the issuing
    transaction), as fast as possible after the barrier."""
    engine = make_engine(url)
    log = SqlAuditLog(engine)
    repo = SqlRepository(engine, INSTITUTIONS, hash_national_id)
    try:
        barrier.wait(timeout=60)
        for n in range(count):
            if n % 2:
                repo.issue(
                    TBZ,
                    request(external_id=f"w{worker}-{n}"),
                    "k1",
                    record_for,
                    NOW,
                    actor=f"worker:{worker}",
                )
            else:
                log.record(
                    datetime.now(UTC),
                    f"worker:{worker}",
                    AuditAction.TOKEN_USED,
                    {"n": n},
                    subject=str(worker),
                )
    except Exception as exc:
        results.put((worker, f"{type(exc).__name__}: {exc}"))
    else:
        results.put((worker, ""))
    finally:
        engine.dispose()
