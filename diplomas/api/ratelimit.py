"""A token bucket per client address, in this process's memory: requests to the public
verify routes, and failed token checks (`deps.authenticate`).

Each client has a bucket of `burst` tokens that refills at `rate_per_minute`; a request
takes one token, or is refused with the seconds until one is back. With several server
processes each keeps its own buckets, so a client gets up to N times the rate.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_CLIENTS = 100_000
"""Buckets kept at most; the least recently seen client is forgotten first (a forgotten
client starts again with a full bucket, which is what it would have had by then anyway
in all but the busiest minutes)."""


class RateLimiter:
    def __init__(
        self,
        rate_per_minute: int,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        if rate_per_minute <= 0 or burst < 1:
            raise ValueError("a rate limiter needs a positive rate and a burst of at least 1")
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self._clock = clock
        self._max = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, client: str) -> float:
        """Take a token for `client`: 0.0 if allowed, else the seconds to wait."""
        now = self._clock()
        with self._lock:
            tokens, stamp = self._buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - stamp) * self.rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[client] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        return wait

    def wait(self, client: str) -> float:
        """The seconds until `client` has a token again (0.0 if it has one), taking none:
        for limits that count only some requests, such as failed ones."""
        now = self._clock()
        with self._lock:
            tokens, stamp = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        """The Retry-After value (whole seconds, at least 1) for a wait."""
        return str(max(1, math.ceil(wait)))
