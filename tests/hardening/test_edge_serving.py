"""The app as `diplomas serve` runs it, over real HTTP: proxy headers believed only from
DIPLOMAS_TRUSTED_PROXIES, the metrics on an address of their own, and the command itself
in a process of its own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import PASSPHRASE, Instance, free_port, make_instance, uvicorn_thread

from diplomas.api import create_app
from diplomas.api.serving import serve_metrics, uvicorn_options
from diplomas.config import Settings
from diplomas.core.errors import ConfigurationError

DIPLOMAS = str(Path(sys.executable).parent / "diplomas")
BURST = 5


@pytest.fixture
def inst(tmp_path: Path) -> Instance:
    return make_instance(tmp_path)


@contextmanager
def served(inst: Instance, **overrides: Any) -> Iterator[tuple[httpx.Client, Any]]:
    """The app over `inst` with `overrides` to its settings, run by uvicorn with the
    options `diplomas serve` gives it, on a free loopback port: a client of it, and it."""
    settings = inst.settings.model_copy(update=overrides)
    app = create_app(inst.service, settings)
    port = free_port()
    with (
        uvicorn_thread(app, port, **uvicorn_options(settings)),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http,
    ):
        yield http, app


def codes(http: httpx.Client, forwarded_for: list[str]) -> list[int]:
    """The status of one public lookup per X-Forwarded-For value."""
    return [
        http.get("/api/v1/verify/nosuchid", headers={"X-Forwarded-For": f}).status_code
        for f in forwarded_for
    ]


def test_spoofed_forwarded_for_from_loopback_does_not_escape_the_limit(inst: Instance) -> None:
    """Without DIPLOMAS_TRUSTED_PROXIES (the default) nobody's X-Forwarded-For is
    believed, not even loopback's (uvicorn's own default): a new address on every request
    is still one client."""
    assert uvicorn_options(inst.settings) == {"proxy_headers": False}
    with served(inst, rate_limit=60, rate_limit_burst=BURST) as (http, _):
        answered = codes(http, [f"198.51.100.{i}" for i in range(BURST + 3)])
    assert answered[:BURST] == [200] * BURST
    assert answered[BURST:] == [429] * 3


def test_through_a_trusted_proxy_each_forwarded_client_has_its_own_limit(
    inst: Instance,
) -> None:
    """With the proxy's address trusted, the client it forwards is the one counted: one
    client meets the limit while another, through the same proxy, is still answered; a
    client cannot escape by putting made-up addresses before its own in the header (the
    proxy appends the address it saw last, and that one is taken)."""
    options = uvicorn_options(inst.settings.model_copy(update={"trusted_proxies": "127.0.0.1"}))
    assert options == {"proxy_headers": True, "forwarded_allow_ips": ["127.0.0.1"]}
    limits = {"rate_limit": 60, "rate_limit_burst": BURST}
    with served(inst, **limits, trusted_proxies="127.0.0.1") as (http, _):
        first = codes(http, ["203.0.113.7"] * (BURST + 1))
        other = codes(http, ["203.0.113.8"])
        spoofing = codes(http, [f"192.0.2.{i}, 203.0.113.9" for i in range(BURST + 1)])
    assert first == [200] * BURST + [429]
    assert other == [200]
    assert spoofing == [200] * BURST + [429]


def test_a_proxy_outside_the_trusted_networks_is_not_believed(inst: Instance) -> None:
    limits = {"rate_limit": 60, "rate_limit_burst": BURST}
    with served(inst, **limits, trusted_proxies="10.0.0.0/8") as (http, _):
        answered = codes(http, [f"198.51.100.{i}" for i in range(BURST + 1)])
    assert answered == [200] * BURST + [429]


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("trusted_proxies", "127.0.0.1, proxy.internal", "'proxy.internal'"),
        ("trusted_proxies", "*", "'*'"),
        ("metrics_address", "9464", "'9464'"),
        ("metrics_address", "127.0.0.1:99999", "'127.0.0.1:99999'"),
    ],
)
def test_malformed_edge_settings_are_refused_in_plain_words(
    variable: str, value: str, named: str
) -> None:
    settings = Settings(**{variable: value})
    with pytest.raises(ConfigurationError) as refused:
        uvicorn_options(settings) if variable == "trusted_proxies" else settings.metrics_host_port()
    assert named in str(refused.value)
    assert f"DIPLOMAS_{variable.upper()}" in str(refused.value)


def test_metrics_are_served_on_their_own_address_only(inst: Instance) -> None:
    """/metrics is not on the public app; `serve_metrics` answers it on the address the
    settings give, with the app's figures."""
    metrics_port = free_port()
    address = f"127.0.0.1:{metrics_port}"
    with served(inst, rate_limit=0, metrics_address=address) as (http, app):
        server = serve_metrics(app.state.metrics, app.state.settings)
        assert server is not None
        try:
            assert http.get("/metrics").status_code == 404
            assert http.get("/healthz").status_code == 200
            scraped = httpx.get(f"http://{address}/metrics", timeout=10)
        finally:
            server.shutdown()
            server.server_close()
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    assert (
        'diplomas_http_requests_total{method="GET",route="unmatched",status="404"} 1.0'
        in scraped.text
    )
    assert 'route="/healthz",status="200"} 1.0' in scraped.text


