"""Opening roster files, with unreadable ones turned into a `DocumentError`."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from ..core.errors import DocumentError


def open_binary(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise DocumentError(f"Cannot read the roster {path}: there is no such file.") from None
    except IsADirectoryError:
        raise DocumentError(f"Cannot read the roster {path}: it is a folder.") from None
    except PermissionError:
        raise DocumentError(f"Cannot read the roster {path}: permission denied.") from None
    except OSError as error:
        raise DocumentError(f"Cannot read the roster {path}: {error.strerror}.") from error


def read_head(path: Path, size: int) -> bytes:
    with open_binary(path) as file:
        try:
            return file.read(size)
        except OSError as error:  # e.g. a directory on some systems, an I/O error
            raise DocumentError(f"Cannot read the roster {path}: {error.strerror}.") from error
