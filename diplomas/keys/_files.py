"""Private files: created 0600 in one step, never overwritten, flushed to disk.

Every private file is opened with O_CREAT | O_EXCL and mode 0600, so there is no moment
in which it exists with looser permissions and no way to clobber an existing key. The
only file that is ever replaced is public metadata, and that goes through a fresh
temporary file and an atomic rename.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from ..atomic import fsync_path, write_atomic
from ..core.errors import KeyStoreError

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def ensure_private_dir(directory: Path) -> None:
    """Create `directory` (and parents) if missing; tighten the directory itself to 0700."""
    try:
        directory.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        if stat.S_IMODE(directory.stat().st_mode) != PRIVATE_DIR_MODE:
            directory.chmod(PRIVATE_DIR_MODE)
    except OSError as exc:
        raise KeyStoreError(f"cannot create the key directory {directory}: {exc.strerror}") from exc


def _fsync_dir(directory: Path) -> None:
    fsync_path(directory)


def write_new_file(path: Path, data: bytes) -> None:
    """Write `data` to a file that must not exist yet, mode 0600, and flush it to disk.

    Raises FileExistsError when the file is already there (nothing is written then).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    os.close(fd)
    _fsync_dir(path.parent)


def replace_file(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data` (mode 0600) through a fresh temporary file."""
    write_atomic(path, data, mode=PRIVATE_FILE_MODE)


def read_private_file(path: Path) -> bytes:
    """Read a private file, refusing one that other users may read or write."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise KeyStoreError(f"cannot read {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as handle:
        mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
        if mode & 0o077:
            raise KeyStoreError(
                f"{path} is accessible to other users (mode {mode:04o}); "
                f"restrict it with: chmod 600 {path}"
            )
        return handle.read()


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on the key directory while changing what is in it."""
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
