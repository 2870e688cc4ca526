"""Public verification under load: the real app against a bare FastAPI app, both served alike.

    .venv/bin/python bench/verify_load.py [--duration 4] [--rounds 5] [--connections 64]

Makes a throw-away instance in `.bench/` with some issued diplomas and starts three
servers, each one uvicorn worker with the same options, each on 127.0.0.1:

- `real`: `diplomas serve` as deployed (rate limiting off, DIPLOMAS_RATE_LIMIT=0, so that
  one load generator is not refused; logging at WARNING; the verdict cache on, as default);
- `uncached`: the same with the verdict cache off (DIPLOMAS_VERIFY_CACHE_SIZE=0), so every
  request reads the database and checks the record's signatures;
- `bare`: a bare FastAPI app whose same two routes, `async def` handlers with nothing in
  front of them, answer the real answers' bytes as constants.

wrk drives `GET /api/v1/verify/{id}` (JSON) and `GET /v/{id}` (the QR landing page) at 64
concurrent connections, cycling through the issued ids. The servers are driven in turn,
in rounds (each round in another order), so that a slow spell of a shared machine falls on
all of them alike; each figure printed is the median over the rounds. Prints requests/s
and p50/p99 latency of each, and the ratios to the bare app. Needs wrk (Debian package
`wrk`); it offers to install it when missing. Each load run is bounded by its duration.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
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


APPS = ("real", "uncached", "bare")


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
    wrk: str,
    base: str,
    prefix: str,
    ids: list[str],
    args: argparse.Namespace,
    where: Path,
    *,
    warm: bool,
) -> Result:
    script = where / f"wrk-{prefix.strip('/').replace('/', '-')}.lua"
    script.write_text(WRK_SCRIPT % {"ids": ", ".join(json.dumps(i) for i in ids), "prefix": prefix})
    command = [*args.wrk_cpus, wrk, f"-t{args.threads}", f"-c{args.connections}"]
    command += ["--timeout", "5s", "-s"]
    command += [str(script)]
    if warm:
        # A short warm-up first: pools fill, caches fill, the page cache holds the files.
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
    async def verify_id(diploma_id: str) -> Response:
        return Response(json_body, media_type="application/json")

    @app.get("/v/{diploma_id}")
    async def verify_page(diploma_id: str) -> Response:
        return Response(html_body, media_type="text/html; charset=utf-8")

    # The same options as `diplomas serve` (one worker, no uvicorn logging config).
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


def load_options(parser: argparse.ArgumentParser, *, duration: int, rounds: int) -> None:
    """The options of a load run, shared by the load benchmarks."""
    parser.add_argument("--duration", type=int, default=duration, help="seconds per load run")
    parser.add_argument("--rounds", type=int, default=rounds, help="runs per server and route")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--threads",
        type=int,
        default=max(1, min(2, (os.cpu_count() or 2) - 1)),
        help="wrk threads (default: leave one core to the server, at most 2)",
    )
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not pin the servers to core 0 and wrk to the others (taskset)",
    )


def bound_load_options(args: argparse.Namespace) -> list[str]:
    """Keep the options in bounds, set `args.wrk_cpus`, and return the servers' prefix."""
    args.duration = max(1, min(args.duration, 60))
    args.warmup = max(1, min(args.warmup, 10))
    args.rounds = max(1, min(args.rounds, 15))
    server_cpus, args.wrk_cpus = cpu_pins(args.pin)
    return server_cpus


