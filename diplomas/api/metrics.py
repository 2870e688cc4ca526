"""Prometheus metrics of one app: requests, latencies, issuance, verdicts, batches.

Each app has its own registry (tests build many apps in one process). Labels are route
templates (`/v/{diploma_id}`), never raw paths, so strangers cannot grow the series.
Counts are per server process, like the rate limits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..core.ports import BatchStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
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


class Metrics:
    def __init__(self, batches: BatchStore | None = None) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "diplomas_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "diplomas_http_request_duration_seconds",
            "Time to answer, by method, route template and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.issued = Counter(
            "diplomas_issued",
            "Diplomas issued through the API by this process.",
            registry=self.registry,
        )
        self.verifications = Counter(
            "diplomas_verifications",
            "Verdicts given, by route template and verdict.",
            ["route", "verdict"],
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
        self, method: str, route: str, status: int, seconds: float, scope: RequestScope
    ) -> None:
        code = str(status)
        self.requests.labels(method, route, code).inc()
        self.latency.labels(method, route, code).observe(seconds)
        if status == 201 and method == "POST" and route == "/api/v1/diplomas":
            self.issued.inc()
        for verdict in scope.verdicts:
            self.verifications.labels(route, verdict).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass
class RequestScope:
    """What the route handlers tell the request middleware about the request under way."""

    verdicts: list[str] = field(default_factory=list)


current_request: ContextVar[RequestScope | None] = ContextVar("diplomas_request", default=None)


def record_verdict(verdict: str) -> None:
    """Note a verdict given by the request under way; the middleware counts it with the
    route template once the answer is sent (nothing happens outside a request)."""
    scope = current_request.get()
    if scope is not None:
        scope.verdicts.append(verdict)
