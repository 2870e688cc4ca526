"""Prometheus metrics of one app: requests, latencies, issuance, verdicts, batches.

Each app has its own registry (tests build many apps in one process). Labels are route
templates (`/v/{diploma_id}`), never raw paths, so strangers cannot grow the series.
Counts are per server process, like the rate limits.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate

from prometheus_client import (
    CollectorRegistry,
    Counter,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector
from starlette.requests import Request

from ..core.ports import BatchStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BUCKET_LABELS = tuple(repr(b) for b in LATENCY_BUCKETS)
"""As Prometheus writes `le` values: 0.001, 2.5, 10.0."""


class BatchProgress(Collector):
    """Running batches and their rows, read from the batch store at scrape time."""

    def __init__(self, store: BatchStore) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            running = self.store.unfinished()
        except Exception:  # a scrape must not fail because the database is away
            return
        yield GaugeMetricFamily(
            "diplomas_batches_running", "Batches queued or running.", value=len(running)
        )
        rows = GaugeMetricFamily(
            "diplomas_batch_rows",
            "Rows of the running batches, by state.",
            labels=["state"],
        )
        for state in ("total", "issued", "skipped", "refused", "done"):
            name = "total_rows" if state == "total" else "done_rows" if state == "done" else state
            rows.add_metric([state], sum(int(getattr(b, name)) for b in running))
        yield rows


Observation = tuple[str, str, int, float, str | None]
"""One request answered: method, route template, status, seconds, verdict given (if any)."""

ISSUED = ("POST", "/api/v1/diplomas", 201)
"""The requests that issued a diploma (by method, route template and status)."""

FOLD_EVERY = 256
"""Requests noted before they are added into the counts."""


class RequestStats(Collector):
    """Requests answered and their latencies, by method, route template and status, plus
    the verdicts given by route: kept as plain counts, turned into Prometheus families
    when scraped (`diplomas_http_requests`, `diplomas_http_request_duration_seconds`,
    `diplomas_verifications`).

    prometheus_client's own Counter and Histogram take a lock per update and walk the
    buckets: together some ten microseconds a request, the largest part of what the
    verify routes cost beyond the framework. Here a request is noted as a tuple on a
    list, and every `FOLD_EVERY` of them are added into the counts at once (in one tight
    loop, which costs a served request far less than the same work done in its midst).
    Only the edge middleware notes requests and folds, on the event loop's thread; a
    scrape (on another thread) copies the counts and the notes under the fold lock, so it
    never sees a request twice or misses one it saw before.
    """

    def __init__(self) -> None:
        # Per series: one count per bucket (the last for +Inf), then the sum of seconds.
        self._series: dict[tuple[str, str, int], list[float]] = {}
        self._verdicts: dict[tuple[str, str], int] = {}
        self._noted: list[Observation] = []
        self._fold_lock = threading.Lock()

    def observe(
        self, method: str, route: str, status: int, seconds: float, verdict: str | None = None
    ) -> None:
        noted = self._noted
        noted.append((method, route, status, seconds, verdict))
        if len(noted) >= FOLD_EVERY:
            with self._fold_lock:
                self._noted = []
                self._fold(noted, self._series, self._verdicts)

    @staticmethod
    def _fold(
        noted: list[Observation],
        series_by_key: dict[tuple[str, str, int], list[float]],
        verdicts: dict[tuple[str, str], int],
    ) -> None:
        for method, route, status, seconds, verdict in noted:
            # A client may send any token as a method: not a new series.
            key = (method if method in HTTP_METHODS else "OTHER", route, status)
            series = series_by_key.get(key)
            if series is None:
                series = series_by_key[key] = [0.0] * (len(LATENCY_BUCKETS) + 2)
            series[bisect_left(LATENCY_BUCKETS, seconds)] += 1
            series[-1] += seconds
            if verdict is not None:
                counted = (route, verdict)
                verdicts[counted] = verdicts.get(counted, 0) + 1

    def _counts(
        self,
    ) -> tuple[dict[tuple[str, str, int], list[float]], dict[tuple[str, str], int]]:
        """A copy of the counts with the requests noted so far added in."""
        with self._fold_lock:
            series = {key: list(counts) for key, counts in self._series.items()}
            verdicts = dict(self._verdicts)
            noted = list(self._noted)
        self._fold(noted, series, verdicts)
        return series, verdicts

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        labels = ["method", "route", "status"]
        requests = CounterMetricFamily(
            "diplomas_http_requests",
            "HTTP requests answered, by method, route template and status.",
            labels=labels,
        )
        latency = HistogramMetricFamily(
            "diplomas_http_request_duration_seconds",
            "Time to answer, by method, route template and status.",
            labels=labels,
        )
        bounds = [*BUCKET_LABELS, "+Inf"]
        series_by_key, verdict_counts = self._counts()
        for key, series in series_by_key.items():
            counts = list(accumulate(series[:-1]))
            method, route, status = key
            names = [method, route, str(status)]
            latency.add_metric(names, list(zip(bounds, counts, strict=True)), series[-1])
            requests.add_metric(names, counts[-1])
        verdicts = CounterMetricFamily(
            "diplomas_verifications",
            "Verdicts given, by route template and verdict.",
            labels=["route", "verdict"],
        )
        for (route, verdict), count in verdict_counts.items():
            verdicts.add_metric([route, verdict], count)
        issued = series_by_key.get(ISSUED, [0.0])
        yield requests
        yield latency
        yield verdicts
        # Counted from the requests that issued one, so that no request pays for it.
        yield CounterMetricFamily(
            "diplomas_issued",
            "Diplomas issued through the API by this process.",
            value=sum(issued[:-1]),
        )


class Metrics:
    def __init__(self, batches: BatchStore | None = None) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = RequestStats()
        self.registry.register(self.requests)
        self.rate_limited = Counter(
            "diplomas_rate_limited",
            "Requests refused with 429, by route template.",
            ["route"],
            registry=self.registry,
        )
        if batches is not None:
            self.registry.register(BatchProgress(batches))

    def render(self) -> bytes:
        return generate_latest(self.registry)


VERDICT_KEY = "diplomas.verdict"
"""Where a route handler leaves the verdict it gave, in the request's ASGI scope; the
edge middleware counts it with the route template once the answer is sent."""


def record_verdict(request: Request, verdict: str) -> None:
    """Note the verdict given by `request` (each request gives at most one)."""
    request.scope[VERDICT_KEY] = verdict
