"""A roster uploaded over HTTP whose row sends an issued external id with other details:
that row is reported as a problem (never skipped in silence), and nothing changes."""

from __future__ import annotations

from pathlib import Path

from batch.rosters import person, write_roster
from batch.test_batch_api import wait_until_finished
from conftest import Instance
from fastapi.testclient import TestClient


def test_a_changed_row_is_a_problem_of_that_row(
    client: TestClient, instance: Instance, tmp_path: Path
) -> None:
    first = instance.service.issue({**person(1), "issued_on": "1405/09/01"}).diploma
    rows = [person(1) | {"field": "مهندسی پزشکی"}, person(2)]
    roster = write_roster(tmp_path / "r.csv", rows)
    r = client.post(
        "/api/v1/batches",
        headers=instance.auth("issue"),
        files={"file": ("r.csv", roster.read_bytes(), "text/csv")},
    )
    assert r.status_code == 202, r.text
    body = wait_until_finished(client, f"/api/v1/batches/{r.json()['id']}", instance.auth("read"))
    assert body["status"] == "refused", body
    [problem] = body["problems"]
    assert (problem["row"], problem["column"], problem["value"]) == (2, "external_id", "S-00001")
    assert f"issued already as {first.serial} with other details (field)" in problem["message"]
    assert "diplomas correct" in problem["message"]
    assert instance.service.search("", 0, 10)[1] == 1
    assert instance.service.get(first.id).request.field == person(1)["field"]
