"""Files replaced atomically: the one way this project writes a file that a reader, or a
crash, must never see half written.

A temporary file in the same folder (so the rename stays on one file system), its mode
set before any byte is written, fsync of the file, rename over the target, fsync of the
folder (so the rename itself survives a power cut). `durable=False` skips both fsyncs, for
a caller that makes many files durable at once (`fsync_path`, see `diplomas.batches`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

PRIVATE_FILE_MODE = 0o600


@contextlib.contextmanager
def atomic_writer(
    path: str | os.PathLike[str], *, mode: int = PRIVATE_FILE_MODE, durable: bool = True
) -> Iterator[BinaryIO]:
    """A binary file to write `path`'s new content into; it replaces `path` when the block
    ends without an error, and is removed otherwise. Wrap it in `io.TextIOWrapper` (and
    `detach()` it at the end) for text."""
    target = Path(path)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            if hasattr(os, "fchmod"):
                os.fchmod(out.fileno(), mode)  # mkstemp's 0600, or the mode asked for
            yield out
            out.flush()
            if durable:
                os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    if durable:
        fsync_folder(target.parent)


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int = PRIVATE_FILE_MODE,
    durable: bool = True,
) -> None:
    """Replace `path` with `data` atomically (see the module)."""
    with atomic_writer(path, mode=mode, durable=durable) as out:
        out.write(data)


def fsync_folder(folder: str | os.PathLike[str]) -> None:
    """Make the renames in `folder` durable (POSIX); a no-op where folders cannot be opened."""
    if os.name == "posix":
        fsync_path(folder)


def fsync_path(path: str | os.PathLike[str]) -> None:
    """Flush a file, or a folder's entries, to the disk by its name."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
