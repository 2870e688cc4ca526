"""Sign and check diploma PDFs with and without a timestamp authority: B-B, B-T, B-LT.

    .venv/bin/python bench/timestamps.py [--n 100]

The trust services are the tests' own (certomancer, tests/tsa.py) on 127.0.0.1, so the
figures hold the protocol's cost (a TSA round trip; for B-LT also OCSP and CRL fetches
and a second incremental update) without a real network's latency: add that per
signature for a real authority. Prints signatures per second and the median of each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import tsa  # noqa: E402 - the tests' trust services
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.serialization import load_pem_private_key  # noqa: E402

from diplomas.pdfsign import PadesSigner, PadesValidator  # noqa: E402
from diplomas.pdfsign.signer import Timestamping  # noqa: E402
from tests.pdfsign.conftest import RECORD, make_unsigned_pdf  # noqa: E402


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        services = tsa.start(Path(tmp))
        try:
            key = load_pem_private_key(services.key_pem("signer"), None)
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            chain = [services.certificate("interm"), services.certificate("root")]
            roots = (services.certificate("tsa-root"),)
            profiles = {
                "B-B (no authority)": None,
                "B-T (timestamp)": Timestamping(
                    services.tsa_url, roots=roots, embed_validation_info=False
                ),
                "B-LT (timestamp + DSS)": Timestamping(services.tsa_url, roots=roots),
            }
            validator = PadesValidator([services.certificate("root")], timestamp_roots=list(roots))
            unsigned = make_unsigned_pdf()
            print(f"{'profile':<24} {'sign/s':>8} {'median ms':>10} {'check/s':>8} {'bytes':>7}")
            for name, timestamping in profiles.items():
                signer = PadesSigner(
                    key, services.certificate("signer"), chain, timestamping=timestamping
                )
                signed = signer.sign(unsigned, RECORD)  # warm: the authority's first answer
                report = validator.inspect(signed)
                assert all(s.ok for s in report.signatures) and not report.problems, report
                signing = timed(lambda s=signer: s.sign(unsigned, RECORD), args.n)
                checking = timed(lambda p=signed: validator.inspect(p), args.n)
                print(
                    f"{name:<24} {args.n / sum(signing):>8.1f} "
                    f"{statistics.median(signing) * 1000:>10.1f} "
                    f"{args.n / sum(checking):>8.1f} {len(signed):>7}"
                )
        finally:
            services.stop()


if __name__ == "__main__":
    main()
