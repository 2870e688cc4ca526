"""The full tamper suite: attacked files derived from genuine diplomas, through every verifier.

    .venv/bin/python bench/tamper.py

Issues three genuine diplomas (one co-issued) on a throwaway instance, derives the attacked
files (`tests/tamper/attacks.py`), and checks each with the upload API and the offline
verifier (`diplomas verify --trust`). Prints a table per family: files, refused,
accepted-when-attacked (must be 0) and the median time of one verification. Exits 1 if
any attacked file was accepted or any genuine one refused.
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import SAMT, make_instance  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from tamper.attacks import corpus  # noqa: E402
from tamper.verifiers import offline, trust_bundles, unlimited, upload  # noqa: E402

from diplomas.api import create_app  # noqa: E402


def main() -> int:
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        inst = make_instance(Path(tmp), co_issuers=[SAMT])
        bundles = trust_bundles(inst.settings)
        built = corpus(inst.service, scale="full")
        failures = 0
        with TestClient(create_app(inst.service, unlimited(inst.settings))) as client:
            for genuine in built.genuine:
                for outcome in (upload(client, genuine.pdf), offline(genuine.pdf, bundles)):
                    if not outcome.accepted:
                        failures += 1
                        print(f"GENUINE REFUSED: {genuine.label}: {outcome.reasons}")
            print(f"genuine diplomas: {len(built.genuine)}, each accepted by both verifiers")
            print()
            header = f"{'family':24} {'files':>6} {'refused':>8} {'accepted':>9} {'median ms':>10}"
            print(header)
            print("-" * len(header))
            total = refused_total = accepted_total = 0
            for family, attacks in built.families().items():
                refused = accepted = 0
                times = []
                for attack in attacks:
                    results = (upload(client, attack.pdf), offline(attack.pdf, bundles))
                    times.extend(o.seconds for o in results)
                    if any(o.accepted or not o.reasons for o in results):
                        accepted += 1
                        print(f"ACCEPTED: {family} {attack.label}")
                    else:
                        refused += 1
                total, refused_total = total + len(attacks), refused_total + refused
                accepted_total += accepted
                median = 1000 * statistics.median(times)
                print(f"{family:24} {len(attacks):6} {refused:8} {accepted:9} {median:10.1f}")
            print("-" * len(header))
            print(f"{'total':24} {total:6} {refused_total:8} {accepted_total:9}")
        return 1 if failures or accepted_total else 0


if __name__ == "__main__":
    sys.exit(main())
