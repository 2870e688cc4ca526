"""kill -9 in the middle of a batch, then rerun: every row ends with exactly one diploma."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from diplomas.bootstrap import build_service
from diplomas.config import Settings

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
