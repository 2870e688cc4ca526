"""The database goes away mid-request: the caller gets a clear 503 with Retry-After (JSON
from the API, a plain page for the pages), never a 500; nothing half-done is left; and
once the database is back the same app answers again, without a restart."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import PG_URL, _pg_schema_url
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

import diplomas.storage.engine as engine_module
from diplomas.api import create_app
from diplomas.core.errors import StorageUnavailable
from diplomas.storage.engine import make_engine
from diplomas.storage.outage import OutageAwarePool

from .support import Site, TcpProxy, check_consistent, make_site


def issue_body(n: int) -> dict[str, str]:
    return {
        "name": "زهرا محمدی‌نژاد",
        "name_en": "Zahra Mohammadinejad",
        "issued_on": "1405/09/05",
        "external_id": f"away-{n}",
    }


def assert_unavailable(answer: Any, html: bool = False) -> None:
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["retry-after"]) > 0
    if html:
        assert answer.headers["content-type"].startswith("text/html")
        assert "Temporarily unavailable" in answer.text
    else:
        assert answer.headers["content-type"] == "application/json"
        assert answer.json() == {"detail": "the database is unavailable; try again shortly"}


def app_engine(site: Site) -> sa.Engine:
    engine: sa.Engine = site.instance.service.repository._engine  # type: ignore[attr-defined]
    return engine


@pytest.fixture
def proxied_pg(tmp_path: Path) -> Iterator[tuple[Site, TcpProxy, str]]:
    """An instance on a fresh PostgreSQL schema, reached only through a TCP proxy."""
    if not PG_URL:
        pytest.skip("DIPLOMAS_TEST_DATABASE_URL not set: PostgreSQL run skipped")
    target = make_url(PG_URL)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    app_name = "diplomas_faults_" + secrets.token_hex(4)
    schemas = _pg_schema_url()
    url = next(schemas)
    proxied = (
        url.replace(f"{target.host}:{target.port or 5432}", f"127.0.0.1:{proxy.port}", 1)
        + f"&application_name={app_name}"
    )
    assert f":{proxy.port}/" in proxied
    try:
        yield make_site(tmp_path, proxied), proxy, app_name
    finally:
        proxy.close()
        next(schemas, None)


@pytest.mark.postgres
def test_postgres_cut_mid_request_gives_503_and_recovers(
    proxied_pg: tuple[Site, TcpProxy, str],
) -> None:
    site, proxy, _ = proxied_pg
    inst = site.instance
    cut_at: list[str] = []

    def cut_on_insert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # After the serial is taken, as the diploma row goes in: the worst moment.
        if statement.lstrip().upper().startswith("INSERT INTO DIPLOMAS") and not cut_at:
            cut_at.append(statement)
            proxy.cut()

    with TestClient(create_app(inst.service, inst.settings), raise_server_exceptions=False) as c:
        first = c.post("/api/v1/diplomas", json=issue_body(1), headers=inst.auth("issue"))
        assert first.status_code == 201, first.text

        sa.event.listen(app_engine(site), "before_cursor_execute", cut_on_insert)
        try:
            assert_unavailable(
                c.post("/api/v1/diplomas", json=issue_body(2), headers=inst.auth("issue"))
            )
        finally:
            sa.event.remove(app_engine(site), "before_cursor_execute", cut_on_insert)
        assert cut_at, "the request never reached the insert"

        # While it is away: every kind of request says so, the pages with a page.
        assert_unavailable(c.get(f"/api/v1/verify/{first.json()['id']}"))
        assert_unavailable(c.get(f"/v/{first.json()['id']}"), html=True)
        assert_unavailable(
            c.post("/api/v1/diplomas", json=issue_body(3), headers=inst.auth("issue"))
        )
        ready = c.get("/readyz")
        assert ready.status_code == 503 and int(ready.headers["retry-after"]) > 0
        assert ready.json()["reasons"] == ["the database does not answer"]

        proxy.restore()
        assert c.get("/readyz").status_code == 200
        assert c.get(f"/v/{first.json()['id']}").status_code == 200
        # The cut request left nothing behind: sent again, it is issued now, next serial.
        again = c.post("/api/v1/diplomas", json=issue_body(2), headers=inst.auth("issue"))
        assert again.status_code == 201, again.text
        assert again.json()["serial"] == "TBZMED-1405-000002"
        third = c.post("/api/v1/diplomas", json=issue_body(3), headers=inst.auth("issue"))
        assert third.json()["serial"] == "TBZMED-1405-000003"

    acked = {f"away-{n}": r.json()["id"] for n, r in ((1, first), (2, again), (3, third))}
    check_consistent(site, acked, acked)


@pytest.mark.postgres
def test_postgres_restart_is_invisible_to_callers(
    proxied_pg: tuple[Site, TcpProxy, str],
) -> None:
    """Backends killed under the app (a restart, a failover): the pool's pre-ping notices
    and reconnects, and the next requests succeed."""
    site, _, app_name = proxied_pg
    inst = site.instance
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with TestClient(create_app(inst.service, inst.settings), raise_server_exceptions=False) as c:
        assert c.post("/api/v1/diplomas", json=issue_body(1), headers=inst.auth("issue")).is_success
        try:
            with admin.begin() as conn:
                killed = conn.execute(
                    sa.text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = :name"
                    ),
                    {"name": app_name},
                ).scalar_one()
        finally:
            admin.dispose()
        assert killed >= 1
        answer = c.post("/api/v1/diplomas", json=issue_body(2), headers=inst.auth("issue"))
        assert answer.status_code == 201, answer.text
        assert c.get("/readyz").status_code == 200


def test_sqlite_locked_database_gives_503_then_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds SQLite's write lock past the busy timeout (shortened here from
    30 s): a writer gets 503 + Retry-After; readers, in WAL mode, go on answering."""
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_SECONDS", 1)
    site = make_site(tmp_path)
    inst = site.instance
    with TestClient(create_app(inst.service, inst.settings), raise_server_exceptions=False) as c:
        first = c.post("/api/v1/diplomas", json=issue_body(1), headers=inst.auth("issue"))
        assert first.status_code == 201, first.text

        holder = sqlite3.connect(inst.settings.home / "diplomas.db", isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            assert_unavailable(
                c.post("/api/v1/diplomas", json=issue_body(2), headers=inst.auth("issue"))
            )
            assert c.get(f"/api/v1/verify/{first.json()['id']}").json()["status"] == "valid"
            assert c.get("/readyz").status_code == 200
        finally:
            holder.rollback()
            holder.close()

        again = c.post("/api/v1/diplomas", json=issue_body(2), headers=inst.auth("issue"))
        assert again.status_code == 201, again.text
        assert again.json()["serial"] == "TBZMED-1405-000002"
    acked = {"away-1": first.json()["id"], "away-2": again.json()["id"]}
    check_consistent(site, acked, acked)


def test_only_an_unavailable_database_is_a_503(tmp_path: Path) -> None:
    """The storage layer's StorageUnavailable is a 503; anything else that escapes, a
    broken constraint or a bad statement, is still the opaque 500, not "try again"."""
    site = make_site(tmp_path)
    app = create_app(site.instance.service, site.instance.settings)
    raised: dict[str, Exception] = {
        "gone": StorageUnavailable("OperationalError: server closed the connection"),
        "constraint": sa.exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")),
        "bug": sa.exc.ProgrammingError("SELEC 1", {}, Exception("syntax error")),
    }

    @app.get("/boom/{kind}")
    def boom(kind: str) -> None:
        raise raised[kind]

    with TestClient(app, raise_server_exceptions=False) as c:
        assert_unavailable(c.get("/boom/gone"))
        for kind in ("constraint", "bug"):
            answer = c.get(f"/boom/{kind}")
            assert answer.status_code == 500, answer.text
            assert "retry-after" not in answer.headers
            assert "constraint" not in answer.text and "syntax" not in answer.text


def test_the_engine_says_an_outage_in_the_cores_words(tmp_path: Path) -> None:
    """The engine translates: a database that cannot be opened and an exhausted pool are
    StorageUnavailable (without the URL); a broken constraint stays SQLAlchemy's."""
    away = make_engine(f"sqlite:///{tmp_path}/no/such/dir/db.sqlite")
    with pytest.raises(StorageUnavailable) as unopened, away.connect() as connection:
        connection.execute(sa.text("SELECT 1"))
    assert "no/such/dir" not in str(unopened.value)
    url = f"sqlite:///{tmp_path}/pool.sqlite"
    engine = make_engine(url)
    engine.pool = OutageAwarePool(engine.pool._creator, pool_size=1, max_overflow=0, timeout=0.1)  # type: ignore[attr-defined]
    with engine.connect() as held:
        held.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        held.commit()
        with pytest.raises(StorageUnavailable):
            engine.connect()
    with engine.connect() as connection, pytest.raises(sa.exc.IntegrityError):
        connection.execute(sa.text("INSERT INTO t VALUES (1), (1)"))
    away.dispose()
    engine.dispose()


def test_the_openapi_document_declares_the_503(tmp_path: Path) -> None:
    """Clients generated from the schema learn of the 503 and its Retry-After on every
    operation that needs the database, and only there."""
    site = make_site(tmp_path)
    with TestClient(create_app(site.instance.service, site.instance.settings)) as c:
        paths = c.get("/openapi.json").json()["paths"]
    for path, item in paths.items():
        for method, operation in item.items():
            answer = operation["responses"].get("503")
            if (
                path in ("/healthz", "/metrics")
                or path.endswith("did.json")
                or "well-known" in path
            ):
                assert answer is None, (method, path)
            elif path == "/readyz":
                assert answer["description"] == "not ready"
            else:
                assert answer is not None, (method, path)
                assert "Retry-After" in answer["headers"], (method, path)
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}


def test_the_http_edge_knows_no_sqlalchemy() -> None:
    """The storage layer translates outages into the core's error: the API and the
    console never name SQLAlchemy's exceptions."""
    package = Path(create_app.__code__.co_filename).resolve().parents[1]
    for folder in ("api", "console"):
        for source in (package / folder).rglob("*.py"):
            assert "sqlalchemy" not in source.read_text(encoding="utf-8"), source
