"""compose.scale.yaml brought up, driven the office's way, and timed.

    docker compose -f compose.scale.yaml up -d --build --scale app=2 --scale worker=2
    echo 'a long password 1' | docker compose -f compose.scale.yaml exec -T app \
        diplomas users add maryam@tbzmed.ac.ir --institution tbzmed --role issuer --password-stdin
    echo 'a long password 2' | docker compose -f compose.scale.yaml exec -T app \
        diplomas users add reza@tbzmed.ac.ir --institution tbzmed --role approver --password-stdin
    export ISSUER_TOKEN=$(docker compose -f compose.scale.yaml exec -T app diplomas token create \
        --user maryam@tbzmed.ac.ir --name bench --scope issue,read | tail -1)
    export APPROVER_TOKEN=$(docker compose -f compose.scale.yaml exec -T app diplomas token create \
        --user reza@tbzmed.ac.ir --name bench --scope approve,read | tail -1)
    .venv/bin/python bench/compose_scale.py --rows 3000 --kill app_worker_2 --prefix L

For a deployment made for trying it out, never one holding real diplomas: it issues
`--rows` diplomas. Through nginx on 127.0.0.1:8000, the issuer proposes a generated roster
(the two-person rule is on in production), the approver approves it; progress is read
from each replica directly (their addresses from `docker inspect`) and through nginx; when
a seeded share of the rows is done the `--kill` container gets SIGKILL (or, with
`--stop`, SIGTERM as `docker compose stop` sends it). Then the archive is downloaded through
nginx and checked: one PDF and one manifest row per roster row, serials without gap or
duplicate; a sample verifies by id on each replica and by upload through nginx (paced:
the public verify routes allow 60 requests a minute per address). A roster's external ids
are `<prefix>-000000`…: run again with the same prefix and every row is "already issued".

A container killed with SIGKILL is not restarted by `restart: unless-stopped`
(`docker start <name>` brings it back).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from batch import write_roster


def replica_addresses(names: list[str]) -> dict[str, str]:
    template = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
    return {
        name: subprocess.check_output(["docker", "inspect", "-f", template, name], text=True)
        .strip()
        .split()[0]
        for name in names
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--prefix", default="K", help="external ids <prefix>-000000, …")
    parser.add_argument("--kill", default="app_worker_1", help="worker container to stop")
    parser.add_argument("--stop", action="store_true", help="SIGTERM instead of SIGKILL")
    parser.add_argument("--replicas", nargs="+", default=["app_app_1", "app_app_2"])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="nginx")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    issuer = {"Authorization": f"Bearer {os.environ['ISSUER_TOKEN']}"}
    approver = {"Authorization": f"Bearer {os.environ['APPROVER_TOKEN']}"}
    rng = random.Random(args.seed)
    replicas = replica_addresses(args.replicas)
    print("replicas:", ", ".join(f"{n} {a}" for n, a in replicas.items()))

    with TemporaryDirectory() as tmp, httpx.Client(base_url=args.url, timeout=120) as nginx:
        roster = Path(tmp) / "cohort.csv"
        write_roster(roster, args.rows, args.prefix)
        started = time.monotonic()
        files = {"file": ("cohort.csv", roster.read_bytes(), "text/csv")}
        proposed = nginx.post("/api/v1/batches", headers=issuer, files=files)
        assert proposed.status_code == 202, proposed.text
        approved = nginx.post(
            f"/api/v1/proposals/{proposed.json()['id']}/approve",
            headers=approver,
            json={"comment": "checked against the committee's list"},
        )
        assert approved.status_code == 200, approved.text
        # the link names the public URL; its path is asked of nginx and the replicas
        status = httpx.URL(approved.json()["links"]["batch"]).path
        print(f"proposed and approved in {time.monotonic() - started:.1f} s: {status}")

        kill_at = rng.randrange(args.rows // 5, args.rows // 2)
        stopped_at = None
        reads: Counter[str] = Counter()
        while True:
            for name, address in replicas.items():
                answer = httpx.get(f"http://{address}:8000{status}", headers=issuer, timeout=30)
                assert answer.status_code == 200, answer.text
                reads[name] += 1
            batch = nginx.get(status, headers=issuer).json()
            assert batch["status"] not in ("failed", "refused"), batch
            if stopped_at is None and int(batch["done_rows"]) >= kill_at:
                if args.stop:  # `docker stop` waits for the container: do not wait here
                    subprocess.Popen(["docker", "stop", args.kill], stdout=subprocess.DEVNULL)
                else:
                    subprocess.run(
                        ["docker", "kill", "-s", "KILL", args.kill],
                        check=True,
                        stdout=subprocess.DEVNULL,
                    )
                stopped_at = int(batch["done_rows"])
                how = "SIGTERM" if args.stop else "SIGKILL"
                print(
                    f"{how} to {args.kill} at {stopped_at}/{args.rows} rows, "
                    f"{time.monotonic() - started:.1f} s"
                )
            if batch["status"] == "done":
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        print(
            f"done: {batch['issued']} issued, {batch['skipped']} skipped in {elapsed:.1f} s "
            f"(upload to done; progress read {dict(reads)} times per replica)"
        )

        archive = nginx.get(f"{status}/archive", headers=issuer)
        assert archive.status_code == 200, archive.text
        zf = zipfile.ZipFile(io.BytesIO(archive.content))
        manifest = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode("utf-8-sig"))))
        pdfs = [n for n in zf.namelist() if n.endswith(".pdf")]
        numbers = sorted(int(m["serial"].rsplit("-", 1)[1]) for m in manifest)
        print(
            f"archive: {len(archive.content) / 1e6:.1f} MB, {len(pdfs)} PDFs "
            f"({len(set(pdfs))} distinct), {len(manifest)} manifest rows, "
            f"{dict(Counter(m['status'] for m in manifest))}"
        )
        contiguous = numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        print(
            f"serials {numbers[0]} to {numbers[-1]}: "
            f"{'no gap, no duplicate' if contiguous else 'GAP OR DUPLICATE'}"
        )

        sample = rng.sample(manifest, 25)
        valid = 0
        for address in replicas.values():
            for row in sample:
                answer = httpx.get(f"http://{address}:8000/api/v1/verify/{row['id']}", timeout=30)
                valid += answer.status_code == 200 and answer.json()["status"] == "valid"
                time.sleep(0.5)
        print(f"by id on each replica directly: {valid} valid of {len(sample) * len(replicas)}")
        valid = 0
        for row in sample[:20]:
            pdf = ("diploma.pdf", zf.read(row["file"]), "application/pdf")
            answer = nginx.post("/api/v1/verify", files={"file": pdf})
            valid += answer.status_code == 200 and answer.json()["status"] == "valid"
            time.sleep(1.0)
        print(f"by upload through nginx: {valid} valid of 20")


if __name__ == "__main__":
    main()
