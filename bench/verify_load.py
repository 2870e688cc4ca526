"""Public verification under load: the real app against a bare FastAPI app, both served alike.

    .venv/bin/python bench/verify_load.py [--duration 10] [--connections 64] [--diplomas 50]

Makes a throw-away instance in `.bench/` with some issued diplomas, serves it with
`diplomas serve` (one uvicorn worker, rate limiting off: DIPLOMAS_RATE_LIMIT=0, logging at
WARNING), and drives `GET /api/v1/verify/{id}` and the QR landing page `GET /v/{id}` with
wrk at 64 concurrent connections for a fixed time, cycling through the issued ids. The same
run serves a bare FastAPI app with the same uvicorn options, whose same two routes (plain
`def` handlers, like the real ones) answer with the real answers' bytes as constants, and
drives it the same way. Prints requests/s and p50/p99 latency of each, and the ratios real /
bare. Needs wrk (Debian package `wrk`); it offers to install it when missing.

The servers listen on 127.0.0.1 only; each load run is bounded by its duration.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NAMES = ["زهرا محمدی‌نژاد", "علی رضایی", "مریم احمدی", "رضا کریمی", "سارا حسینی"]
ROUTES = (("JSON verify", "/api/v1/verify/"), ("QR page", "/v/"))

# wrk: each thread walks the id list from its own offset; done() prints one JSON line.
WRK_SCRIPT = """
local ids = {%(ids)s}
local prefix = "%(prefix)s"
local counter = 0
local offset = 0
local threads = {}

