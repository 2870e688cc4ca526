"""Issue N diplomas with the signing keys in SoftHSM2 and N with keys in files, same run.

    .venv/bin/python bench/hsm.py --n 1000 [--workers 2] [--module /usr/lib/softhsm/libsofthsm2.so]

Two throwaway instances side by side in a temporary directory (SQLite), one of them moved
into a fresh SoftHSM2 token (`diplomas keys init-token`'s path). Prints, for each:
single issuance through the service (record signed, page rendered, PAdES-signed, stored;
the two alternate in blocks of 100, so that neither gets the quieter minutes), bulk
issuance of a roster of N rows in worker processes (each opens its own token session),
and the median time of one record signature and one PAdES signature alone.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diplomas.batches import BatchOptions
from diplomas.bootstrap import build_batches, build_service, init_instance, open_key_store
from diplomas.config import Settings
from diplomas.core.credential import claims_from_credential
from diplomas.core.verification import parse_record
from diplomas.keys.token import move_to_token
from diplomas.service import DiplomaService

NAMES = ["زهرا محمدی‌نژاد", "علی رضایی", "مریم احمدی", "رضا کریمی", "سارا حسینی"]
PIN = "bench-pin-1234"
BLOCK = 100


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def softhsm(where: Path) -> None:
    """A SoftHSM2 configuration and token under `where`, for this process and its children."""
    tokens = where / "tokens"
    tokens.mkdir()
    conf = where / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    os.environ["DIPLOMAS_PKCS11_PIN"] = PIN
    subprocess.run(
        [
            *("softhsm2-util", "--init-token", "--free", "--label", "bench"),
            *("--so-pin", "bench-so-pin", "--pin", PIN),
        ],
        check=True,
        capture_output=True,
    )


def instance(home: Path, module: str | None) -> tuple[Settings, DiplomaService]:
    settings = Settings(
        home=home / "var", keys_dir=home / "keys", key_passphrase="bench passphrase"
    )  # type: ignore[arg-type]
    init_instance(settings, {})
    if module is not None:
        move_to_token(open_key_store(settings), module, "bench", lambda: PIN, datetime.now(UTC))
    service = build_service(settings)
    service.issue({"name": "گرم کردن"})  # warm caches: fonts, keys, templates, the session
    return settings, service


def roster(path: Path, n: int, tag: str) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "name_en", "issued_on", "external_id"])
        for i in range(n):
            writer.writerow([NAMES[i % len(NAMES)], "Bench Person", "1405/09/01", f"{tag}-{i}"])
    return path


def signatures_alone(service: DiplomaService, k: int) -> tuple[float, float]:
    """Median seconds of one record signature and of one PAdES signature of a page."""
    last = service.issue({"name": "آخر"})
    assert service.verify_pdf(last.pdf).genuine
    record_signer = service.record_keys.signer()
    record = timed(lambda: record_signer.sign(b"x" * 600), k)
    claims = claims_from_credential(parse_record(last.diploma.record))
    unsigned = service.renderer.render(claims, "classic")
    pades = timed(lambda: service.pdf_signer.sign(unsigned, last.diploma.record), k)
    return statistics.median(record), statistics.median(pades)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--module", default="/usr/lib/softhsm/libsofthsm2.so")
    args = parser.parse_args()

    where = Path(__file__).resolve().parents[1] / ".bench"
    where.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        root = Path(tmp)
        softhsm(root)
        kinds = {
            "file keys": instance(root / "files", None),
            "SoftHSM2": instance(root / "token", args.module),
        }
        single = dict.fromkeys(kinds, 0.0)
        done = dict.fromkeys(kinds, 0)
        while min(done.values()) < args.n:
            for kind, (_, service) in kinds.items():
                count = min(BLOCK, args.n - done[kind])
                start = time.perf_counter()
                for i in range(done[kind], done[kind] + count):
                    service.issue({"name": NAMES[i % len(NAMES)], "name_en": "Bench Person"})
                single[kind] += time.perf_counter() - start
                done[kind] += count

        # A small batch of each first (untimed) starts the forkserver; then two rounds, the
        # second in the other order (file, token, token, file), so that other load on the
        # machine falls on both.
        bulk: dict[str, list[float]] = {kind: [] for kind in kinds}
        for kind, (settings, service) in kinds.items():
            tag = f"{kind.split()[0]}-warm"
            build_batches(service, settings).run(
                roster(root / f"{tag}.csv", 10, tag),
                BatchOptions(out_dir=root / f"out-{tag}", workers=args.workers),
            )
        for round_, order in enumerate((list(kinds), list(reversed(kinds)))):
            for kind in order:
                settings, service = kinds[kind]
                tag = f"{kind.split()[0]}-{round_}"
                report = build_batches(service, settings).run(
                    roster(root / f"{tag}.csv", args.n, tag),
                    BatchOptions(out_dir=root / f"out-{tag}", workers=args.workers),
                )
                assert report.batch.issued == args.n, report.batch.message
                bulk[kind].append(report.rate)

        alone = {kind: signatures_alone(service, 200) for kind, (_, service) in kinds.items()}

    print(f"{args.n} diplomas per kind of key, same run; bulk with {args.workers} worker(s)")
    print(
        f"{'':10} {'single issue':>13} {'bulk, 2 rounds':>22} {'record sig':>11} {'PAdES sig':>10}"
    )
    for kind in kinds:
        rounds = " ".join(f"{rate:6.1f}" for rate in bulk[kind])
        print(
            f"{kind:10} {args.n / single[kind]:6.1f} dipl/s {rounds} dipl/s "
            f"{alone[kind][0] * 1000:8.3f} ms {alone[kind][1] * 1000:7.2f} ms"
        )
    files, token = (args.n / single[k] for k in kinds)
    print(f"single issuance, SoftHSM2 / file keys: {token / files:.2f}")
    ratio = statistics.mean(bulk["SoftHSM2"]) / statistics.mean(bulk["file keys"])
    print(f"bulk issuance (mean of the rounds), SoftHSM2 / file keys: {ratio:.2f}")


if __name__ == "__main__":
    main()
