"""Prometheus metrics of one app: requests, latencies, issuance, verdicts, batches.

Each app has its own registry (tests build many apps in one process). Labels are route
templates (`/v/{diploma_id}`), never raw paths, so strangers cannot grow the series.
Counts are per server process, like the rate limits.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request

from ..core.ports import BatchStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


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


ISSUED = ("POST", "/api/v1/diplomas", 201)
"""The requests that issued a diploma (by method, route template and status)."""


class Metrics:
    """The app's metrics, in a registry of its own (not prometheus_client's global one)."""

    def __init__(self, batches: BatchStore | None = None) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["method", "route", "status"]
        self.requests = Counter(
            "diplomas_http_requests",
            "HTTP requests answered, by method, route template and status.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "diplomas_http_request_duration_seconds",
            "Time to answer, by method, route template and status.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.verdicts = Counter(
            "diplomas_verifications",
            "Verdicts given, by route template and verdict.",
            ["route", "verdict"],
            registry=self.registry,
        )
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
        # The labelled series of each (method, route, status) seen, found with one dict
        # lookup per request instead of a locked `labels()` call per metric.
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(
        self, method: str, route: str, status: int, seconds: float, verdict: str | None = None
    ) -> None:
        """One request answered (by the edge middleware, once the answer is sent)."""
        if method not in HTTP_METHODS:
            method = "OTHER"  # a client may send any token as a method: not a new series
        series = self._series.get((method, route, status))
        if series is None:
            names = (method, route, str(status))
            series = (self.requests.labels(*names), self.latency.labels(*names))
            self._series[method, route, status] = series
        series[0].inc()
        series[1].observe(seconds)
        if verdict is not None:
            self.verdicts.labels(route, verdict).inc()
        if (method, route, status) == ISSUED:
            self.issued.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


VERDICT_KEY = "diplomas.verdict"
"""Where a route handler leaves the verdict it gave, in the request's ASGI scope; the
edge middleware counts it with the route template once the answer is sent."""


def record_verdict(request: Request, verdict: str) -> None:
    """Note the verdict given by `request` (each request gives at most one)."""
    request.scope[VERDICT_KEY] = verdict
