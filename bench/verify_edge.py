"""What the real app's edge costs under load: the same constant route in three servers.

    .venv/bin/python bench/verify_edge.py [--duration 3] [--rounds 7] [--connections 64]

`bench/verify_load.py` compares the real verify routes with a bare app. This splits the
difference: each server answers `GET /x/{id}` with the same constant bytes from an
`async def` handler, and only what surrounds that route differs:

- `bare`: a bare FastAPI app (as in verify_load.py);
- `app`: the real app as `diplomas serve` builds it (middleware, routes, exception
  handlers, a process that has loaded everything), with the route added;
- `app-no-edge`: the same without the app's edge middleware (request id, security
  headers, metrics, access log).

Same uvicorn options, one worker each, pinned like verify_load.py; driven in turn, in
rounds, medians printed. Each load run is bounded by its duration.
"""

from __future__ import annotations

import argparse
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
    free_port,
    load_options,
    make_instance,
    stop,
    wait_until_up,
)

SERVERS = ("bare", "app", "app-no-edge")
BODY = b'{"status":"valid"}' * 60


def serve(kind: str, port: int) -> None:
    import uvicorn
    from fastapi import FastAPI, Response

    if kind == "bare":
        app = FastAPI()
    else:
        from diplomas.bootstrap import build_app, settle_heap
        from diplomas.config import Settings
        from diplomas.logging_setup import configure_logging

        settings = Settings()
        configure_logging(settings.log_level)
        app = build_app(settings)
        if kind == "app-no-edge":
            from diplomas.api.middleware import EdgeMiddleware

            app.user_middleware = [m for m in app.user_middleware if m.cls is not EdgeMiddleware]
        settle_heap()

    async def constant(diploma_id: str) -> Response:
        return Response(BODY, media_type="application/json")

    app.add_api_route("/x/{diploma_id}", constant, methods=["GET"])
    # First, as the real verify routes are.
    app.router.routes.insert(0, app.router.routes.pop())
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    load_options(parser, duration=3, rounds=7)
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    server_cpus = bound_load_options(args)
    pin = bool(server_cpus)

    wrk = ensure_wrk()
    (ROOT / ".bench").mkdir(exist_ok=True)
    runs: dict[str, list[Result]] = {}
    servers: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(dir=ROOT / ".bench") as tmp:
        where = Path(tmp)
        env, _ = make_instance(where, 1)
        env = {**os.environ, **env}
        bases = {}
        try:
            for kind in SERVERS:
                port = free_port()
                command = [*server_cpus, sys.executable, __file__, "--serve", kind]
                servers.append(
                    subprocess.Popen([*command, "--port", str(port)], env=env, cwd=where)
                )
                bases[kind] = f"http://127.0.0.1:{port}"
                wait_until_up(f"{bases[kind]}/x/warm", servers[-1])
            ids = [f"id{i}" for i in range(50)]
            for round_number in range(args.rounds):
                order = SERVERS[round_number % 3 :] + SERVERS[: round_number % 3]
                for kind in order:
                    result = drive(
                        wrk, bases[kind], "/x/", ids, args, where, warm=round_number == 0
                    )
                    runs.setdefault(kind, []).append(result)
        finally:
            for server in servers:
                stop(server)

    print(
        f"GET /x/{{id}} (constant), {args.connections} connections, {args.rounds} rounds of "
        f"{args.duration} s, wrk -t{args.threads}"
        + (", servers on core 0 and wrk on the others" if pin else "")
        + "; medians over the rounds"
    )
    bare_rps = statistics.median([r.rps for r in runs["bare"]])
    for kind in SERVERS:
        rps = statistics.median([r.rps for r in runs[kind]])
        p99 = statistics.median([r.p99_ms for r in runs[kind]])
        every = ", ".join(f"{r.rps:.0f}" for r in runs[kind])
        print(
            f"{kind:<12} req/s {rps:7.0f} ({rps / bare_rps:4.2f} of bare)  p99 {p99:6.2f} ms"
            f"  rounds: {every}"
        )


if __name__ == "__main__":
    main()