def test_a_taken_metrics_address_is_an_error_when_named_and_a_warning_by_default(
    inst: Instance, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = create_app(inst.service, inst.settings)
        named = Settings(metrics_address=f"127.0.0.1:{port}")
        with pytest.raises(ConfigurationError, match="DIPLOMAS_METRICS_ADDRESS=off"):
            serve_metrics(app.state.metrics, named)
        # The default address, taken: the server goes on without metrics, and says so.
        # (The real default port may be in use by anything on this machine: a copy with the
        # taken port, marked as not set, stands for it.)
        default = Settings().model_copy(update={"metrics_address": f"127.0.0.1:{port}"})
        default.model_fields_set.discard("metrics_address")
        assert serve_metrics(app.state.metrics, default) is None
        assert "serving without metrics" in caplog.text
    assert serve_metrics(app.state.metrics, Settings(metrics_address="off")) is None


@contextmanager
def serve_command(tmp: Path, *args: str, **variables: str) -> Iterator[tuple[str, Path]]:
    """`diplomas serve ARGS` in a process of its own over a fresh instance, with the
    rate limit at BURST and `variables` in its environment: (base URL, its log)."""
    port = free_port()
    inst = make_instance(tmp, public_url=f"http://127.0.0.1:{port}")
    env = {
        **os.environ,
        "DIPLOMAS_HOME": str(inst.settings.home),
        "DIPLOMAS_KEYS_DIR": str(inst.settings.keys_dir),
        "DIPLOMAS_KEY_PASSPHRASE": PASSPHRASE,
        "DIPLOMAS_RATE_LIMIT": "60",
        "DIPLOMAS_RATE_LIMIT_BURST": str(BURST),
        "DIPLOMAS_LOG_LEVEL": "WARNING",
        **variables,
    }
    env.pop("DIPLOMAS_TRUSTED_PROXIES", None)
    env.pop("FORWARDED_ALLOW_IPS", None)  # uvicorn's own variable
    log = tmp / "serve.log"
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(
            [DIPLOMAS, "serve", "--port", str(port), *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "diplomas serve did not start"
            time.sleep(0.05)
        yield base, log
    finally:
        proc.terminate()
        proc.wait(30)


def test_diplomas_serve_keeps_metrics_apart_and_ignores_forwarded_for(tmp_path: Path) -> None:
    """The command itself, in its own process, with the settings from the environment."""
    metrics = f"127.0.0.1:{free_port()}"
    with (
        serve_command(tmp_path, DIPLOMAS_METRICS_ADDRESS=metrics) as (base, _),
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        answered = codes(http, [f"198.51.100.{i}" for i in range(BURST + 1)])
        public_metrics = http.get("/metrics").status_code
        scraped = httpx.get(f"http://{metrics}/metrics", timeout=10)
    assert answered == [200] * BURST + [429]
    assert public_metrics == 404
    assert scraped.status_code == 200
    assert 'diplomas_rate_limited_total{route="/api/v1/verify/{diploma_id}"} 1.0' in scraped.text


def test_diplomas_serve_with_workers_ignores_forwarded_for_too(tmp_path: Path) -> None:
    """With --workers 2 each process keeps its own buckets (so up to twice the burst
    passes), and still none believes X-Forwarded-For; the metrics address is not used,
    and the command says so."""
    metrics = f"127.0.0.1:{free_port()}"
    with (
        serve_command(tmp_path, "--workers", "2", DIPLOMAS_METRICS_ADDRESS=metrics) as (
            base,
            log,
        ),
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        answered = codes(http, [f"198.51.100.{i}" for i in range(4 * BURST)])
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://{metrics}/metrics", timeout=5)
    assert answered.count(200) <= 2 * BURST
    assert answered[-1] == 429
    assert "metrics are served with --workers 1 only" in " ".join(log.read_text().split())
