"""A batch's manifest: one line per roster row issued, as CSV (with a BOM, so Excel shows
Persian text; cells made inert for spreadsheets) and as a JSON array, both written
streaming and replacing the previous ones atomically when complete; and the archive of
the PDFs it names."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from .atomic import PRIVATE_FILE_MODE, atomic_writer
from .core.model import Diploma
from .roster import safe_cell

MANIFEST_FIELDS = (
    "row",
    "serial",
    "id",
    "name",
    "name_en",
    "email",
    "verify_url",
    "holder_url",
    "file",
    "sha256",
    "status",
)
"""A manifest line: where each row's diploma is, and what a mail merge needs (the
holder's name and email, the public link to share and her private link)."""

MANIFEST_CSV = "manifest.csv"
MANIFEST_JSON = "manifest.json"
ARCHIVE = "diplomas.zip"


@dataclass(frozen=True)
class ManifestLine:
    row: int
    serial: str
    id: str
    name: str
    name_en: str
    email: str
    verify_url: str
    holder_url: str
    file: str
    sha256: str
    status: str
    """"issued", or "already issued" (by an earlier run of the same roster)."""


assert tuple(ManifestLine.__dataclass_fields__) == MANIFEST_FIELDS


def manifest_line(
    row: int, diploma: Diploma, holder_url: str, file: str, sha256: str, created: bool
) -> ManifestLine:
    """A roster row's line: its diploma, where its PDF is, and what a mail merge needs."""
    return ManifestLine(
        row=row,
        serial=diploma.serial,
        id=diploma.id,
        name=diploma.request.name,
        name_en=diploma.request.name_en,
        email=diploma.request.email,
        verify_url=diploma.verify_url,
        holder_url=holder_url,
        file=file,
        sha256=sha256,
        status="issued" if created else "already issued",
    )


class ManifestWriter:
    """Writes manifest lines to both files, in the order given."""

    def __init__(self, csv_file: TextIO, json_file: TextIO) -> None:
        self._csv = csv.writer(csv_file)
        self._json = json_file
        self._lines = 0
        self._csv.writerow(MANIFEST_FIELDS)
        self._json.write("[")

    def write(self, line: ManifestLine) -> None:
        entry = asdict(line)
        self._csv.writerow([safe_cell(str(entry[k])) for k in MANIFEST_FIELDS])
        self._json.write(
            ("\n  " if not self._lines else ",\n  ") + json.dumps(entry, ensure_ascii=False)
        )
        self._lines += 1

    def close(self) -> None:
        self._json.write("\n]\n")


@contextlib.contextmanager
def writing_manifest(folder: Path) -> Iterator[ManifestWriter]:
    """A writer of `folder`'s manifest.csv and manifest.json, which replace the old ones
    when the block ends without an error (readable by the owner only: they name people)."""
    with (
        atomic_writer(folder / MANIFEST_CSV, mode=PRIVATE_FILE_MODE) as raw_csv,
        atomic_writer(folder / MANIFEST_JSON, mode=PRIVATE_FILE_MODE) as raw_json,
    ):
        text_csv = io.TextIOWrapper(raw_csv, encoding="utf-8-sig", newline="")
        text_json = io.TextIOWrapper(raw_json, encoding="utf-8")
        writer = ManifestWriter(text_csv, text_json)
        yield writer
        writer.close()
        for text in (text_csv, text_json):
            text.flush()
            text.detach()  # the raw files are `atomic_writer`'s to close


def write_archive(folder: Path) -> Path:
    """One zip of every PDF named in `folder`'s manifest, plus the manifests, written
    streaming (the PDFs are stored: they are compressed already)."""
    archive = folder / ARCHIVE
    manifests = (folder / MANIFEST_CSV, folder / MANIFEST_JSON)
    with (
        atomic_writer(archive, mode=PRIVATE_FILE_MODE) as raw,
        zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_STORED) as zf,
    ):
        with open(manifests[0], encoding="utf-8-sig", newline="") as fh:
            for entry in csv.DictReader(fh):
                zf.write(folder / entry["file"], entry["file"])
        for manifest in manifests:
            zf.write(manifest, manifest.name)
    return archive


class _Sink(io.RawIOBase):
    """Where a streamed zip is written: its bytes are taken out as they come."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        taken = b"".join(self._parts)
        self._parts.clear()
        return taken


def stream_archive(entries: Iterable[tuple[ManifestLine, bytes]]) -> Iterator[bytes]:
    """The archive `write_archive` makes, made from manifest lines and their PDFs instead
    of a folder, and handed out in pieces as it is written: a
    server streams it from the database without keeping it anywhere. The manifests go
    to temporary files meanwhile (they are written last), so memory stays flat."""
    sink = _Sink()
    with (
        tempfile.SpooledTemporaryFile(1 << 20) as raw_csv,
        tempfile.SpooledTemporaryFile(1 << 20) as raw_json,
    ):
        text_csv = io.TextIOWrapper(raw_csv, encoding="utf-8-sig", newline="")
        text_json = io.TextIOWrapper(raw_json, encoding="utf-8")
        writer = ManifestWriter(text_csv, text_json)
        # A stream cannot seek: zipfile writes each entry's sizes after its data.
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as zf:
            for line, pdf in entries:
                writer.write(line)
                zf.writestr(line.file, pdf)
                yield sink.take()
            writer.close()
            for name, text in ((MANIFEST_CSV, text_csv), (MANIFEST_JSON, text_json)):
                text.flush()
                text.seek(0)
                with zf.open(name, "w") as entry:
                    shutil.copyfileobj(text.buffer, entry)
                yield sink.take()
        yield sink.take()
