"""The audit log in the database: entries written in the transaction of the change they
record, tampering done directly in the database caught by verification, and one linear
chain under concurrent writers in several processes (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from storage.support import NOW, TBZ, record_for, request, run_in_processes

from diplomas.core.audit import AuditAction
from diplomas.core.errors import Conflict
from diplomas.core.ports import TokenRecord
from diplomas.storage import SqlRepository
from diplomas.storage.audit import SqlAuditLog

from .support import append_and_issue


@pytest.fixture
def log(engine: Engine) -> SqlAuditLog:
    return SqlAuditLog(engine)


def actions(log: SqlAuditLog) -> list[tuple[str, str, str]]:
    return [(e.action, e.actor, e.subject) for e in reversed(log.entries())]


def test_every_change_writes_one_entry_naming_who_what_and_when(
    repo: SqlRepository, log: SqlAuditLog
) -> None:
    d, created = repo.issue(TBZ, request(external_id="e1"), "k1", record_for, NOW, actor="cli:ali")
    assert created
    again, created = repo.issue(TBZ, request(external_id="e1"), "k1", record_for, NOW)
    assert not created and again.id == d.id  # nothing issued, nothing recorded
    repo.suspend(d.id, "checking", NOW, actor="token:aa")
    repo.unsuspend(d.id, NOW, actor="token:aa")
    repo.revoke(d.id, "error", NOW, actor="token:bb")
    with pytest.raises(Conflict):
        repo.revoke(d.id, "twice", NOW, actor="token:bb")
    repo.add_token(TokenRecord("t1", "registrar", "h", frozenset({"read"}), NOW), actor="cli:ali")
    repo.revoke_token("t1", NOW, actor="cli:ali")

    assert actions(log) == [
        ("diploma.issued", "cli:ali", d.id),
        ("diploma.suspended", "token:aa", d.id),
        ("diploma.unsuspended", "token:aa", d.id),
        ("diploma.revoked", "token:bb", d.id),
        ("token.created", "cli:ali", "t1"),
        ("token.revoked", "cli:ali", "t1"),
    ]
    newest = log.entries(1)[0]
    assert newest.at == NOW and newest.seq == 6
    issued = log.entries(action="diploma.issued")[0]
    assert issued.details == {"diploma": d.id, "serial": d.serial, "key_id": "k1"}
    revoked = log.entries(action="diploma.revoked")[0]
    assert revoked.details["reason"] == "error"
    created_token = log.entries(action="token.created")[0]
    assert created_token.details == {"token": "t1", "name": "registrar", "scopes": "read"}
    assert log.verify().intact


def test_a_failed_issuance_leaves_no_entry(repo: SqlRepository, log: SqlAuditLog) -> None:
    def failing(*_: object) -> bytes:
        raise RuntimeError("signing failed")

    with pytest.raises(RuntimeError):
        repo.issue(TBZ, request(), "k1", failing, NOW)
    assert log.entries() == []
    head = log.head()
    assert head is not None and head.seq == 0


def test_a_bulk_chunk_is_one_entry_listing_only_its_new_diplomas(
    repo: SqlRepository, log: SqlAuditLog
) -> None:
    def make(req: object, diploma_id: str, serial: str, status: object) -> bytes:
        return record_for(diploma_id, serial)

    items = [(request(name=f"n{i}"), f"row:{i}") for i in range(5)]
    first = repo.issue_many(TBZ, items[:3], "k1", make, NOW, batch_id="b1")
    second = repo.issue_many(TBZ, items, "k1", make, NOW, batch_id="b1")
    again = repo.issue_many(TBZ, items, "k1", make, NOW, batch_id="b1")
    assert [c for _, c in again] == [False] * 5
    entries = list(reversed(log.entries()))
    assert [(e.action, e.actor, e.subject) for e in entries] == [
        ("diplomas.issued", "batch:b1", "b1"),
        ("diplomas.issued", "batch:b1", "b1"),
    ]
    assert entries[0].details["diplomas"] == [[d.id, d.serial] for d, _ in first]
    assert entries[1].details["diplomas"] == [[d.id, d.serial] for d, c in second if c]
    assert log.verify().intact


# -- tampering directly in the database -------------------------------------------------


def tamper(engine: Engine, *statements: str) -> None:
    """Run SQL as someone with write access to the tables would, past the PostgreSQL
    append-only triggers."""
    with engine.begin() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER USER")
            connection.exec_driver_sql("ALTER TABLE audit_head DISABLE TRIGGER USER")
        for statement in statements:
            connection.execute(text(statement))
        if postgres:
            connection.exec_driver_sql("ALTER TABLE audit_log ENABLE TRIGGER USER")
            connection.exec_driver_sql("ALTER TABLE audit_head ENABLE TRIGGER USER")


def filled(repo: SqlRepository, count: int = 5) -> None:
    for i in range(count):
        repo.issue(TBZ, request(external_id=f"x{i}"), "k1", record_for, NOW, actor="cli:ali")


TAMPERING: dict[str, tuple[list[str], int, str]] = {
    "edit details": (
        ['UPDATE audit_log SET details = \'{"diploma":"forged"}\' WHERE seq = 3'],
        3,
        "entry 3 was edited",
    ),
    "edit actor": (["UPDATE audit_log SET actor = 'cli:mallory' WHERE seq = 2"], 2, "edited"),
    "edit action": (["UPDATE audit_log SET action = 'diploma.revoked' WHERE seq = 4"], 4, "edited"),
    "edit with a recomputed hash": (
        ["UPDATE audit_log SET hash = (SELECT hash FROM audit_log WHERE seq = 1) WHERE seq = 2"],
        2,
        "edited",
    ),
    "edit the last entry": (["UPDATE audit_log SET subject = 'x' WHERE seq = 5"], 5, "edited"),
    "delete": (["DELETE FROM audit_log WHERE seq = 3"], 3, "entry 3 is missing"),
    "delete the first": (["DELETE FROM audit_log WHERE seq = 1"], 1, "entry 1 is missing"),
    "reorder": (
        [
            "UPDATE audit_log SET seq = 100 WHERE seq = 2",
            "UPDATE audit_log SET seq = 2 WHERE seq = 3",
            "UPDATE audit_log SET seq = 3 WHERE seq = 100",
        ],
        2,
        "",
    ),
    "truncate": (
        ["DELETE FROM audit_log WHERE seq > 3"],
        4,
        "the chain head records 5 entries but the log ends at entry 3",
    ),
    "truncate and move the head back": (
        [
            "DELETE FROM audit_log WHERE seq = 5",
            "UPDATE audit_head SET seq = 4",
        ],
        4,
        "does not hash to the value in the chain head",
    ),
    "delete the head": (["DELETE FROM audit_head"], 5, "the chain head is missing"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tampering_in_the_database_is_caught(
    engine: Engine, repo: SqlRepository, log: SqlAuditLog, case: str
) -> None:
    filled(repo)
    assert log.verify().intact
    statements, broken_at, why = TAMPERING[case]
    tamper(engine, *statements)
    verdict = log.verify()
    assert not verdict.intact
    if case != "delete the head":
        assert verdict.broken_at == broken_at, verdict.reasons
    assert why in verdict.reasons[0]


def test_an_edited_time_is_caught(engine: Engine, repo: SqlRepository, log: SqlAuditLog) -> None:
    filled(repo, 3)
    later = (NOW + timedelta(hours=1)).replace(tzinfo=None)
    value = later.isoformat(sep=" ") if engine.dialect.name == "sqlite" else f"{later}+00"
    tamper(engine, f"UPDATE audit_log SET at = '{value}' WHERE seq = 2")
    verdict = log.verify()
    assert verdict.broken_at == 2 and "edited" in verdict.reasons[0]


def test_postgresql_refuses_updates_and_deletes(
    engine: Engine, repo: SqlRepository, log: SqlAuditLog
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's")
    filled(repo, 2)
    for statement in (
        "UPDATE audit_log SET actor = 'x' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 2",
        "DELETE FROM audit_head",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    assert log.verify().intact


def test_no_code_path_updates_or_deletes_entries() -> None:
    from pathlib import Path

    import diplomas

    root = Path(diplomas.__file__).parent
    for path in root.rglob("*.py"):
        source = path.read_text()
        if "AuditEntryRow" in source or "audit_log" in source:
            for word in ("delete(AuditEntryRow", "update(AuditEntryRow", "session.delete("):
                assert word not in source, f"{path.name} may rewrite the audit log"


# -- concurrency ------------------------------------------------------------------------

WORKERS = 4
EACH = 20


def run_workers(url: str, target: Callable[..., None]) -> list[tuple[int, str]]:
    return run_in_processes(target, WORKERS, lambda worker: (url, worker, EACH))


def test_concurrent_writers_keep_one_linear_chain(
    db_url: str, engine: Engine, log: SqlAuditLog
) -> None:
    outcomes = run_workers(db_url, append_and_issue)
    assert [error for _, error in outcomes if error] == []
    verdict = log.verify()
    assert verdict.intact, verdict.reasons
    assert verdict.checked == WORKERS * EACH
    entries = log.entries()
    assert sorted(e.seq for e in entries) == list(range(1, WORKERS * EACH + 1))
    by_worker = {w: [e for e in entries if e.actor == f"worker:{w}"] for w in range(WORKERS)}
    assert all(len(mine) == EACH for mine in by_worker.values())
    issued = [e for e in entries if e.action == AuditAction.DIPLOMA_ISSUED]
    assert len(issued) == WORKERS * EACH // 2
    with engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT count(*) FROM diplomas").scalar()
    assert stored == len(issued)  # an entry exactly when the change
