"""kill -9 in the middle of a batch, then rerun: every row ends with exactly one diploma.

The first test kills at two chosen points; the second at ten seeded random ones in a row
(during start-up, between rows, mid-chunk), rerunning the same batch after each, and ends
with the audit chain checked too."""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from diplomas.bootstrap import build_service, open_audit_log
from diplomas.config import Settings
from diplomas.core.audit import AuditAction

from .rosters import cohort

ROWS = 150
DIPLOMAS = str(Path(sys.executable).parent / "diplomas")


def cli(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [DIPLOMAS, *args],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, workers included
    )


@pytest.mark.parametrize("kill_after", [1, 70])
def test_killed_batch_resumes_without_gaps_or_duplicates(
    cli_env: dict[str, str], tmp_path: Path, kill_after: int
) -> None:
    assert (
        subprocess.run(
            [DIPLOMAS, "init"], env={**os.environ, **cli_env}, capture_output=True, check=False
        ).returncode
        == 0
    )
    roster = cohort(tmp_path / "cohort.csv", ROWS)
    out = tmp_path / "out"
    args = ("issue-batch", str(roster), "--out", str(out), "--workers", "2")

    proc = cli(cli_env, *args)
    deadline = time.monotonic() + 120
    while len(list(out.glob("TBZMED-*.pdf"))) < kill_after:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the batch made no progress"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    written = len(list(out.glob("TBZMED-*.pdf")))
    assert written < ROWS, "killed too late to test anything"

    rerun = cli(cli_env, *args)
    assert rerun.wait(300) == 0, rerun.stderr.read() if rerun.stderr else ""

    settings = Settings(
        home=Path(cli_env["DIPLOMAS_HOME"]),
        keys_dir=Path(cli_env["DIPLOMAS_KEYS_DIR"]),
        key_passphrase=cli_env["DIPLOMAS_KEY_PASSPHRASE"],
    )  # type: ignore[arg-type]
    service = build_service(settings)
    diplomas, total = service.search("", 0, ROWS + 10)
    assert total == ROWS
    assert sorted(d.serial for d in diplomas) == [
        f"TBZMED-1405-{i:06d}" for i in range(1, ROWS + 1)
    ]
    assert len({d.request.external_id for d in diplomas}) == ROWS

    with open(out / "manifest.csv", encoding="utf-8-sig", newline="") as fh:
        entries = list(csv.DictReader(fh))
    assert sorted(int(e["row"]) for e in entries) == list(range(2, ROWS + 2))
    assert not list(out.glob(".*.tmp"))
    for e in entries:
        verdict = service.verify_pdf((out / e["file"]).read_bytes())
        assert verdict.genuine, (e["serial"], verdict.reasons)
    by_id = {d.id: d for d in diplomas}
    assert all(by_id[e["id"]].pdf_sha256 == e["sha256"] for e in entries)


KILLS = 10
SMALL = 60
SEED = 1405


def instance_settings(cli_env: dict[str, str]) -> Settings:
    return Settings(
        home=Path(cli_env["DIPLOMAS_HOME"]),
        keys_dir=Path(cli_env["DIPLOMAS_KEYS_DIR"]),
        key_passphrase=cli_env["DIPLOMAS_KEY_PASSPHRASE"],
    )  # type: ignore[arg-type]


def test_batch_killed_at_ten_random_points_ends_whole_and_audited(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    env = {**os.environ, **cli_env}
    assert subprocess.run([DIPLOMAS, "init"], env=env, capture_output=True).returncode == 0
    roster = cohort(tmp_path / "cohort.csv", SMALL)
    out = tmp_path / "out"
    args = ("issue-batch", str(roster), "--out", str(out), "--workers", "2")

    def written() -> int:
        return len(list(out.glob("TBZMED-*.pdf")))

    progress = []
    for _ in range(KILLS):
        before = written()
        proc = cli(cli_env, *args)
        if rng.random() < 0.4:
            # At a random moment: often still starting up, checking the roster, or
            # resuming the batch record.
            time.sleep(rng.uniform(0.0, 1.5))
        else:
            # After a random number of further PDFs: mid-chunk, between chunks.
            target = before + rng.randint(1, 6)
            deadline = time.monotonic() + 60
            while written() < target and proc.poll() is None:
                assert time.monotonic() < deadline, "the batch made no progress"
                time.sleep(0.005)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        progress.append(written())
    assert progress[-1] < SMALL, f"killed too late to test anything: {progress}"

    rerun = cli(cli_env, *args)
    assert rerun.wait(120) == 0, rerun.stderr.read() if rerun.stderr else ""

    service = build_service(instance_settings(cli_env))
    diplomas, total = service.search("", 0, SMALL + 10)
    assert total == SMALL
    assert sorted(d.serial for d in diplomas) == [
        f"TBZMED-1405-{i:06d}" for i in range(1, SMALL + 1)
    ]
    assert sorted(d.request.external_id for d in diplomas) == [f"S-{i:05d}" for i in range(SMALL)]
    slots = {d.status_slot for d in diplomas}
    assert len(slots) == SMALL and None not in slots

    with open(out / "manifest.csv", encoding="utf-8-sig", newline="") as fh:
        entries = list(csv.DictReader(fh))
    assert sorted(int(e["row"]) for e in entries) == list(range(2, SMALL + 2))
    assert not list(out.glob(".*.tmp"))
    assert written() == SMALL
    by_id = {d.id: d for d in diplomas}
    for e in entries:
        assert by_id[e["id"]].pdf_sha256 == e["sha256"]
        verdict = service.verify_pdf((out / e["file"]).read_bytes())
        assert verdict.genuine, (e["serial"], verdict.reasons)
        assert service.verify_id(e["id"]).status.value == "valid"

    audit = subprocess.run(
        [DIPLOMAS, "audit", "verify", "--json"], env=env, capture_output=True, check=False
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert b'"intact": true' in audit.stdout
    # Each diploma is in the log once: no chunk was logged without its diplomas or twice.
    log, engine = open_audit_log(instance_settings(cli_env))
    try:
        logged = Counter(
            diploma_id
            for entry in log.entries(action=AuditAction.DIPLOMAS_ISSUED)
            for diploma_id, _serial in entry.details["diplomas"]
        )
    finally:
        engine.dispose()
    assert logged == Counter(list(by_id))
