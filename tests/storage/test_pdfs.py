"""`SqlPdfStore`: PDFs in the database (every replica serves every PDF), each stored
with its digest in one transaction, and PDFs written as files before still read."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine

from diplomas.core.ids import new_diploma_id
from diplomas.core.ports import PdfStore, RecordingPdfStore
from diplomas.storage import FilePdfStore, SqlRepository
from diplomas.storage.pdfs import SqlPdfStore

from .support import NOW, TBZ, record_for, request

PDF = b"%PDF-1.7\n" + bytes(range(256)) + b"\n%%EOF\n"


@pytest.fixture
def files(tmp_path: Path) -> FilePdfStore:
    return FilePdfStore(tmp_path / "pdfs")


@pytest.fixture
def store(engine: Engine, files: FilePdfStore) -> SqlPdfStore:
    return SqlPdfStore(engine, fallback=files)


def test_implements_the_ports(store: SqlPdfStore, files: FilePdfStore) -> None:
    port: PdfStore = store
    assert isinstance(port, RecordingPdfStore)
    assert not isinstance(files, RecordingPdfStore)
    assert store.local_path(new_diploma_id()) is None


def test_put_replace_get_and_many(store: SqlPdfStore) -> None:
    first, second, absent = new_diploma_id(), new_diploma_id(), new_diploma_id()
    assert store.get(first) is None
    store.put(first, PDF)
    store.put(first, b"%PDF-replaced")
    store.put(second, PDF)
    assert store.get(first) == b"%PDF-replaced"
    assert store.get_many([first, second, absent, "../../etc/passwd"]) == {
        first: b"%PDF-replaced",
        second: PDF,
    }
    with pytest.raises(ValueError, match="not a diploma id"):
        store.put("../x", PDF)
    assert store.get("../x") is None


def test_a_pdf_and_its_digest_are_stored_together(store: SqlPdfStore, repo: SqlRepository) -> None:
    diploma, _ = repo.issue(TBZ, request(), "k1", record_for, NOW)
    assert diploma.pdf_sha256 == ""
    [digest] = store.put_recorded([(diploma.id, PDF)])
    assert digest == hashlib.sha256(PDF).hexdigest()
    stored = repo.get(diploma.id)
    assert stored is not None and stored.pdf_sha256 == digest
    assert store.get(diploma.id) == PDF
    # Written again (a retried shard): the new bytes and their digest, never a mix.
    [again] = store.put_recorded([(diploma.id, b"%PDF-again")])
    stored = repo.get(diploma.id)
    assert stored is not None and stored.pdf_sha256 == again
    assert store.get(diploma.id) == b"%PDF-again"


def test_pdfs_written_as_files_before_are_still_read(
    store: SqlPdfStore, files: FilePdfStore
) -> None:
    old, new = new_diploma_id(), new_diploma_id()
    files.put(old, PDF)
    store.put(new, b"%PDF-new")
    assert store.get(old) == PDF
    assert store.get_many([old, new]) == {old: PDF, new: b"%PDF-new"}


def test_writers_of_the_same_pdf_at_once_all_succeed(store: SqlPdfStore) -> None:
    diploma_id = new_diploma_id()
    versions = [b"%PDF-" + bytes([n]) * 1000 for n in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda pdf: store.put(diploma_id, pdf), versions))
    assert store.get(diploma_id) in versions


def test_postgresql_stores_pdfs_as_they_are(store: SqlPdfStore, engine: Engine) -> None:
    """A PDF is compressed already: PostgreSQL keeps it out of line without trying to
    compress it again (migration 0015), which cost its server 0.6 ms a PDF."""
    if engine.dialect.name != "postgresql":
        pytest.skip("a setting of PostgreSQL's columns; SQLite never compresses blobs")
    diploma_id = new_diploma_id()
    # Far over the 2 kB at which PostgreSQL moves a value out of line, and compressible
    # (EXTENDED storage would compress it with pglz).
    pdf = b"%PDF-1.7\n" + b"0 0 1 1 re f\n" * 4000 + b"%%EOF\n"
    store.put(diploma_id, pdf)
    with engine.connect() as connection:
        storage = connection.exec_driver_sql(
            "SELECT attstorage FROM pg_attribute"
            " WHERE attrelid = 'pdfs'::regclass AND attname = 'content'"
        ).scalar_one()
        compression, size = connection.exec_driver_sql(
            "SELECT pg_column_compression(content), pg_column_size(content) FROM pdfs"
            f" WHERE diploma_id = '{diploma_id}'"
        ).one()
    assert storage == "e"  # EXTERNAL
    assert compression is None and size >= len(pdf)
    assert store.get(diploma_id) == pdf
