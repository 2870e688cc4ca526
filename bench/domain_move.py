"""An institution moves to its own domain after issuing N diplomas: does every one of them
still verify, and what did the move cost?

    .venv/bin/python bench/domain_move.py --n 1000 [--sample 50] [--database-url postgresql://...]

On a throw-away instance in .bench/: issues N diplomas at http://127.0.0.1:8000 (a tenth
co-issued with a second institution), then does what the README tells the office to do,
`diplomas settings set public_url https://diplomas.tbzmed.ac.ir`, and times it: the
settings check, the identity move recorded with its audit entry, and the service built
again over the new address (what a running server does when it sees the change). Then
it checks every diploma by id, a sample by upload (the whole PDF check), every PDF
offline with trust bundles exported after the move, and every QR code offline, and
prints how many passed and how long each took.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diplomas.bootstrap import (
    add_institution,
    build_service,
    init_instance,
    offline_keyring,
    open_key_stores,
    verify_offline,
)
from diplomas.config import Settings
from diplomas.core.credential import claims_from_credential
from diplomas.core.qrproof import check_qr
from diplomas.core.verification import VerdictStatus, parse_record
from diplomas.settings_file import set_institution_setting

NAMES = ["زهرا محمدی‌نژاد", "علی رضایی", "مریم احمدی", "رضا کریمی", "سارا حسینی"]
NEW_URL = "https://diplomas.tbzmed.ac.ir"
SAMT = {
    "slug": "samt",
    "name": "سازمان صنعت، معدن و تجارت استان آذربایجان شرقی",
    "name_en": "East Azerbaijan Organization of Industry, Mine and Trade",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--sample", type=int, default=50, help="diplomas checked by upload")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    where = Path(__file__).resolve().parents[1] / ".bench"
    where.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        settings = Settings(
            home=Path(tmp) / "var",
            keys_dir=Path(tmp) / "keys",
            database_url=args.database_url,
            key_passphrase="bench passphrase",  # type: ignore[arg-type]
        )
        init_instance(settings, {})
        add_institution(settings, dict(SAMT))
        service = build_service(settings)
        start = time.perf_counter()
        issued = []
        for i in range(args.n):
            raw = {"name": NAMES[i % len(NAMES)], "name_en": "Bench Person"}
            if i % 10 == 0:
                raw["co_issuers"] = "samt"
            issued.append(service.issue(raw))
        issue_s = time.perf_counter() - start
        print(f"issued {args.n} diplomas at {service.institution.public_url} in {issue_s:.1f} s")

        start = time.perf_counter()
        lines = set_institution_setting(settings, "public_url", NEW_URL, actor="bench")
        set_s = time.perf_counter() - start
        start = time.perf_counter()
        moved = build_service(settings)
        rebuild_s = time.perf_counter() - start
        print(*lines, sep="\n")

        bundles = [
            json.dumps(s.export_bundle()).encode() for s in open_key_stores(settings).values()
        ]
        keyring = offline_keyring(*bundles)
        rows: list[tuple[str, int, int, float]] = []

        def check(label: str, items: list[object], ok: object) -> None:
            start = time.perf_counter()
            passed = sum(1 for item in items if ok(item))  # type: ignore[operator]
            rows.append((label, len(items), passed, time.perf_counter() - start))

        check("by id (QR page, JSON)", issued, lambda o: moved.verify_id(o.diploma.id).genuine)
        sample = random.Random(7).sample(issued, min(args.sample, len(issued)))
        check("by upload (sample)", sample, lambda o: moved.verify_pdf(o.pdf).genuine)
        check(
            "offline, bundles exported after",
            issued,
            lambda o: verify_offline(o.pdf, *bundles).status is VerdictStatus.VALID,
        )
        check(
            "QR code offline",
            issued,
            lambda o: (
                check_qr(
                    claims_from_credential(parse_record(o.diploma.record)).qr_text, keyring
                ).genuine
            ),
        )
        new = moved.issue({"name": NAMES[0]})
        check("a new diploma, by id", [new], lambda o: moved.verify_id(o.diploma.id).genuine)

        print()
        print(
            f"move: settings set {set_s * 1000:.0f} ms (check, write, identity, audit), "
            f"service rebuilt over the new address {rebuild_s * 1000:.0f} ms"
        )
        print(
            f"new diplomas name {new.diploma.verify_url.rsplit('/v/', 1)[0]} "
            f"({moved.institution.did}); former: {', '.join(moved.institution.former_dids)}"
        )
        print()
        print("| check | diplomas | valid | total s | ms each |")
        print("|---|---:|---:|---:|---:|")
        for label, count, passed, seconds in rows:
            print(
                f"| {label} | {count:,} | {passed:,} | {seconds:.1f} | "
                f"{seconds / count * 1000:.1f} |"
            )
        if any(passed != count for _, count, passed, _ in rows):
            raise SystemExit("some diplomas did not verify after the move")


if __name__ == "__main__":
    main()
