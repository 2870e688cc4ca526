"""Public verdicts by diploma id, kept in a server's memory while nothing under them changes.

The verdict for a stored diploma follows from three things only: its signed record, which
changes only by a correction; its status (revoked, suspended); and the key ring. So a
verdict may be kept until one of those changes, and the cache learns of every change:

- Revoking, suspending, unsuspending and correcting write an audit entry in the same
  transaction, and so do key events (`core.audit`). Entries are numbered in commit order
  across every process, so reading on from the last number seen (`AuditLog.changes_after`)
  is a complete feed of what the CLI, the batch workers and other server processes changed.
- The key ring is compared whole at each look (keys live in files; a replaced file shows
  in the ring even if no audit entry says so).

The cache looks at the feed every `check_every` seconds. A server looks ahead, on a timer
(`look_ahead`, every half of `check_every`), so that requests find a look due only when
the timer is late (the database away); a request that finds one due makes it, off the
event loop, before answering (others are answered meanwhile from what is kept). A change
made through another process therefore shows here within twice `check_every` seconds; one
made through this process's service shows at once.

Only verdicts on issued diplomas are kept: an id that is unknown now may be issued the
next moment, and malformed or unknown ids must cost the same database lookup (so that
timing does not tell them apart).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar, cast

from .core.audit import AuditAction, Change
from .core.keyring import KeyRing, RecordKey
from .core.ports import AuditLog
from .core.verification import Verdict

T = TypeVar("T")

FEED_PAGE = 1000
"""Audit entries read per query when catching up with the feed."""

_NO_EFFECT = frozenset(
    {
        AuditAction.DIPLOMA_ISSUED,
        AuditAction.DIPLOMAS_ISSUED,
        AuditAction.TOKEN_CREATED,
        AuditAction.TOKEN_USED,
        AuditAction.TOKEN_REVOKED,
        # Mail changes nothing that a verification answers.
        AuditAction.MAIL_RESENT,
        AuditAction.HOLDER_LINK_RENEWED,
    }
)
_STATUS_CHANGES = frozenset(
    {
        AuditAction.DIPLOMA_REVOKED,
        AuditAction.DIPLOMA_SUSPENDED,
        AuditAction.DIPLOMA_UNSUSPENDED,
        AuditAction.DIPLOMA_CORRECTED,
    }
)


def affected(changes: Iterable[Change]) -> tuple[set[str], bool]:
    """The diploma ids whose verdicts `changes` may have changed, and whether every
    verdict may have (a key event, or an action this code does not know)."""
    ids: set[str] = set()
    for change in changes:
        if change.action in _STATUS_CHANGES:
            ids.add(change.subject)
        elif change.action not in _NO_EFFECT:
            return ids, True
    return ids, False


@dataclass(eq=False)
class CachedVerdict:
    """A verdict and the forms it was answered in (the JSON and HTML answers), made once."""

    verdict: Verdict
    status: str = field(init=False)
    """`verdict.status.value`, read on every answer (an enum's value is a slow property)."""
    _forms: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.status = self.verdict.status.value

    def form(self, name: str, make: Callable[[Verdict], T]) -> T:
        """The verdict rendered by `make` (an answer of the web API, say), made on first
        use and kept with the verdict; `make` must always be the same for a name. Two
        threads may both make it once; either copy is the same."""
        made = self._forms.get(name)
        if made is None:
            made = self._forms[name] = make(self.verdict)
        return cast(T, made)


class VerdictCache:
    def __init__(
        self,
        feed: AuditLog,
        *,
        size: int,
        check_every: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if size < 1 or check_every < 0:
            raise ValueError("a verdict cache needs a size of at least 1 and check_every >= 0")
        self._feed = feed
        self._size = size
        self._check_every = check_every
        self._clock = clock
        self._entries: OrderedDict[str, CachedVerdict] = OrderedDict()
        self._lock = threading.Lock()
        self._looking = threading.Lock()
        self._position: int | None = None
        self._ring: tuple[RecordKey, ...] | None = None
        self._checked_at = -float("inf")
        self._look_claimed = False
        self._generation = 0
        """Moves whenever entries are dropped: a verdict worked out while it moved may
        rest on a status read before the change, and is not kept."""

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def check_every(self) -> float:
        return self._check_every

    def fresh(self, diploma_id: str) -> CachedVerdict | None:
        """The kept verdict, unless a look at the feed is due; never waits on I/O, so the
        event loop may call it.

        When a look is due, the first caller to find it so gets None (it then goes to a
        thread, where `look` runs before its answer); the others are answered from what
        is kept while that look is under way, for up to another `check_every`. Sending
        them all to the few verify threads to wait for the same look would stall every
        one of them far longer than the look takes. A kept verdict served is therefore at
        most twice `check_every` old.
        """
        age = self._clock() - self._checked_at
        if age >= self._check_every:
            if age >= 2 * self._check_every:
                return None
            with self._lock:
                if not self._look_claimed:
                    self._look_claimed = True
                    return None
        return self.get(diploma_id)

    def look(self, keyring: Callable[[], KeyRing]) -> None:
        """Apply what changed since the last look, if a look is due (reads the database).
        One thread looks at a time. Ends the claim `fresh` gave its caller, looked or not
        (another thread may have looked meanwhile)."""
        try:
            if self._clock() - self._checked_at >= self._check_every:
                self._look(keyring, self._check_every)
        finally:
            self._look_claimed = False

    def look_ahead(self, keyring: Callable[[], KeyRing]) -> None:
        """Look now if half of `check_every` has passed since the last look (reads the
        database). Called on a timer, it keeps looks ahead of requests: none finds one due,
        not even the first after an idle minute, when every request would otherwise go to
        the verify threads at once."""
        if self._clock() - self._checked_at >= self._check_every / 2:
            self._look(keyring, self._check_every / 2)

    def _look(self, keyring: Callable[[], KeyRing], due_after: float) -> None:
        with self._looking:
            started = self._clock()
            if started - self._checked_at < due_after:
                return  # another thread looked while this one waited
            ring = tuple(keyring())
            if self._position is None:
                position, ids, everything = self._feed.last_seq(), set[str](), True
            else:
                position, ids, everything = self._read_feed(self._position)
            everything = everything or ring != self._ring
            with self._lock:
                if everything:
                    self._entries.clear()
                for diploma_id in ids:
                    self._entries.pop(diploma_id, None)
                if everything or ids:
                    self._generation += 1
                self._position, self._ring = position, ring
            # Anything committed before `started` has been read: the next look is due
            # `check_every` after it, which bounds how stale a kept verdict can be.
            self._checked_at = started

    def _read_feed(self, position: int) -> tuple[int, set[str], bool]:
        ids: set[str] = set()
        while True:
            changes = self._feed.changes_after(position, FEED_PAGE)
            if changes:
                position = changes[-1].seq
            more, everything = affected(changes)
            ids |= more
            if everything:
                return self._feed_end(position), ids, True
            if len(changes) < FEED_PAGE:
                return position, ids, False

    def _feed_end(self, position: int) -> int:
        """Where the feed ends now; the entries in between need not be read, as every
        verdict is dropped. Never before `position`."""
        return max(position, self._feed.last_seq())

    def get(self, diploma_id: str) -> CachedVerdict | None:
        # No lock: each OrderedDict operation is atomic under the GIL, and an entry dropped
        # by another thread between the two was still kept when it was read.
        entry = self._entries.get(diploma_id)
        if entry is not None:
            try:  # noqa: SIM105 (a try costs nothing; suppress() is three calls a request)
                self._entries.move_to_end(diploma_id)
            except KeyError:
                pass
        return entry

    def put(self, diploma_id: str, verdict: Verdict, generation: int) -> CachedVerdict:
        """Keep `verdict`, worked out from a read made at `generation`, unless entries
        were dropped since (it might then predate the change that dropped them)."""
        entry = CachedVerdict(verdict)
        with self._lock:
            if generation == self._generation:
                self._entries[diploma_id] = entry
                self._entries.move_to_end(diploma_id)
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
        return entry

    def forget(self, diploma_id: str) -> None:
        """Drop the verdict for an id whose status this process just changed."""
        with self._lock:
            self._entries.pop(diploma_id, None)
            self._generation += 1