function setup(thread)
  thread:set("offset", #threads * 7)
  table.insert(threads, thread)
end

function init(args)
  counter = offset
end

function request()
  counter = counter + 1
  return wrk.format("GET", prefix .. ids[(counter %% #ids) + 1])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"non_2xx": %%d, "errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk (the load generator) is missing; installing the Debian package `wrk`...")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    except (OSError, subprocess.CalledProcessError):
        try:
            subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
            subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
        except (OSError, subprocess.CalledProcessError) as exc:
            sys.exit(f"could not install wrk ({exc}); install it with `apt-get install wrk`")
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is still not on the PATH; install it with `apt-get install wrk`")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server exited with code {process.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=1):  # 127.0.0.1 only
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"the server did not answer {url} within {timeout:.0f} s")


def fetch(url: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(url, timeout=5) as answer:  # 127.0.0.1 only
        body: bytes = answer.read()
        return body, answer.headers.get("content-type", "")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def drive(
    wrk: str, base: str, prefix: str, ids: list[str], args: argparse.Namespace, where: Path
) -> Result:
    script = where / f"wrk-{prefix.strip('/').replace('/', '-')}.lua"
    script.write_text(WRK_SCRIPT % {"ids": ", ".join(json.dumps(i) for i in ids), "prefix": prefix})
    command = [wrk, f"-t{args.threads}", f"-c{args.connections}", "--timeout", "5s", "-s"]
    command += [str(script)]
    # A short warm-up (JIT-free Python still fills caches, pools and the page cache).
    subprocess.run(
        [*command, "-d", f"{args.warmup}s", base], check=True, capture_output=True, timeout=60
    )
    done = subprocess.run(
        [*command, "-d", f"{args.duration}s", base],
        check=True,
        capture_output=True,
        text=True,
        timeout=args.duration + 60,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    data = json.loads(line.removeprefix("RESULT "))
    return Result(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        non_2xx=data["non_2xx"],
        errors=data["errors"],
    )


def make_instance(where: Path, count: int) -> tuple[dict[str, str], list[str]]:
    from diplomas.bootstrap import build_service, init_instance
    from diplomas.config import Settings

    env = {
        "DIPLOMAS_HOME": str(where / "var"),
        "DIPLOMAS_KEYS_DIR": str(where / "keys"),
        "DIPLOMAS_KEY_PASSPHRASE": "bench passphrase",
        "DIPLOMAS_RATE_LIMIT": "0",
        "DIPLOMAS_LOG_LEVEL": "WARNING",
    }
    settings = Settings(
        home=where / "var", keys_dir=where / "keys", key_passphrase="bench passphrase"
    )  # type: ignore[arg-type]
    init_instance(settings, {})
    service = build_service(settings)
    ids = []
    for i in range(count):
        issued = service.issue(
            {
                "name": NAMES[i % len(NAMES)],
                "name_en": "Bench Person",
                "citation": "بنیان‌گذار شرکت دانش‌بنیان",
            }
        )
        ids.append(issued.diploma.id)
    return env, ids


def serve_bare(port: int, answers_file: Path) -> None:
    """The bare app: the same two routes answering the real answers' bytes as constants."""
    import uvicorn
    from fastapi import FastAPI, Response

    answers = json.loads(answers_file.read_text())
    json_body = answers["json"].encode()
    html_body = answers["html"].encode()
    app = FastAPI()

    @app.get("/api/v1/verify/{diploma_id}")
    def verify_id(diploma_id: str) -> Response:
        return Response(json_body, media_type="application/json")

    @app.get("/v/{diploma_id}")
    def verify_page(diploma_id: str) -> Response:
        return Response(html_body, media_type="text/html; charset=utf-8")

    # The same options as `diplomas serve` (one worker, no uvicorn logging config).
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--diplomas", type=int, default=50, help="diplomas to issue")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--answers", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.answers)
        return
    args.duration = max(1, min(args.duration, 60))
    args.warmup = max(1, min(args.warmup, 10))

    wrk = ensure_wrk()
    bench_dir = ROOT / ".bench"
    bench_dir.mkdir(exist_ok=True)
    results: dict[tuple[str, str], Result] = {}
    with tempfile.TemporaryDirectory(dir=bench_dir) as tmp:
        where = Path(tmp)
        env, ids = make_instance(where, args.diplomas)
        env = {**os.environ, **env}
        diplomas_cli = str(Path(sys.executable).parent / "diplomas")

        port = free_port()
        real = subprocess.Popen(
            [diplomas_cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=where,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_up(f"{base}/healthz", real)
            json_answer, _ = fetch(f"{base}/api/v1/verify/{ids[0]}")
            html_answer, _ = fetch(f"{base}/v/{ids[0]}")
            assert json.loads(json_answer)["status"] == "valid", json_answer
            for label, prefix in ROUTES:
                results["real", label] = drive(wrk, base, prefix, ids, args, where)
        finally:
            stop(real)

        answers = where / "answers.json"
        answers.write_text(json.dumps({"json": json_answer.decode(), "html": html_answer.decode()}))
        port = free_port()
        bare = subprocess.Popen(
            [sys.executable, __file__, "--serve-bare", str(port), "--answers", str(answers)],
            cwd=where,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_up(f"{base}/api/v1/verify/x", bare)
            for label, prefix in ROUTES:
                results["bare", label] = drive(wrk, base, prefix, ids, args, where)
        finally:
            stop(bare)

    print(
        f"{args.connections} connections, {args.duration} s per run (after {args.warmup} s "
        f"warm-up), wrk -t{args.threads}, {len(ids)} diploma ids, one uvicorn worker each"
    )
    print(f"{'route':<13} {'app':<5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  non-2xx/errors")
    for label, _ in ROUTES:
        for app in ("real", "bare"):
            r = results[app, label]
            print(
                f"{label:<13} {app:<5} {r.rps:8.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f}  "
                f"{r.non_2xx}/{r.errors}"
            )
    print("ratios real/bare (goal: req/s >= 0.80, p99 <= 1.50):")
    for label, _ in ROUTES:
        real_r, bare_r = results["real", label], results["bare", label]
        rps_ratio = real_r.rps / bare_r.rps
        p99_ratio = real_r.p99_ms / bare_r.p99_ms
        met = "met" if rps_ratio >= 0.8 and p99_ratio <= 1.5 else "NOT met"
        print(f"  {label:<13} req/s {rps_ratio:5.2f}   p99 {p99_ratio:5.2f}   goal {met}")


if __name__ == "__main__":
    main()
