"""Shared fixtures: a real instance on disk (SQLite file, or PostgreSQL when asked),
the app over HTTP, and tokens with each scope."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from diplomas.bootstrap import add_institution, build_service, init_instance
from diplomas.config import Settings
from diplomas.service import DiplomaService

PG_URL = os.environ.get("DIPLOMAS_TEST_DATABASE_URL", "")
PASSPHRASE = "correct horse battery staple"


@dataclass
class Instance:
    settings: Settings
    service: DiplomaService
    tokens: dict[str, str]

    def auth(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[scope]}"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests run last. pytest-playwright keeps one sync Playwright for the whole
    session, and with it an asyncio loop that stays the main thread's running loop: every
    test after it would find `asyncio.run` refused and anyio "already running"."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)  # stable


def _pg_schema_url() -> Iterator[str]:
    import sqlalchemy as sa

    schema = "t_" + secrets.token_hex(6)
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        # A server's background thread (the mail sender, the verdict look-ahead) may still
        # be finishing a statement in the schema as the test ends; PostgreSQL then picks
        # the DROP as a deadlock's victim, and the DROP is simply tried again.
        for attempt in range(5):
            try:
                with admin.begin() as conn:
                    conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
                break
            except sa.exc.OperationalError as exc:
                if "deadlock detected" not in str(exc) or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
        admin.dispose()


SAMT = {
    "slug": "samt",
    "name": "سازمان صنعت، معدن و تجارت استان آذربایجان شرقی",
    "name_en": "East Azerbaijan Organization of Industry, Mine and Trade",
    "signatories": [
        {
            "name": "مهندس صابر پرنیان",
            "title": "رئیس سازمان",
            "name_en": "Saber Parnian",
            "title_en": "Head of the Organization",
        }
    ],
}


def make_instance(
    tmp: Path,
    database_url: str = "",
    public_url: str = "",
    co_issuers: Sequence[dict[str, Any]] = (),
) -> Instance:
    settings = Settings(
        home=tmp / "var",
        keys_dir=tmp / "keys",
        database_url=database_url,
        key_passphrase=PASSPHRASE,  # type: ignore[arg-type]
        # Tests send hundreds of verifications from one address; tests/hardening checks
        # the limits with settings of their own.
        rate_limit=0,
        # Every lookup by id reads the audit log for changes first, so that a change made
        # by any process shows at once; tests/verdicts checks the interval itself.
        verify_cache_check_seconds=0,
    )
    overrides = {"public_url": public_url} if public_url else {}
    init_instance(settings, overrides)
    for co_issuer in co_issuers:
        add_institution(settings, dict(co_issuer))
    service = build_service(settings)
    tokens = {}
    for scope in ("issue", "revoke", "read"):
        tokens[scope] = service.create_token([scope], f"test {scope}")[1]
    tokens["all"] = service.create_token(["issue", "revoke", "read"], "test admin")[1]
    return Instance(settings, service, tokens)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The command line's environment for a fresh instance (see `clitools`)."""
    from clitools import cli_environment

    return cli_environment(tmp_path)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any attempt to open a connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network was used")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    yield


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "sqlite":
        yield ""
    elif not PG_URL:
        pytest.skip("DIPLOMAS_TEST_DATABASE_URL not set: PostgreSQL run skipped")
    else:
        yield from _pg_schema_url()


@pytest.fixture
def instance(tmp_path: Path, backend: str) -> Instance:
    return make_instance(tmp_path, backend)


@pytest.fixture
def client(instance: Instance) -> Iterator[TestClient]:
    from diplomas.api import create_app

    with TestClient(create_app(instance.service, instance.settings)) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LiveServer:
    instance: Instance
    base_url: str
    app: Any = None
    """The app served (its `state` holds the metrics, which are not on its address)."""


@pytest.fixture
def live_server(tmp_path: Path, backend: str) -> Iterator[LiveServer]:
    """A real uvicorn server on a free loopback port, spoken to over HTTP."""
    port = free_port()
    inst = make_instance(tmp_path, backend, public_url=f"http://127.0.0.1:{port}")
    with serving(inst, port) as server:
        yield server


@contextmanager
def serving(inst: Instance, port: int) -> Iterator[LiveServer]:
    """Serve `inst` with uvicorn on `port` (its public URL's) until the block ends."""
    from diplomas.api import create_app

    app = create_app(inst.service, inst.settings)
    with uvicorn_thread(app, port):
        yield LiveServer(inst, f"http://127.0.0.1:{port}", app)


@contextmanager
def uvicorn_thread(app: Any, port: int, **options: Any) -> Iterator[None]:
    """Run `app` with uvicorn (and `options`, as `diplomas serve` would give them) on a
    loopback `port`, in a thread, until the block ends."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.base_url, timeout=30) as c:
        yield c
