"""A server's batch, shard by shard (`diplomas.shards`), on SQLite (PDFs as files) and on
PostgreSQL (PDFs in the database): split once, each shard idempotent, a shard taken up
after a crash between its transactions finishing only what is missing, the batch done
when its last row is, and the archive streamed from the rows."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import Instance

from diplomas import shards as shards_module
from diplomas.batches import BatchOptions, BatchService, Row, parsed_rows, roster_file
from diplomas.core.batch import Batch, BatchStatus
from diplomas.core.proposals import Actor
from diplomas.roster import open_roster
from diplomas.service import RecordMaker
from diplomas.shards import Shards

from .rosters import cohort, person, write_roster

ROWS = 23


@pytest.fixture(autouse=True)
def small_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shards_module, "SHARD", 10)


def received(instance: Instance, roster: Path) -> tuple[BatchService, Batch]:
    batches = BatchService(instance.service)
    with open(roster, "rb") as fh:
        batch = batches.receive(roster.name, fh, BatchOptions(Path(".")), Actor("t"))
    assert isinstance(batch, Batch)
    return batches, batch


def test_a_batch_is_split_once_and_each_shard_issues_once(
    instance: Instance, tmp_path: Path
) -> None:
    batches, batch = received(instance, cohort(tmp_path / "c.csv", ROWS))
    runner = Shards(batches)
    prepared = runner.prepare(batch.id)
    assert prepared is not None
    # Rows 2..24 (row 1 is the header), in shards of ten valid rows.
    assert prepared.shards == ((2, 11, 10), (12, 21, 10), (22, 24, 3))
    assert instance.service.batch(batch.id).status is BatchStatus.ISSUING

    assert [runner.issue_shard(batch.id, s) for s in prepared.shards[:2]] == [10, 10]
    half = instance.service.batch(batch.id)
    assert (half.status, half.issued, half.done_rows) == (BatchStatus.ISSUING, 20, 20)
    # Resumed now (a restart): only the shard not complete is left.
    again = runner.prepare(batch.id)
    assert again is not None and again.shards == (prepared.shards[2],)

    pdfs = {d.id: instance.service.pdf(d.id) for d in instance.service.search("", 0, 50)[0]}
    assert runner.issue_shard(batch.id, prepared.shards[2]) == 3
    done = instance.service.batch(batch.id)
    assert (done.status, done.issued, done.skipped) == (BatchStatus.DONE, ROWS, 0)
    assert done.finished_at is not None

    # Run again (a retried job): nothing issued, no PDF made again, nothing changed.
    for shard in prepared.shards:
        assert runner.issue_shard(batch.id, shard) == 0
    diplomas, total = instance.service.search("", 0, 50)
    assert total == ROWS
    assert all(
        instance.service.pdf(d.id) == pdfs.get(d.id, instance.service.pdf(d.id)) for d in diplomas
    )
    serials = sorted(int(d.serial.rsplit("-", 1)[1]) for d in diplomas)
    assert serials == list(range(1, ROWS + 1))


def test_a_shard_cut_between_its_transactions_finishes_only_what_is_missing(
    instance: Instance, tmp_path: Path
) -> None:
    batches, batch = received(instance, cohort(tmp_path / "c.csv", 12))
    runner = Shards(batches)
    prepared = runner.prepare(batch.id)
    assert prepared is not None
    first = prepared.shards[0]
    # A worker committed the first rows' diplomas and died before storing their PDFs.
    kept = instance.service.batches.roster(batch.id)
    assert kept is not None
    with roster_file(kept) as path:
        rows = list(
            parsed_rows(open_roster(path), kept.invalid, batch.template, batch.created_at.date())
        )[:4]
    records = RecordMaker(instance.service, instance.service.clock.now())
    instance.service.repository.issue_many(
        instance.service.institution,
        [(r.request, r.key) for r in rows],
        records.key_id,
        records,
        records.now,
        batch.id,
        rows=[r.number for r in rows],
    )
    stranded = instance.service.batch(batch.id)
    assert (stranded.issued, stranded.done_rows) == (0, 0)  # no PDF, not counted yet

    assert runner.issue_shard(batch.id, first) == 6  # the other six rows of the shard
    diplomas = instance.service.search("", 0, 50)[0]
    assert len(diplomas) == 10
    assert all(
        d.pdf_sha256 == hashlib.sha256(instance.service.pdf(d.id)).hexdigest() for d in diplomas
    )
    assert instance.service.batch(batch.id).issued == 10  # the stranded four count now


def test_the_archive_is_streamed_from_the_rows_in_roster_order(
    instance: Instance, tmp_path: Path
) -> None:
    # Rows 3 and 5 issued already, by an earlier roster: "already issued", once each.
    write_roster(tmp_path / "first.csv", [person(1), person(3)])
    earlier_batches, earlier = received(instance, tmp_path / "first.csv")
    earlier_runner = Shards(earlier_batches)
    prepared = earlier_runner.prepare(earlier.id)
    assert prepared is not None
    for shard in prepared.shards:
        earlier_runner.issue_shard(batch_id=earlier.id, shard=shard)

    batches, batch = received(instance, cohort(tmp_path / "c.csv", 6))
    runner = Shards(batches)
    prepared = runner.prepare(batch.id)
    assert prepared is not None
    for shard in prepared.shards:
        runner.issue_shard(batch.id, shard)
    done = instance.service.batch(batch.id)
    assert (done.status, done.issued, done.skipped) == (BatchStatus.DONE, 4, 2)

    archive = b"".join(runner.archive(done))
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        manifest = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode("utf-8-sig"))))
        assert [int(m["row"]) for m in manifest] == [2, 3, 4, 5, 6, 7]
        assert [m["status"] for m in manifest] == ["issued", "already issued"] * 2 + ["issued"] * 2
        for m in manifest:
            pdf = zf.read(m["file"])
            assert hashlib.sha256(pdf).hexdigest() == m["sha256"]
            assert pdf == instance.service.pdf(m["id"])
        assert sorted(zf.namelist()) == sorted(
            [m["file"] for m in manifest] + ["manifest.csv", "manifest.json"]
        )


def test_a_batch_whose_last_pdfs_were_stored_but_not_marked_done_is_done_when_resumed(
    instance: Instance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process that stored the last shard's PDFs stopped before marking the batch done:
    resuming it (a restart) has no shard left to run, and marks it done itself."""
    batches, batch = received(instance, cohort(tmp_path / "c.csv", 12))
    runner = Shards(batches)
    prepared = runner.prepare(batch.id)
    assert prepared is not None and len(prepared.shards) == 2
    store = instance.service.batches
    finish = store.finish_issuing
    monkeypatch.setattr(store, "finish_issuing", lambda *args, **kwargs: False)  # the crash
    assert [runner.issue_shard(batch.id, s) for s in prepared.shards] == [10, 2]
    monkeypatch.setattr(store, "finish_issuing", finish)
    stuck = instance.service.batch(batch.id)
    assert (stuck.status, stuck.done_rows) == (BatchStatus.ISSUING, 12)

    resumed = runner.prepare(batch.id)
    assert resumed is not None and resumed.shards == ()
    assert resumed.batch.status is BatchStatus.DONE
    done = instance.service.batch(batch.id)
    assert (done.status, done.issued, done.skipped) == (BatchStatus.DONE, 12, 0)
    assert done.finished_at is not None


