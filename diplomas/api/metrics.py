"""Prometheus metrics of one app: requests, latencies, issuance, verdicts, batches.

Each app has its own registry (tests build many apps in one process). Labels are route
templates (`/v/{diploma_id}`), never raw paths, so strangers cannot grow the series.
Counts are per server process, like the rate limits.
"""

from __future__ import annotations

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


class RequestStats(Collector):
    """Requests answered and their latencies, by method, route template and status, plus
    the verdicts given by route: kept as plain counts, turned into Prometheus families
    when scraped (`diplomas_http_requests`, `diplomas_http_request_duration_seconds`,
    `diplomas_verifications`).

    prometheus_client's own Counter and Histogram take a lock per update and walk the
    buckets: together some ten microseconds a request, the largest part of what the
    verify routes cost beyond the framework. Only the request middleware writes here,
    from the event loop's thread; a scrape reads a consistent enough copy.
    """

    def __init__(self) -> None:
        # Per series: one count per bucket (the last for +Inf), then the sum of seconds.
        self._series: dict[tuple[str, str, str], list[float]] = {}
        self._verdicts: dict[tuple[str, str], int] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, str(status))
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        series[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        series[-1] += seconds

    def verdict(self, route: str, verdict: str) -> None:
        key = (route, verdict)
        self._verdicts[key] = self._verdicts.get(key, 0) + 1

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
        for key, series in list(self._series.items()):
            counts = list(accumulate(series[:-1]))
            latency.add_metric(list(key), list(zip(bounds, counts, strict=True)), series[-1])
            requests.add_metric(list(key), counts[-1])
        verdicts = CounterMetricFamily(
            "diplomas_verifications",
            "Verdicts given, by route template and verdict.",
            labels=["route", "verdict"],
        )
        for (route, verdict), count in list(self._verdicts.items()):
            verdicts.add_metric([route, verdict], count)
        yield requests
        yield latency
        yield verdicts


class Metrics:
    def __init__(self, batches: BatchStore | None = None) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = RequestStats()
        self.registry.register(self.requests)
        self.issued = Counter(
            "diplomas_issued",
            "Diplomas issued through the API by this process.",
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "diplomas_rate_limited",
            "Requests refused with 429, by route template.",
            ["route"],
            registry=self.registry,
        )
        if batches is not None:
            self.registry.register(BatchProgress(batches))

    def observe_request(
        self, method: str, route: str, status: int, seconds: float, verdict: str | None
    ) -> None:
        if method not in HTTP_METHODS:
            method = "OTHER"  # a client may send any token as a method: not a new series
        self.requests.observe(method, route, status, seconds)
        if status == 201 and method == "POST" and route == "/api/v1/diplomas":
            self.issued.inc()
        if verdict is not None:
            self.requests.verdict(route, verdict)

    def render(self) -> bytes:
        return generate_latest(self.registry)


VERDICT_KEY = "diplomas.verdict"
"""Where a route handler leaves the verdict it gave, in the request's ASGI scope; the
edge middleware counts it with the route template once the answer is sent."""


def record_verdict(request: Request, verdict: str) -> None:
    """Note the verdict given by `request` (each request gives at most one)."""
    request.scope[VERDICT_KEY] = verdict
