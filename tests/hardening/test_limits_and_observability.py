"""Body limits before the body is read; metrics, request ids, JSON logs and probes."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any

import pytest
from conftest import Instance
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from diplomas.core.errors import KeyStoreError
from diplomas.logging_setup import AlreadyLogged, configure_logging, redact

from .conftest import ZAHRA, MakeApp

LIMIT = 100_000


def send_streamed(
    app: FastAPI, path: str, chunks: int, chunk: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[int, int]:
    """POST `chunks` chunks to `path` straight over ASGI; returns (status, chunks read)."""
    read = 0
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": chunk, "more_body": read < chunks}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return status, read


@pytest.mark.parametrize("path", ["/api/v1/verify", "/verify", "/api/v1/batches"])
def test_oversized_uploads_are_refused_before_they_are_read(
    make_app: MakeApp, hardened: Instance, path: str
) -> None:
    app = make_app(rate_limit=0, max_upload_bytes=LIMIT, max_roster_bytes=LIMIT)
    boundary = b"XyZ"
    content_type = (b"content-type", b"multipart/form-data; boundary=" + boundary)
    auth = [(b"authorization", hardened.auth("issue")["Authorization"].encode())]
    # Declared too large: refused at once, not a byte read.
    declared = [content_type, (b"content-length", str(50 * LIMIT).encode()), *auth]
    assert send_streamed(app, path, 50, b"a" * LIMIT, declared) == (413, 0)
    # Streamed without a length: refused once the bytes pass the limit.
    head = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="r.csv"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    chunk = head + b"%PDF-" + b"a" * 16_384
    status, read = send_streamed(app, path, 1000, chunk, [content_type, *auth])
    assert status == 413
    assert read * len(chunk) < 2 * LIMIT  # about the limit, not the 16 MB sent


def test_json_bodies_have_a_limit_too(make_app: MakeApp, hardened: Instance) -> None:
    with TestClient(make_app()) as client:
        body = {**ZAHRA, "citation": "x" * 2_000_000}
        answer = client.post("/api/v1/diplomas", json=body, headers=hardened.auth("issue"))
        assert answer.status_code == 413


def test_metrics_count_requests_issuance_and_verdicts(
    open_client: TestClient, hardened: Instance
) -> None:
    issued = open_client.post("/api/v1/diplomas", json=ZAHRA, headers=hardened.auth("issue"))
    assert issued.status_code == 201
    d = issued.json()["id"]
    open_client.get(f"/api/v1/verify/{d}")
    open_client.get(f"/v/{d}")
    open_client.get("/api/v1/verify/unknown-id")
    # The metrics are served apart from the app (tests/hardening/test_edge_serving.py).
    text = open_client.app.state.metrics.render().decode()
    for line in (
        'diplomas_http_requests_total{method="POST",route="/api/v1/diplomas",status="201"} 1.0',
        'diplomas_http_requests_total{method="GET",route="/v/{diploma_id}",status="200"} 1.0',
        "diplomas_issued_total 1.0",
        'diplomas_verifications_total{route="/api/v1/verify/{diploma_id}",verdict="valid"} 1.0',
        'diplomas_verifications_total{route="/api/v1/verify/{diploma_id}",verdict="unknown"} 1.0',
        'diplomas_verifications_total{route="/v/{diploma_id}",verdict="valid"} 1.0',
        "diplomas_batches_running 0.0",
        'diplomas_batch_rows{state="issued"} 0.0',
        'diplomas_http_request_duration_seconds_count{method="GET",route="/v/{diploma_id}",'
        'status="200"} 1.0',
    ):
        assert line in text, line
    assert d not in text  # route templates, never raw paths


def test_request_id_is_echoed_or_made(open_client: TestClient) -> None:
    given = open_client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = open_client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert len(made.headers["x-request-id"]) == 32
    assert open_client.get("/healthz").headers["x-request-id"] != made.headers["x-request-id"]


def test_access_lines_are_json_and_carry_no_secret(
    open_client: TestClient, hardened: Instance
) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging("INFO", stream)
    try:
        token = hardened.tokens["all"]
        body = {**ZAHRA, "name": "Not Persian"}
        open_client.post(
            "/api/v1/diplomas",
            json=body,
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-1"},
        )
        open_client.post(
            "/api/v1/verify", files={"file": ("d.pdf", b"%PDF-secret-bytes", "application/pdf")}
        )
        logging.getLogger("diplomas.test").info("used %s", f"Authorization: Bearer {token}")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [e for e in lines if e["logger"] == "diplomas.http"]
    assert len(access) == 2
    first = access[0]
    assert {"time", "level", "logger", "message", "request_id", "route", "status"} <= set(first)
    assert first["request_id"] == "req-1" and first["status"] == 422
    assert first["route"] == "/api/v1/diplomas" and first["duration_ms"] > 0
    everything = stream.getvalue()
    for secret in (token, token.split("_", 2)[2], ZAHRA["email"], "secret-bytes"):
        assert secret not in everything
    assert "[redacted]" in everything
    assert redact("passphrase=hunter2") == "passphrase=[redacted]"


def test_health_and_readiness(
    open_client: TestClient, hardened: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert open_client.get("/healthz").json() == {"status": "ok"}
    assert open_client.get("/readyz").json() == {"status": "ready", "reasons": [], "warnings": []}

    def locked() -> None:
        raise KeyStoreError(f"cannot decrypt {hardened.settings.keys_dir}/record-key.pem")

    def away(token_id: str) -> None:
        raise OSError("connection refused to db.internal:5432")

    monkeypatch.setattr(hardened.service.record_keys, "signer", locked)
    monkeypatch.setattr(hardened.service.repository, "get_token", away)
    answer = open_client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["reasons"] == [
        "the database does not answer",
        "the record-signing key is not available",
    ]
    assert str(hardened.settings.keys_dir) not in answer.text and "db.internal" not in answer.text
    assert open_client.get("/healthz").status_code == 200


def test_an_unhandled_error_is_our_opaque_500(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    """Starlette's error layer stays, with our handler: its 500 carries the request id
    and the security headers, is counted, and names the error only in the log, once
    (ServerErrorMiddleware raises it on to the server, which the client stands for)."""
    app = make_app(rate_limit=0)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a detail for the log only")

    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging("INFO", stream)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            answer = client.get("/boom", headers={"X-Request-ID": "req-boom-1"})
            metrics = app.state.metrics.render().decode()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert type(app.middleware_stack).__name__ == "ServerErrorMiddleware"
    assert answer.status_code == 500
    assert answer.json() == {"detail": "the service could not complete the request"}
    assert "Traceback" not in answer.text
    assert answer.headers["x-request-id"] == "req-boom-1"
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    assert 'diplomas_http_requests_total{method="GET",route="/boom",status="500"} 1.0' in metrics
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [logged] = [e for e in lines if "exception" in e]
    assert logged["message"] == "unhandled error" and logged["request_id"] == "req-boom-1"
    assert "a detail for the log only" in logged["exception"]
    [access] = [e for e in lines if e.get("route") == "/boom"]
    assert access["status"] == 500 and access["request_id"] == "req-boom-1"
    # The server's own report of the same error (ServerErrorMiddleware raises it on) is
    # left out: the error is logged once.
    [record] = [r for r in caplog.records if r.exc_info and r.exc_info[0] is not None]
    assert not AlreadyLogged().filter(
        logging.LogRecord("uvicorn.error", logging.ERROR, "", 0, "x", (), record.exc_info)
    )


class Teapot(Exception):
    pass


def test_a_handler_added_after_create_app_is_honoured(make_app: MakeApp) -> None:
    """Nothing replaces Starlette's error layer: handlers added later answer, inside the
    edge (request id, security headers), and one for Exception replaces our 500."""
    app = make_app(rate_limit=0)

    @app.get("/teapot")
    def teapot() -> None:
        raise Teapot

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("unhandled")

    async def on_teapot(request: Request, exc: Exception) -> Response:
        return JSONResponse({"detail": "short and stout"}, status_code=418)

    async def on_anything(request: Request, exc: Exception) -> Response:
        return JSONResponse({"detail": "ours, not theirs"}, status_code=500)

    app.add_exception_handler(Teapot, on_teapot)
    app.add_exception_handler(Exception, on_anything)
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/teapot", headers={"X-Request-ID": "req-tea"})
        assert answer.status_code == 418 and answer.json() == {"detail": "short and stout"}
        assert answer.headers["x-request-id"] == "req-tea"
        assert answer.headers["content-security-policy"].startswith("default-src 'none'")
        assert client.get("/boom").json() == {"detail": "ours, not theirs"}
