"""Real processes for the fault tests: `diplomas serve` and the CLI as subprocesses on one
instance, a TCP proxy that can cut the database away, and the checks every test ends with."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from conftest import PASSPHRASE, Instance, free_port, make_instance

from diplomas.bootstrap import open_audit_log
from diplomas.core.audit import AuditAction
from diplomas.core.model import Diploma

DIPLOMAS = str(Path(sys.executable).parent / "diplomas")
SERIAL = re.compile(r"^TBZMED-(\d{4})-(\d{6})$")


@dataclass
class Site:
    """An instance on disk (SQLite under tmp, or a PostgreSQL schema) and its CLI env."""

    instance: Instance
    port: int
    env: dict[str, str]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def make_site(tmp: Path, database_url: str = "") -> Site:
    port = free_port()
    inst = make_instance(tmp, database_url, public_url=f"http://127.0.0.1:{port}")
    env = {
        **os.environ,
        "DIPLOMAS_HOME": str(inst.settings.home),
        "DIPLOMAS_KEYS_DIR": str(inst.settings.keys_dir),
        "DIPLOMAS_KEY_PASSPHRASE": PASSPHRASE,
        "DIPLOMAS_DATABASE_URL": database_url,
        "DIPLOMAS_RATE_LIMIT": "0",
        "DIPLOMAS_LOG_LEVEL": "WARNING",
    }
    return Site(inst, port, env)


def spawn(env: dict[str, str], *args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    """`diplomas ARGS` in a process group of its own (so a SIGKILL takes its workers too)."""
    with open(log or os.devnull, "ab") as stderr:
        return subprocess.Popen(
            [DIPLOMAS, *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole process group: no shutdown hook, no flush, no rollback."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


class Server:
    """`diplomas serve` on the site's port, started and SIGKILLed at will."""

    def __init__(self, site: Site, log: Path, workers: int = 1) -> None:
        self.site = site
        self.log = log
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        args = ["serve", "--port", str(self.site.port), "--workers", str(self.workers)]
        self.proc = spawn(self.site.env, *args, log=self.log)
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(f"{self.site.base_url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            kill(self.proc)
            self.proc = None


class TcpProxy:
    """127.0.0.1:port → target, in threads. `cut()` drops every connection and refuses new
    ones (the database "goes away" for whoever connects through it); `restore()` undoes it."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.up = True
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if not self.up:
                    client.close()  # refused: as if nothing listened
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                self.sockets |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            with self.lock:
                self.sockets -= {src, dst}

    def cut(self) -> None:
        with self.lock:
            self.up = False
            doomed = list(self.sockets)
        for s in doomed:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        with self.lock:
            self.up = True

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.listener.close()


@dataclass
class Ledger:
    """What the clients were told: external id → the diploma id in the acknowledgement."""

    acked: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ack(self, external_id: str, diploma_id: str) -> None:
        with self.lock:
            assert self.acked.setdefault(external_id, diploma_id) == diploma_id, external_id


def all_diplomas(inst: Instance) -> list[Diploma]:
    found, total = inst.service.search("", 0, 100_000)
    assert len(found) == total
    return list(found)


def audit_verify(site: Site) -> None:
    done = subprocess.run(
        [DIPLOMAS, "audit", "verify", "--json"],
        env=site.env,
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert b'"intact": true' in done.stdout


def audited_issuances(inst: Instance) -> Counter[str]:
    """How many times the audit log says each diploma id was issued."""
    log, engine = open_audit_log(inst.settings)
    try:
        seen: Counter[str] = Counter()
        for entry in log.entries(action=AuditAction.DIPLOMA_ISSUED):
            seen[entry.subject] += 1
        for entry in log.entries(action=AuditAction.DIPLOMAS_ISSUED):
            seen.update(diploma_id for diploma_id, _serial in entry.details["diplomas"])
        return seen
    finally:
        engine.dispose()


def check_consistent(
    site: Site,
    expected_external_ids: Iterable[str],
    acked: dict[str, str],
    *,
    verify_over_http: Sequence[str] | None = None,
) -> list[Diploma]:
    """Nothing lost, nothing twice, serials unique and gapless per year, status-list slots
    unique, the audit log naming each diploma once and intact. With `verify_over_http`
    (ids; all when empty), each is also checked by the running server: by id and by
    uploading its PDF."""
    expected = set(expected_external_ids)
    diplomas = all_diplomas(site.instance)
    by_external = Counter(d.request.external_id for d in diplomas)
    assert [e for e, n in by_external.items() if n > 1] == [], "duplicated external ids"
    assert set(by_external) == expected, "lost or unexpected diplomas"
    by_external_id = {d.request.external_id: d.id for d in diplomas}
    for external_id, diploma_id in acked.items():
        assert by_external_id[external_id] == diploma_id, f"{external_id}: acknowledged lost"

    per_year: dict[str, list[int]] = defaultdict(list)
    for d in diplomas:
        match = SERIAL.match(d.serial)
        assert match, d.serial
        per_year[match[1]].append(int(match[2]))
    for year, numbers in per_year.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), f"serials of {year}"
    slots = [d.status_slot for d in diplomas]
    assert None not in slots
    assert len(set(slots)) == len(slots), "a status-list slot was handed out twice"

    audited = audited_issuances(site.instance)
    assert audited == Counter({d.id: 1 for d in diplomas}), "audit log and diplomas disagree"
    audit_verify(site)

    if verify_over_http is not None:
        ids = set(verify_over_http) or {d.id for d in diplomas}
        token = site.instance.auth("read")
        with httpx.Client(base_url=site.base_url, timeout=60) as http:
            for diploma_id in sorted(ids):
                verdict = http.get(f"/api/v1/verify/{diploma_id}").json()
                assert verdict["status"] == "valid", (diploma_id, verdict["reasons"])
                pdf = http.get(f"/api/v1/diplomas/{diploma_id}/pdf", headers=token)
                assert pdf.status_code == 200, diploma_id
                files = {"file": ("d.pdf", pdf.content, "application/pdf")}
                upload = http.post("/api/v1/verify", files=files).json()
                assert upload["status"] == "valid", (diploma_id, upload["reasons"])
    return diplomas
