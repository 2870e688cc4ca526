"""Issue N diplomas through the service and render the same page unsigned N times.

    .venv/bin/python bench/issue.py --n 200 [--database-url postgresql://...]

Prints both rates, their ratio, and where the time of one signed diploma goes. Runs on a
throwaway instance in a temporary directory (SQLite file unless --database-url is given).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diplomas.bootstrap import build_service, init_instance
from diplomas.config import Settings
from diplomas.core.credential import claims_from_credential
from diplomas.core.verification import parse_record

NAMES = ["زهرا محمدی‌نژاد", "علی رضایی", "مریم احمدی", "رضا کریمی", "سارا حسینی"]


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    # Beside the repository, on the disk an instance's var/ would be on (/tmp here creates
    # files several times slower than the rest of the same disk).
    where = Path(__file__).resolve().parents[1] / ".bench"
    where.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        settings = Settings(
            home=Path(tmp) / "var",
            keys_dir=Path(tmp) / "keys",
            database_url=args.database_url,
            key_passphrase="bench passphrase",
        )  # type: ignore[arg-type]
        init_instance(settings, {})
        service = build_service(settings)
        service.issue({"name": "گرم کردن"})  # warm caches: fonts, keys, templates

        start = time.perf_counter()
        last = None
        for i in range(args.n):
            last = service.issue(
                {
                    "name": NAMES[i % len(NAMES)],
                    "name_en": "Bench Person",
                    "citation": "بنیان‌گذار شرکت دانش‌بنیان",
                }
            )
        signed_s = time.perf_counter() - start
        assert last is not None
        claims = claims_from_credential(parse_record(last.diploma.record))

        start = time.perf_counter()
        for _ in range(args.n):
            unsigned = service.renderer.render(claims, "classic")
        render_s = time.perf_counter() - start

        k = min(args.n, 50)
        pades = timed(lambda: service.pdf_signer.sign(unsigned, last.diploma.record), k)
        verify = timed(lambda: service.verify_pdf(last.pdf), k)

    signed_rate, render_rate = args.n / signed_s, args.n / render_s
    print(f"diplomas issued (render + record + PAdES + database + file): {args.n}")
    print(f"  signed issuance   {signed_rate:8.1f} diplomas/s  ({1000 / signed_rate:.1f} ms each)")
    print(f"  unsigned render   {render_rate:8.1f} pages/s     ({1000 / render_rate:.1f} ms each)")
    print(f"  ratio signed/unsigned: {signed_rate / render_rate:.2f}")
    print(f"  PAdES sign alone (median of {k}): {statistics.median(pades) * 1000:.1f} ms")
    print(f"  upload verification (median of {k}): {statistics.median(verify) * 1000:.1f} ms")
    print(f"  signed PDF size: {len(last.pdf) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
