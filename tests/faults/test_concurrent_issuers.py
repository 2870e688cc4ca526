"""Everyone issuing into one instance at once, as separate processes: a server with two
uvicorn workers (fed by client threads, some racing each other for the same external ids),
two `issue-batch` runs and a few `diplomas issue`. Afterwards every acknowledged diploma is
there once, serials are unique and gapless per year, status-list slots unique, and the audit
chain intact; every diploma verifies over HTTP (by id and by uploading its PDF)."""

from __future__ import annotations

import csv
import itertools
import json
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from batch.rosters import person, write_roster

from diplomas.core.model import Diploma

from .support import DIPLOMAS, Ledger, Server, Site, check_consistent, make_site

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROSTER = 20
API_AT_LEAST = 10
API_AT_MOST = 40  # keeps the run short on a slow machine
API_PAUSE = 0.1
CLI_ISSUES = 3


def roster(path: Path, prefix: str) -> tuple[Path, list[str]]:
    rows = [{**person(i), "external_id": f"{prefix}-{i:03d}"} for i in range(ROSTER)]
    return write_roster(path, rows), [row["external_id"] for row in rows]


def api_client(
    site: Site, ledger: Ledger, stop: threading.Event, sent: set[str], errors: list[str]
) -> None:
    """Issue API-000, API-001, ... until told to stop; two of these race for each id."""
    headers = site.instance.auth("issue")
    with httpx.Client(base_url=site.base_url, timeout=120, headers=headers) as http:
        n = 0
        while (not stop.is_set() or n < API_AT_LEAST) and n < API_AT_MOST:
            external_id = f"API-{n:03d}"
            body = {
                "name": "مریم احمدی",
                "name_en": "Maryam Ahmadi",
                "issued_on": "1404/11/01" if n % 2 else "1405/09/05",
                "external_id": external_id,
            }
            sent.add(external_id)
            answer = http.post("/api/v1/diplomas", json=body)
            if answer.status_code not in (200, 201):
                errors.append(f"{external_id}: {answer.status_code} {answer.text}")
            else:
                ledger.ack(external_id, answer.json()["id"])
            n += 1
            time.sleep(API_PAUSE)  # spread over the command lines' run, not all before it


def manifest_acks(out: Path, external_ids: list[str]) -> dict[str, str]:
    with open(out / "manifest.csv", encoding="utf-8-sig", newline="") as fh:
        return {external_ids[int(e["row"]) - 2]: e["id"] for e in csv.DictReader(fh)}


def serial_key(diploma: Diploma) -> str:
    return diploma.serial


def test_api_and_cli_issuers_at_once(tmp_path: Path, backend: str) -> None:
    site = make_site(tmp_path, backend)
    server = Server(site, tmp_path / "server.log", workers=2)
    server.start()
    try:
        batches = []
        expected: set[str] = set()
        for name, workers in (("A", "2"), ("B", "1")):
            path, ids = roster(tmp_path / f"{name}.csv", name)
            out = tmp_path / f"out-{name}"
            args = [DIPLOMAS, "issue-batch", str(path), "--out", str(out), "--workers", workers]
            proc = subprocess.Popen(
                args, env=site.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            batches.append((proc, out, ids))
            expected |= set(ids)
        singles = []
        for n in range(CLI_ISSUES):
            args = [
                DIPLOMAS, "issue", "--name", "رضا کریمی", "--name-en", "Reza Karimi",
                "--issued-on", "1405/09/05", "--external-id", f"CLI-{n}",
                "--out", str(tmp_path / f"cli-{n}.pdf"), "--json",
            ]  # fmt: skip
            singles.append(
                subprocess.Popen(args, env=site.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            )
            expected.add(f"CLI-{n}")
        # Two clients over the same ids, until the command lines are done.
        ledger, stop, sent, errors = Ledger(), threading.Event(), set[str](), list[str]()
        clients = [
            threading.Thread(target=api_client, args=(site, ledger, stop, sent, errors))
            for _ in range(2)
        ]
        for t in clients:
            t.start()

        acked = dict[str, str]()
        for proc in singles:
            stdout, stderr = proc.communicate(timeout=180)
            assert proc.returncode == 0, stderr.decode()
            result = json.loads(stdout)
            acked[f"CLI-{singles.index(proc)}"] = result["id"]
        for proc, out, ids in batches:
            _, stderr = proc.communicate(timeout=180)
            assert proc.returncode == 0, stderr.decode()
            acked |= manifest_acks(out, ids)
        stop.set()
        for t in clients:
            t.join(180)
        assert errors == []
        assert set(ledger.acked) == sent
        acked |= ledger.acked
        expected |= sent

        diplomas = check_consistent(site, expected, acked, verify_over_http=[])
        assert len(diplomas) == 2 * ROSTER + CLI_ISSUES + len(sent)
        # They really ran at once: in serial order, the issuers take turns.
        source = [d.request.external_id.split("-")[0] for d in sorted(diplomas, key=serial_key)]
        turns = sum(a != b for a, b in itertools.pairwise(source))
        assert turns >= 3, source
    finally:
        server.kill()
