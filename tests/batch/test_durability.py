"""A chunk's PDFs reach the disk before their digests are recorded, and nothing else waits."""

from __future__ import annotations

from pathlib import Path

import pytest

import diplomas.batches as batches
from diplomas.batches import BatchOptions
from diplomas.bootstrap import build_batches, build_service, init_instance
from diplomas.config import Settings

from .rosters import cohort


@pytest.mark.parametrize("workers", [1, 2])
def test_every_pdf_is_fsynced_before_its_digest_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    settings = Settings(
        home=tmp_path / "var", keys_dir=tmp_path / "keys", key_passphrase="a test passphrase"
    )  # type: ignore[arg-type]
    init_instance(settings, {})
    service = build_service(settings)
    events: list[tuple[str, str]] = []
    real_fsync = batches.fsync_path

    def fsync(path: str) -> None:
        real_fsync(path)
        events.append(("fsync", str(Path(path).resolve())))

    record_digests = service.repository.set_pdf_sha256_many

    def record(pairs: list[tuple[str, str]]) -> None:
        events.extend(("recorded", diploma_id) for diploma_id, _ in pairs)
        record_digests(pairs)

    monkeypatch.setattr(batches, "fsync_path", fsync)
    monkeypatch.setattr(service.repository, "set_pdf_sha256_many", record)
    monkeypatch.setattr(batches, "CHUNK", 8)  # several chunks in flight

    out = tmp_path / "out"
    report = build_batches(service, settings).run(
        cohort(tmp_path / "cohort.csv", 20), BatchOptions(out_dir=out, workers=workers)
    )

    assert report.batch.issued == 20
    stored = service.pdf_store
    for diploma in service.search("", 0, 30)[0]:
        synced = events.index(("fsync", str(stored.path(diploma.id).resolve())))
        assert synced < events.index(("recorded", diploma.id))
        # the copy in the output folder is a hard link to the same, fsynced, file
        assert (out / f"{diploma.serial}.pdf").stat().st_ino == stored.path(
            diploma.id
        ).stat().st_ino
    folders = {path for kind, path in events if kind == "fsync" and Path(path).is_dir()}
    assert {str(out.resolve()), str(stored.path(diploma.id).parent.resolve())} <= folders