def cpu_pins(wanted: bool) -> tuple[list[str], list[str]]:
    """Command prefixes that put the servers on core 0 (only one is driven at a time) and
    wrk on the others, so that the load generator and the server under test do not take
    turns on a core; empty when not wanted or not possible (one core, no taskset)."""
    cpus = os.cpu_count() or 1
    if not wanted or cpus < 2 or shutil.which("taskset") is None:
        return [], []
    return ["taskset", "-c", "0"], ["taskset", "-c", f"1-{cpus - 1}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    load_options(parser, duration=4, rounds=5)
    parser.add_argument("--diplomas", type=int, default=200, help="diplomas to issue")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--answers", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.answers)
        return
    server_cpus = bound_load_options(args)
    pin = bool(server_cpus)

    wrk = ensure_wrk()
    bench_dir = ROOT / ".bench"
    bench_dir.mkdir(exist_ok=True)
    runs: dict[tuple[str, str], list[Result]] = {}
    servers: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(dir=bench_dir) as tmp:
        where = Path(tmp)
        env, ids = make_instance(where, args.diplomas)
        env = {**os.environ, **env}
        diplomas_cli = str(Path(sys.executable).parent / "diplomas")
        bases: dict[str, str] = {}
        try:
            for app, extra in (("real", {}), ("uncached", {"DIPLOMAS_VERIFY_CACHE_SIZE": "0"})):
                port = free_port()
                command = [*server_cpus, diplomas_cli, "serve", "--host", "127.0.0.1"]
                command += ["--port", str(port)]
                servers.append(subprocess.Popen(command, env={**env, **extra}, cwd=where))
                bases[app] = f"http://127.0.0.1:{port}"
                wait_until_up(f"{bases[app]}/healthz", servers[-1])
            json_answer, _ = fetch(f"{bases['real']}/api/v1/verify/{ids[0]}")
            html_answer, _ = fetch(f"{bases['real']}/v/{ids[0]}")
            assert json.loads(json_answer)["status"] == "valid", json_answer
            answers = where / "answers.json"
            answers.write_text(
                json.dumps({"json": json_answer.decode(), "html": html_answer.decode()})
            )
            port = free_port()
            command = [*server_cpus, sys.executable, __file__, "--serve-bare", str(port)]
            servers.append(subprocess.Popen([*command, "--answers", str(answers)], cwd=where))
            bases["bare"] = f"http://127.0.0.1:{port}"
            wait_until_up(f"{bases['bare']}/api/v1/verify/x", servers[-1])

            for round_number in range(args.rounds):
                # Each round drives the servers in another order.
                order = APPS[round_number % 3 :] + APPS[: round_number % 3]
                for label, prefix in ROUTES:
                    for app in order:
                        result = drive(
                            wrk, bases[app], prefix, ids, args, where, warm=round_number == 0
                        )
                        runs.setdefault((app, label), []).append(result)
        finally:
            for server in servers:
                stop(server)

    print(
        f"{args.connections} connections, {args.rounds} rounds of {args.duration} s per "
        f"server and route (after {args.warmup} s warm-up), wrk -t{args.threads}, "
        f"{len(ids)} diploma ids, one uvicorn worker each"
        + (", servers on core 0 and wrk on the others" if pin else "")
        + "; medians over the rounds"
    )
    print(f"{'route':<13} {'app':<9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  non-2xx/errors")
    summary: dict[tuple[str, str], tuple[float, float, float]] = {}
    for label, _ in ROUTES:
        for app in APPS:
            got = runs[app, label]
            rps = statistics.median([r.rps for r in got])
            p50 = statistics.median([r.p50_ms for r in got])
            p99 = statistics.median([r.p99_ms for r in got])
            summary[app, label] = (rps, p50, p99)
            bad = f"{sum(r.non_2xx for r in got)}/{sum(r.errors for r in got)}"
            print(f"{label:<13} {app:<9} {rps:8.0f} {p50:8.2f} {p99:8.2f}  {bad}")
    print("ratios to the bare app (goal for `real`: req/s >= 0.80, p99 <= 1.50):")
    for label, _ in ROUTES:
        bare_rps, _, bare_p99 = summary["bare", label]
        for app in ("real", "uncached"):
            rps, _, p99 = summary[app, label]
            line = f"  {label:<13} {app:<9} req/s {rps / bare_rps:5.2f}   p99 {p99 / bare_p99:5.2f}"
            if app == "real":
                met = rps / bare_rps >= 0.8 and p99 / bare_p99 <= 1.5
                line += "   goal met" if met else "   goal NOT met"
            print(line)


if __name__ == "__main__":
    main()
