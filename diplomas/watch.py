"""A running server follows the settings file and the key stores as they change on disk.

`diplomas institutions add`, `diplomas settings set`, an edited `institution.toml`, a key
rotated or a certificate imported by the command line: each changes files that the
server read when it started. The server looks at their sizes and times every second
(`SettingsWatch.check`, a few `stat` calls) and, when something changed, builds a new
service from them, off the event loop, and answers with it from then on. Requests in
flight finish with the service they started with.

Settings that cannot be used (a typo in the file, a URL that is not one) never take
effect: the server keeps answering with the last good ones, logs the problem once, and
`/readyz` names it until the file is mended.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings
from .core.errors import DiplomaError

if TYPE_CHECKING:
    from .service import DiplomaService

log = logging.getLogger("diplomas.settings")

CHECK_SECONDS = 1.0
"""How often a server looks at the settings file and the key stores."""

Stamp = tuple[tuple[str, int, int, int], ...]


def _entry(path: Path, info: os.stat_result) -> tuple[str, int, int, int]:
    return (str(path), info.st_ino, info.st_mtime_ns, info.st_size)


def files_stamp(settings: Settings) -> Stamp:
    """What the service is built from, as (path, inode, mtime, size): the settings file
    and every file of the key stores (the issuer's folder and each co-issuer's in it).
    Hidden files (the lock, temporary files of an atomic write) are left out."""
    found: list[tuple[str, int, int, int]] = []
    with contextlib.suppress(FileNotFoundError):
        found.append(_entry(settings.institution_file, os.stat(settings.institution_file)))
    folders = [settings.keys_dir]
    while folders:
        folder = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                if folder == settings.keys_dir:  # co-issuers' stores, one level down
                    folders.append(Path(entry.path))
                continue
            try:
                found.append(_entry(Path(entry.path), entry.stat()))
            except FileNotFoundError:
                continue
    return tuple(sorted(found))


class SettingsWatch:
    """Builds the service, and builds it again when what it was built from changes."""

    def __init__(self, settings: Settings, build: Callable[[], DiplomaService]) -> None:
        self.settings = settings
        self._build = build
        self._stamp: Stamp | None = None
        self.problem: str | None = None
        """Why the settings on disk are not in effect (None while they are)."""
        self._failing = False

    def build(self) -> DiplomaService:
        """The service from the settings as they are now; raises what building raises."""
        service = self._build()
        # Taken after the build: building may itself write (a moved institution's
        # identity file), and that must not count as a change to build again for.
        self._stamp = files_stamp(self.settings)
        return service

    def check(self) -> DiplomaService | None:
        """A new service if the files changed since the last build and make a good one;
        None if nothing changed, or if what changed cannot be used (see `problem`)."""
        stamp = files_stamp(self.settings)
        if stamp == self._stamp:
            return None
        try:
            service = self.build()
        except DiplomaError as exc:
            self._stamp = stamp  # said once; looked at again when the files change again
            # The public words name no path; the log has the whole sentence.
            self.problem = (
                "the settings changed on disk but cannot be used (the server log says "
                "why); the server keeps answering with the settings it had"
            )
            log.error("the settings changed on disk but cannot be used: %s", exc)
            return None
        except Exception:  # the database away, say: tried again at the next look
            if not self._failing:
                log.warning("the changed settings could not be loaded yet", exc_info=True)
            self._failing = True
            return None
        self._failing = False
        if self.problem is not None:
            log.info("the settings on disk are in effect again")
        else:
            log.info("the settings or keys changed on disk; the server now uses them")
        self.problem = None
        return service