def test_a_batch_prepared_after_midnight_checks_dates_against_the_day_it_issues_with(
    instance: Instance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Received before midnight and prepared after it: a row dated the new day is refused
    by validation, as its shard would refuse it (a shard issues with the batch's date),
    instead of passing and failing every try of the shard."""
    now = [datetime(2026, 3, 1, 23, 59, 30, tzinfo=UTC)]
    monkeypatch.setattr(instance.service.clock, "now", lambda: now[0])
    rows = [{**person(i), "issued_on": "2026-03-01"} for i in range(5)]
    rows[3]["issued_on"] = "2026-03-02"  # already the day in Tehran
    batches, batch = received(instance, write_roster(tmp_path / "c.csv", rows))
    now[0] = datetime(2026, 3, 2, 0, 0, 30, tzinfo=UTC)  # the queue reaches it after midnight
    batch = Batch(**{**batch.__dict__, "skip_invalid": True})
    instance.service.batches.save(batch)
    runner = Shards(batches)
    prepared = runner.prepare(batch.id)
    assert prepared is not None
    checked = instance.service.batch(batch.id)
    assert [(p.row, p.field) for p in checked.problems] == [(5, "issued_on")]
    assert "future" in checked.problems[0].message
    assert prepared.shards == ((2, 6, 4),)
    assert runner.issue_shard(batch.id, prepared.shards[0]) == 4
    assert instance.service.batch(batch.id).status is BatchStatus.DONE


def test_a_batch_is_done_only_when_the_rows_issued_before_have_their_pdfs(
    instance: Instance, tmp_path: Path
) -> None:
    """Rows issued by an earlier batch that stopped before their PDFs are this batch's to
    render: the batch is not done while one of them has none, even when every other shard
    has finished."""
    roster = cohort(tmp_path / "c.csv", 14)
    batches, old = received(instance, roster)
    Shards(batches).prepare(old.id)
    kept = instance.service.batches.roster(old.id)
    assert kept is not None
    with roster_file(kept) as path:
        rows = list(
            parsed_rows(open_roster(path), kept.invalid, old.template, old.created_at.date())
        )

    def commit_only(batch: Batch, part: list[Row]) -> None:
        """A chunk's transaction, and then the worker killed before the PDFs."""
        records = RecordMaker(instance.service, instance.service.clock.now())
        instance.service.repository.issue_many(
            instance.service.institution,
            [(r.request, r.key) for r in part],
            records.key_id,
            records,
            records.now,
            batch.id,
            rows=[r.number for r in part],
        )

    commit_only(old, rows)
    batches.finish(instance.service.batch(old.id), BatchStatus.FAILED, "stopped")

    _, again = received(instance, roster)
    runner = Shards(batches)
    prepared = runner.prepare(again.id)
    assert prepared is not None and prepared.shards == ((2, 11, 10), (12, 15, 4))
    commit_only(again, rows[:10])  # the first shard's chunk, its worker killed
    assert runner.issue_shard(again.id, prepared.shards[1]) == 0  # only skipped rows
    assert instance.service.batch(again.id).status is BatchStatus.ISSUING
    assert runner.issue_shard(again.id, prepared.shards[0]) == 0  # the sweep's retry
    done = instance.service.batch(again.id)
    assert (done.status, done.issued, done.skipped) == (BatchStatus.DONE, 0, 14)
    diplomas, total = instance.service.search("", 0, 50)
    assert total == 14 and all(d.pdf_sha256 for d in diplomas)
