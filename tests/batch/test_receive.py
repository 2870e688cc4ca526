"""Receiving an uploaded roster is the batch service's: kept with its batch in the
database (where every replica and worker reads it) and queued, or refused with nothing
kept and nothing left for a restart to resume."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from conftest import Instance

from diplomas.batches import BatchOptions, BatchService
from diplomas.core.batch import Batch, BatchStatus
from diplomas.core.errors import DocumentError, UploadTooLarge
from diplomas.core.proposals import Actor

from .rosters import cohort

LIMIT = 1 << 20


def batches(instance: Instance) -> BatchService:
    return BatchService(instance.service, max_roster_bytes=LIMIT)


def test_a_roster_is_kept_and_its_batch_queued(instance: Instance, tmp_path: Path) -> None:
    roster = cohort(tmp_path / "cohort.csv", 3)
    received = batches(instance).receive(
        "../../cohort.CSV", io.BytesIO(roster.read_bytes()), BatchOptions(Path(".")), Actor("t")
    )
    assert isinstance(received, Batch)
    batch = instance.service.batch(received.id)
    assert batch.status is BatchStatus.QUEUED and batch.source == "cohort.CSV"
    kept = instance.service.batches.roster(batch.id)
    assert kept is not None and kept.name == "roster.csv"
    assert kept.content == roster.read_bytes()
    assert kept.sha256 == hashlib.sha256(roster.read_bytes()).hexdigest()
    assert kept.shards == ()  # split when it runs


def test_a_roster_past_the_limit_is_refused_and_not_kept(instance: Instance) -> None:
    service = instance.service
    with pytest.raises(UploadTooLarge, match="larger than 1 MB"):
        batches(instance).receive(
            "big.csv", io.BytesIO(b"a" * (LIMIT + 1)), BatchOptions(Path(".")), Actor("t")
        )
    [batch] = service.recent_batches()
    assert batch.status is BatchStatus.REFUSED
    assert service.batches.roster(batch.id) is None
    assert service.batches.unfinished() == []


def test_a_file_that_is_no_roster_is_refused_first(instance: Instance) -> None:
    with pytest.raises(DocumentError, match="a roster must be one of"):
        batches(instance).receive(
            "diploma.pdf", io.BytesIO(b"%PDF-"), BatchOptions(Path(".")), Actor("t")
        )
    assert instance.service.recent_batches() == []


def test_a_roster_kept_in_a_folder_before_the_upgrade_is_adopted(
    instance: Instance, tmp_path: Path
) -> None:
    service = instance.service
    service_batches = batches(instance)
    queued = service_batches.new_batch("old.csv", BatchOptions(Path(".")))
    done = service_batches.new_batch("done.csv", BatchOptions(Path(".")), BatchStatus.DONE)
    roster = cohort(tmp_path / "cohort.csv", 2)
    for batch in (queued, done):
        folder = instance.settings.home / "batches" / batch.id
        folder.mkdir(parents=True)
        (folder / "roster.csv").write_bytes(roster.read_bytes())
    assert service_batches.adopt_folder_rosters(instance.settings.home) == [queued.id]
    kept = service.batches.roster(queued.id)
    assert kept is not None and kept.content == roster.read_bytes()
    assert service.batches.roster(done.id) is None  # finished: nothing to resume
    assert service_batches.adopt_folder_rosters(instance.settings.home) == []
