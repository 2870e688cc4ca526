"""Rate limits on the public verify routes: a token bucket per client address."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from diplomas.api.ratelimit import RateLimiter

from .conftest import MakeApp

LIMITED = ("/v/{}", "/api/v1/verify/{}", "/api/v1/diplomas/{}/credential")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_the_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(60, 3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == 1.0  # one token a second
    assert limiter.acquire("b") == 0.0  # every client has its own bucket
    clock.now += 1.0
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    clock.now += 3600
    assert [limiter.acquire("a") for _ in range(4)][-1] > 0  # refills up to the burst only
    assert RateLimiter.retry_after(0.2) == "1" and RateLimiter.retry_after(2.1) == "3"


def test_forgets_the_least_recent_client_beyond_its_bound() -> None:
    limiter = RateLimiter(60, 1, clock=Clock(), max_clients=2)
    for client in ("a", "b", "c"):
        limiter.acquire(client)
    assert limiter.acquire("a") == 0.0  # forgotten, so full again
    assert limiter.acquire("c") > 0


def test_public_routes_answer_429_with_retry_after(make_app: MakeApp) -> None:
    app = make_app(rate_limit=6, rate_limit_burst=3)
    with (
        TestClient(app, client=("203.0.113.7", 1000)) as one,
        TestClient(app, client=("203.0.113.8", 1000)) as other,
    ):
        for route in LIMITED:
            codes = [one.get(route.format("x" * 23)).status_code for _ in range(3)]
            assert 429 not in codes
            refused = one.get(route.format("x" * 23))
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) >= 1
            assert refused.json()["detail"].startswith("too many requests")
            assert refused.headers["x-content-type-options"] == "nosniff"
            assert other.get(route.format("x" * 23)).status_code != 429
            app_limiter_reset(app)
        files = {"file": ("d.pdf", b"%PDF-1.7 nothing", "application/pdf")}
        for path in ("/api/v1/verify", "/verify"):
            app_limiter_reset(app)
            codes = [one.post(path, files=files).status_code for _ in range(4)]
            assert codes[-1] == 429 and 429 not in codes[:3]
        # Probes, keys and status lists are never limited.
        for path in ("/healthz", "/readyz", "/.well-known/jwks.json"):
            assert all(one.get(path).status_code == 200 for _ in range(10))
        metrics = app.state.metrics.render().decode()
        assert 'diplomas_rate_limited_total{route="/v/{diploma_id}"} 1.0' in metrics


def app_limiter_reset(app: object) -> None:
    """Forget every bucket (the limiter is the app's, `app.state.limits`)."""
    limiter = app.state.limits.limiter  # type: ignore[attr-defined]
    assert isinstance(limiter, RateLimiter)
    limiter._buckets.clear()


def test_zero_disables(make_app: MakeApp) -> None:
    with TestClient(make_app(rate_limit=0, rate_limit_burst=1)) as client:
        assert all(client.get("/api/v1/verify/x").status_code == 200 for _ in range(20))


def test_the_limiter_costs_microseconds() -> None:
    """The check itself, for 10,000 distinct clients and 100,000 requests."""
    limiter = RateLimiter(60, 30)
    clients = [f"198.51.{i // 256}.{i % 256}" for i in range(10_000)]
    start = time.perf_counter()
    for i in range(100_000):
        limiter.acquire(clients[i % len(clients)])
    per_call = (time.perf_counter() - start) / 100_000
    print(f"\nrate limiter: {per_call * 1e6:.2f} µs per request")
    assert per_call < 50e-6


def test_route_latency_with_and_without_limits(make_app: MakeApp) -> None:
    """Median time of GET /api/v1/verify/{id}, limits on (never reached) and off."""
    import statistics

    def median_ms(app: object) -> float:
        with TestClient(app) as client:  # type: ignore[arg-type]
            times = []
            for _ in range(300):
                start = time.perf_counter()
                client.get("/api/v1/verify/not-an-id")
                times.append(time.perf_counter() - start)
        return statistics.median(times) * 1000

    off = median_ms(make_app(rate_limit=0))
    on = median_ms(make_app(rate_limit=10**9, rate_limit_burst=10**9))
    print(f"\nGET /api/v1/verify/{{id}}: {off:.3f} ms without limits, {on:.3f} ms with")
    assert on < off * 1.5 + 0.5
