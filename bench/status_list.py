"""The status list as served: its size on the wire and the time to serve it.

    .venv/bin/python bench/status_list.py                     # 100,000 entries, 1% revoked
    .venv/bin/python bench/status_list.py --entries 20000 --revoked 500

A fresh instance (SQLite file unless --database-url) gets N diplomas in chunks, stored the
way bulk issuance stores them (one transaction per chunk, slots handed out inside it; the
record is a stand-in, since signing N records is not what is measured here). Some are
revoked and some suspended through the service. A real uvicorn server on a loopback port
then serves `GET /status/revocation-1`; the script prints the body size (and what gzip
transfer coding would make of it), the time of the first request after a change (read the
bits, encode, sign, store) and of the following ones (cached), and of a 304 revalidation.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import uvicorn

from diplomas.api import create_app
from diplomas.bootstrap import build_service, init_instance
from diplomas.config import Settings
from diplomas.core.model import DiplomaRequest
from diplomas.core.statuslist import bits_of, set_indexes

CHUNK = 5000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stand_in(
    request: DiplomaRequest, diploma_id: str, serial: str, status: tuple[object, ...]
) -> bytes:
    return json.dumps({"id": diploma_id, "serial": serial}).encode()


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--revoked", type=int, default=1000)
    parser.add_argument("--suspended", type=int, default=100)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            home=Path(tmp) / "var",
            keys_dir=Path(tmp) / "keys",
            database_url=args.database_url,
            key_passphrase="bench passphrase, not a secret",
        )
        init_instance(settings, {})
        service = build_service(settings)
        institution = service.institution
        now = datetime.now(UTC)
        request = DiplomaRequest(name="زهرا محمدی‌نژاد", issued_on=now.date())

        start = time.perf_counter()
        ids: list[str] = []
        for first in range(0, args.entries, CHUNK):
            items = [(request, f"row:{n}") for n in range(first, min(args.entries, first + CHUNK))]
            out = service.repository.issue_many(institution, items, "bench", stand_in, now)
            ids.extend(d.id for d, _ in out)
        stored = time.perf_counter() - start
        chosen = random.sample(ids, args.revoked + args.suspended)
        for diploma_id in chosen[: args.revoked]:
            service.revoke(diploma_id, "bench")
        for diploma_id in chosen[args.revoked :]:
            service.suspend(diploma_id, "bench")
        print(
            f"{args.entries:,} diplomas stored in {stored:.1f} s; "
            f"{args.revoked:,} revoked, {args.suspended:,} suspended"
        )

        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(service, settings), host="127.0.0.1", port=port, log_level="warning"
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
                url = "/status/revocation-1"
                first_ms = timed(lambda: http.get(url).raise_for_status(), 1)[0]
                r = http.get(url)
                body = r.content
                _, bits = bits_of(json.loads(body))
                assert len(set_indexes(bits)) == args.revoked, "the bits must match the database"
                cached = timed(lambda: http.get(url).raise_for_status(), args.repeat)
                etag = r.headers["etag"]
                revalidate = timed(
                    lambda: http.get(url, headers={"If-None-Match": etag}), args.repeat
                )

                def after_a_change() -> None:
                    diploma_id = ids[len(rebuilds)]
                    rebuilds.append(diploma_id)
                    start = time.perf_counter()
                    http.get(url).raise_for_status()
                    rebuild_ms.append((time.perf_counter() - start) * 1000)
                    service.suspend(diploma_id, "bench")  # bumps the list's version
                    service.unsuspend(diploma_id)

                rebuilds: list[str] = []
                rebuild_ms: list[float] = []
                for _ in range(20):
                    after_a_change()
                in_process = timed(lambda: service.status_list("revocation-1"), args.repeat)
        finally:
            server.should_exit = True
            thread.join(10)

    encoded = json.loads(body)["credentialSubject"]["encodedList"]
    print(f"GET {url}: {len(body):,} bytes of JSON ({len(encoded):,} in encodedList)")
    print(f"  {len(gzip.compress(body)):,} bytes with gzip transfer coding")
    print(f"  first request after start (read bits, encode, sign, store): {first_ms:.1f} ms")
    print(
        f"  first request after a status change (rebuild): median "
        f"{statistics.median(rebuild_ms[1:]):.1f} ms over {len(rebuild_ms) - 1}"
    )
    print(
        f"  cached 200: median {statistics.median(cached):.2f} ms, "
        f"p95 {sorted(cached)[int(0.95 * len(cached))]:.2f} ms over {len(cached)} requests"
    )
    print(f"  304 revalidation: median {statistics.median(revalidate):.2f} ms")
    print(f"  service.status_list() in process, cached: {statistics.median(in_process):.3f} ms")


if __name__ == "__main__":
    main()
