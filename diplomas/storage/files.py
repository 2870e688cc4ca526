"""`FilePdfStore`: signed PDFs as files named `<diploma id>.pdf` in one directory."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..atomic import write_atomic
from ..core.ids import is_diploma_id

FILE_MODE = 0o640
DIRECTORY_MODE = 0o750


class FilePdfStore:
    """Writes are atomic (temporary file in the same directory, fsync, rename), so a
    reader sees the old PDF or the new one, never half of one. Only well-formed diploma
    ids name files, so no id can reach outside the directory."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def path(self, diploma_id: str) -> Path:
        if not is_diploma_id(diploma_id):
            raise ValueError(f"{diploma_id!r} is not a diploma id")
        return self.directory / f"{diploma_id}.pdf"

    def local_path(self, diploma_id: str) -> Path | None:
        return self.path(diploma_id)

    def put(self, diploma_id: str, pdf: bytes, *, durable: bool = True) -> None:
        """Write atomically; with durable=False skip the fsyncs, for a caller that makes a
        whole chunk of files durable at once (see `batches`)."""
        target = self.path(diploma_id)
        self.directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        write_atomic(target, pdf, mode=FILE_MODE, durable=durable)

    def get(self, diploma_id: str) -> bytes | None:
        if not is_diploma_id(diploma_id):
            return None
        try:
            return (self.directory / f"{diploma_id}.pdf").read_bytes()
        except FileNotFoundError:
            return None

    def get_many(self, diploma_ids: Sequence[str]) -> dict[str, bytes]:
        found = ((diploma_id, self.get(diploma_id)) for diploma_id in diploma_ids)
        return {diploma_id: pdf for diploma_id, pdf in found if pdf is not None}
