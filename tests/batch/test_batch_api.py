"""Bulk issuance over HTTP: upload, follow the progress, download the archive."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest
from conftest import Instance
from fastapi.testclient import TestClient
from procrastinate import exceptions as pq

from diplomas.api import create_app

from .rosters import cohort, person, write_roster


def wait_until_finished(client: TestClient, url: str, headers: dict[str, str]) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + 120
    while True:
        body = client.get(url, headers=headers).json()
        if body["status"] in ("done", "refused", "failed"):
            return body  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def test_upload_roster_then_fetch_archive(
    client: TestClient, instance: Instance, tmp_path: Path
) -> None:
    roster = cohort(tmp_path / "cohort.csv", 6)
    r = client.post(
        "/api/v1/batches",
        headers=instance.auth("issue"),
        files={"file": ("cohort.csv", roster.read_bytes(), "text/csv")},
    )
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["status"] == "queued" and started["archive_url"] is None

    body = wait_until_finished(client, f"/api/v1/batches/{started['id']}", instance.auth("read"))
    assert body["status"] == "done", body
    assert (body["total_rows"], body["issued"], body["skipped"], body["refused"]) == (6, 6, 0, 0)

    archive = client.get(
        body["archive_url"].replace("http://127.0.0.1:8000", ""), headers=instance.auth("read")
    )
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        pdfs = [n for n in zf.namelist() if n.endswith(".pdf")]
        assert len(pdfs) == 6
        assert instance.service.verify_pdf(zf.read(pdfs[0])).genuine


def test_bad_roster_reports_rows_and_issues_nothing(
    client: TestClient, instance: Instance, tmp_path: Path
) -> None:
    roster = write_roster(
        tmp_path / "r.csv", [person(1), person(2) | {"name": "Ali"}, person(3) | {"email": "x"}]
    )
    r = client.post(
        "/api/v1/batches",
        headers=instance.auth("issue"),
        files={"file": ("r.csv", roster.read_bytes(), "text/csv")},
    )
    body = wait_until_finished(client, f"/api/v1/batches/{r.json()['id']}", instance.auth("read"))
    assert body["status"] == "refused"
    assert {(p["row"], p["column"]) for p in body["problems"]} == {(3, "name"), (4, "email")}
    assert instance.service.search("", 0, 1)[1] == 0
    archive = client.get(f"/api/v1/batches/{body['id']}/archive", headers=instance.auth("read"))
    assert archive.status_code == 409


def test_batch_routes_need_their_scopes(
    client: TestClient, instance: Instance, tmp_path: Path
) -> None:
    files = {"file": ("r.csv", b"name\n\xd8\xb9\xd9\x84\xdb\x8c\n", "text/csv")}
    assert client.post("/api/v1/batches", files=files).status_code == 401
    assert (
        client.post("/api/v1/batches", files=files, headers=instance.auth("read")).status_code
        == 403
    )
    assert client.get("/api/v1/batches/" + "A" * 23).status_code == 401
    assert (
        client.get("/api/v1/batches/" + "A" * 23, headers=instance.auth("read")).status_code == 404
    )
    bad = client.post(
        "/api/v1/batches",
        headers=instance.auth("issue"),
        files={"file": ("r.pdf", b"%PDF-1.7", "application/pdf")},
    )
    assert bad.status_code == 422


def test_names_longer_than_a_batch_keeps_are_answered_in_words(
    client: TestClient, instance: Instance, tmp_path: Path
) -> None:
    """A design name longer than any design's is refused (422, naming the field) with
    nothing kept; a roster's file name past 255 characters is shortened, its suffix kept,
    and the roster runs (on PostgreSQL both overflowed their columns: a 500)."""
    roster = cohort(tmp_path / "c.csv", 2).read_bytes()
    before = instance.service.batches.recent()
    r = client.post(
        "/api/v1/batches",
        headers=instance.auth("issue"),
        files={"file": ("c.csv", roster, "text/csv")},
        data={"template": "y" * 65},
    )
    assert r.status_code == 422, r.text
    assert "template" in r.text and "64 characters" in r.text
    assert instance.service.batches.recent() == before

    name = "گواهی‌نامه " * 40 + ".csv"
    r = client.post(
        "/api/v1/batches",
        headers=instance.auth("issue"),
        files={"file": (name, roster, "text/csv")},
    )
    assert r.status_code == 202, r.text
    body = wait_until_finished(client, f"/api/v1/batches/{r.json()['id']}", instance.auth("read"))
    assert body["status"] == "done" and body["issued"] == 2, body
    kept = instance.service.batch(body["id"]).source
    assert len(kept) == 255 and kept.endswith("….csv") and kept.startswith("گواهی‌نامه ")


def test_an_upload_whose_job_cannot_be_queued_is_a_503_and_runs_once_the_queue_is_back(
    instance: Instance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch is saved before its job: when the queue's database goes away in between,
    the upload is answered 503 (worth sending again), the batch is kept, queued, and a
    worker's sweep starts it once the queue answers again."""
    settings = instance.settings.model_copy(update={"worker_stalled_seconds": 1})
    app = create_app(instance.service, settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        manager = app.state.tasks.app.job_manager
        deferring = manager.defer_job_async

        async def queue_away(*args: object, **kwargs: object) -> object:
            raise pq.ConnectorException("connection to server lost")

        monkeypatch.setattr(manager, "defer_job_async", queue_away)
        r = client.post(
            "/api/v1/batches",
            headers=instance.auth("issue"),
            files={"file": ("c.csv", cohort(tmp_path / "c.csv", 3).read_bytes(), "text/csv")},
        )
        assert r.status_code == 503 and r.headers["Retry-After"], r.text
        [kept] = instance.service.batches.recent()
        assert kept.status.value == "queued"

        monkeypatch.setattr(manager, "defer_job_async", deferring)  # the queue is back
        body = wait_until_finished(client, f"/api/v1/batches/{kept.id}", instance.auth("read"))
        assert body["status"] == "done" and body["issued"] == 3, body
