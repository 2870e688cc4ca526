from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from diplomas.core.ids import new_diploma_id
from diplomas.core.ports import PdfStore
from diplomas.storage import FilePdfStore

PDF = b"%PDF-1.7\n" + bytes(range(256)) + b"\n%%EOF\n"


@pytest.fixture
def store(tmp_path: Path) -> FilePdfStore:
    return FilePdfStore(tmp_path / "pdfs")


def test_implements_the_port(store: FilePdfStore) -> None:
    port: PdfStore = store
    assert port is store


def test_put_then_get(store: FilePdfStore) -> None:
    diploma_id = new_diploma_id()
    assert store.get(diploma_id) is None
    store.put(diploma_id, PDF)
    assert store.get(diploma_id) == PDF
    store.put(diploma_id, b"%PDF-replaced")
    assert store.get(diploma_id) == b"%PDF-replaced"
    assert sorted(p.name for p in store.directory.iterdir()) == [f"{diploma_id}.pdf"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_files_are_not_world_readable(store: FilePdfStore) -> None:
    diploma_id = new_diploma_id()
    store.put(diploma_id, PDF)
    mode = stat.S_IMODE(store.path(diploma_id).stat().st_mode)
    assert mode & 0o007 == 0
    assert mode & 0o600 == 0o600


@pytest.mark.parametrize(
    "bad",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "..",
        "",
        "a" * 22,
        "a" * 24,
        "-" + "a" * 22,
        "a" * 21 + "/x",
        "a" * 22 + ".",
        "a" * 21 + "\x00a",
    ],
)
def test_ids_that_are_not_diploma_ids_never_reach_the_filesystem(
    store: FilePdfStore, tmp_path: Path, bad: str
) -> None:
    assert store.get(bad) is None
    with pytest.raises(ValueError, match="not a diploma id"):
        store.put(bad, PDF)
    assert list(tmp_path.rglob("*")) == []


def test_a_failed_write_leaves_the_old_file_and_no_litter(
    store: FilePdfStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    diploma_id = new_diploma_id()
    store.put(diploma_id, PDF)

    def broken_replace(_src: str, _dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.put(diploma_id, b"%PDF-new")
    assert store.get(diploma_id) == PDF
    assert [p.name for p in store.directory.iterdir()] == [f"{diploma_id}.pdf"]
