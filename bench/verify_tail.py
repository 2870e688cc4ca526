"""The JSON verdict's throughput and tail from a cold start: our app against a bare one.

    .venv/bin/python bench/verify_tail.py [--duration 15] [--rounds 3] [--connections 64]

Makes a throw-away instance in `.bench/` with some issued diplomas, then, in each round,
starts each server afresh (a new uvicorn process, one worker, the same options) and
drives `GET /api/v1/verify/{id}` with wrk (-t2 -c64 by default) for the whole duration
from its very first request: no warm-up, so the latency distribution includes whatever
the first requests pay (imports, pools, caches, the first database connection).

- `real`: `diplomas serve` as deployed (rate limiting off so that one load generator is
  not refused, logging at WARNING, the verdict cache on);
- `bare`: a bare FastAPI app whose one route, an `async def` handler with nothing in
  front of it, looks the id up in a dict of the real answers' bytes.

Servers are ready when their `/healthz` answers (a route the load does not touch). The
servers are started in turn, in another order each round; medians over the rounds are
printed with the ratios (goals: req/s >= 0.80 x bare, p99 <= 1.50 x bare).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from verify_load import (
    ROOT,
    Result,
    bound_load_options,
    drive,
    ensure_wrk,
    fetch,
    free_port,
    load_options,
    make_instance,
    stop,
    wait_until_up,
)

APPS = ("real", "bare")
PREFIX = "/api/v1/verify/"


def serve_bare(port: int, answers_file: Path) -> None:
    import uvicorn
    from fastapi import FastAPI, Response

    answers = {key: value.encode() for key, value in json.loads(answers_file.read_text()).items()}
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/verify/{diploma_id}")
    async def verify_id(diploma_id: str) -> Response:
        return Response(answers[diploma_id], media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


def start(
    app: str, where: Path, env: dict[str, str], server_cpus: list[str], answers: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    if app == "bare":
        command = [*server_cpus, sys.executable, __file__, "--serve-bare", str(port)]
        command += ["--answers", str(answers)]
    else:
        diplomas_cli = str(Path(sys.executable).parent / "diplomas")
        command = [*server_cpus, diplomas_cli, "serve", "--host", "127.0.0.1"]
        command += ["--port", str(port)]
    process = subprocess.Popen(command, env=env, cwd=where)
    base = f"http://127.0.0.1:{port}"
    wait_until_up(f"{base}/healthz", process)
    return process, base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    load_options(parser, duration=15, rounds=3)
    parser.set_defaults(threads=2)  # wrk -t2 -c64, as the goal was set
    parser.add_argument("--diplomas", type=int, default=200, help="diplomas to issue")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--answers", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.answers)
        return
    server_cpus = bound_load_options(args)
    wrk = ensure_wrk()
    bench_dir = ROOT / ".bench"
    bench_dir.mkdir(exist_ok=True)
    runs: dict[str, list[Result]] = {}
    with tempfile.TemporaryDirectory(dir=bench_dir) as tmp:
        where = Path(tmp)
        env, ids = make_instance(where, args.diplomas)
        env = {**os.environ, **env}
        answers = where / "answers.json"
        # The real answers, from a server that is then stopped (each run starts afresh).
        process, base = start("real", where, env, server_cpus, answers)
        try:
            answered = {i: fetch(f"{base}{PREFIX}{i}")[0].decode() for i in ids}
        finally:
            stop(process)
        answers.write_text(json.dumps(answered))
        for round_number in range(args.rounds):
            for app in APPS[round_number % 2 :] + APPS[: round_number % 2]:
                process, base = start(app, where, env, server_cpus, answers)
                try:
                    result = drive(wrk, base, PREFIX, ids, args, where, warm=False)
                finally:
                    stop(process)
                runs.setdefault(app, []).append(result)
                print(
                    f"round {round_number + 1} {app:<5} {result.rps:8.0f} req/s  "
                    f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:7.2f} ms",
                    flush=True,
                )

    print(
        f"cold start, {args.connections} connections, wrk -t{args.threads}, {args.duration} s "
        f"from the first request, {len(ids)} diploma ids, one uvicorn worker each, "
        f"{args.rounds} rounds"
        + (", servers on core 0 and wrk on the others" if server_cpus else "")
        + "; medians over the rounds"
    )
    print(f"{'app':<6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  non-2xx/errors")
    summary = {}
    for app in APPS:
        got = runs[app]
        summary[app] = (
            statistics.median(r.rps for r in got),
            statistics.median(r.p50_ms for r in got),
            statistics.median(r.p99_ms for r in got),
        )
        rps, p50, p99 = summary[app]
        bad = f"{sum(r.non_2xx for r in got)}/{sum(r.errors for r in got)}"
        print(f"{app:<6} {rps:8.0f} {p50:8.2f} {p99:8.2f}  {bad}")
    (rps, _, p99), (bare_rps, _, bare_p99) = summary["real"], summary["bare"]
    met = rps / bare_rps >= 0.8 and p99 / bare_p99 <= 1.5
    print(
        f"real / bare: req/s {rps / bare_rps:.2f} (goal >= 0.80), p99 {p99 / bare_p99:.2f} "
        f"(goal <= 1.50): {'goals met' if met else 'goals NOT met'}"
    )


if __name__ == "__main__":
    main()
