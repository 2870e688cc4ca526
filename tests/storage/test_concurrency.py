"""Several processes issuing at once against one database: every serial handed out once,
contiguous, nothing lost, and no "database is locked"."""

from __future__ import annotations

from sqlalchemy import Engine

from diplomas.storage import SqlRepository

from .support import issue_many, run_in_processes

WORKERS = 4
EACH = 25


def run_workers(url: str, external_ids: bool) -> list[tuple[int, str, list[str]]]:
    return run_in_processes(issue_many, WORKERS, lambda worker: (url, worker, EACH, external_ids))


def test_concurrent_issuers_get_unique_contiguous_serials(
    db_url: str, engine: Engine, repo: SqlRepository
) -> None:
    outcomes = run_workers(db_url, external_ids=False)

    assert [error for _, error, _ in outcomes if error] == []
    serials = [serial for _, _, mine in outcomes for serial in mine]
    assert len(serials) == WORKERS * EACH
    assert sorted(serials) == [f"TBZMED-1405-{n:06d}" for n in range(1, WORKERS * EACH + 1)]
    for _, _, mine in outcomes:
        assert mine == sorted(mine)  # each worker sees its own numbers rise
    rows, total = repo.search("", 0, 1000)
    assert total == WORKERS * EACH
    assert sorted(d.serial for d in rows) == sorted(serials)
    assert len({d.id for d in rows}) == total


def test_concurrent_issuers_of_the_same_external_ids_issue_each_once(
    db_url: str, engine: Engine, repo: SqlRepository
) -> None:
    outcomes = run_workers(db_url, external_ids=True)

    assert [error for _, error, _ in outcomes if error] == []
    rows, total = repo.search("race-", 0, 1000)
    assert total == EACH
    by_external_id = {d.request.external_id: d.serial for d in rows}
    for _, _, mine in outcomes:
        # Whoever won each race, every worker got the one stored diploma back.
        assert mine == [by_external_id[f"race-{n}"] for n in range(EACH)]
    # The losers' serials were rolled back with their transactions, leaving no gaps.
    assert sorted(by_external_id.values()) == [f"TBZMED-1405-{n:06d}" for n in range(1, EACH + 1)]


def test_concurrent_issuers_get_unique_status_slots(
    db_url: str, engine: Engine, repo: SqlRepository
) -> None:
    outcomes = run_workers(db_url, external_ids=False)

    assert [error for _, error, _ in outcomes if error] == []
    rows, total = repo.search("", 0, 1000)
    slots = [d.status_slot for d in rows]
    assert total == WORKERS * EACH and None not in slots
    assert len(set(slots)) == total
