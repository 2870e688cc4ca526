"""`make audit` runs pip-audit over the lock: it asks about every pinned package, fails on a
published vulnerability, and fails, saying nothing was audited, when the service is away.

pypi.org's advisory API and api.osv.dev may be out of reach where the tests run, so a
small server started here answers OSV's query API (`POST /v1/query`, what pip-audit's
`--osv-url` points at) with one real advisory: GHSA-59g5-xgcq-4qw3 (CVE-2024-53981),
python-multipart before 0.0.18, one of the releases the security review named.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import free_port
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
ADVISORY = {
    "schema_version": "1.6.0",
    "id": "GHSA-59g5-xgcq-4qw3",
    "aliases": ["CVE-2024-53981"],
    "summary": "Denial of service (DoS) via deformation multipart/form-data boundary",
    "affected": [
        {
            "package": {"name": "python-multipart", "ecosystem": "PyPI"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "0.0.18"}]}],
        }
    ],
}


class Advisories(ThreadingHTTPServer):
    asked: dict[str, str]


class Query(BaseHTTPRequestHandler):
    server: Advisories

    def do_POST(self) -> None:
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        name, version = query["package"]["name"], query["version"]
        self.server.asked[name] = version
        vulnerable = name == "python-multipart" and Version(version) < Version("0.0.18")
        body = json.dumps({"vulns": [ADVISORY]} if vulnerable else {}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def advisories() -> Iterator[Advisories]:
    server = Advisories(("127.0.0.1", free_port()), Query)
    server.asked = {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def make_audit(
    url: str, *locks: Path, extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`make audit` with this test's interpreter's venv, which it does not reinstall."""
    venv = Path(sys.prefix)
    return subprocess.run(
        [
            "make",
            "--no-print-directory",
            f"VENV={venv}",
            "-o",
            f"{venv}/.installed-dev",
            "audit",
            "AUDIT_SERVICE=osv",
            f"AUDIT_ARGS=--osv-url={url}",
            f"AUDIT_LOCKS={' '.join(str(lock) for lock in locks)}",
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def pins(*locks: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for lock in locks:
        text = lock.read_text(encoding="utf-8")
        found |= dict(re.findall(r"^([a-z0-9._-]+)==(\S+)", text, re.MULTILINE))
    return found


LOCKS = (ROOT / "requirements" / "lock.txt", ROOT / "requirements" / "tools.txt")


def test_every_pin_is_asked_about_and_no_advisory_passes(advisories: Advisories) -> None:
    url = f"http://127.0.0.1:{advisories.server_port}/v1/query"
    done = make_audit(url, *LOCKS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No known vulnerabilities found" in done.stdout + done.stderr
    assert advisories.asked == pins(*LOCKS)


def test_a_vulnerable_pin_fails_the_audit_naming_the_fix(
    advisories: Advisories, tmp_path: Path
) -> None:
    lock = tmp_path / "lock.txt"
    text = LOCKS[0].read_text(encoding="utf-8")
    lock.write_text(re.sub(r"^python-multipart==\S+", "python-multipart==0.0.17", text, flags=re.M))
    done = make_audit(f"http://127.0.0.1:{advisories.server_port}/v1/query", lock)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    found = r"python-multipart\s+0\.0\.17\s+(GHSA-59g5-xgcq-4qw3|CVE-2024-53981)\s+0\.0\.18"
    assert re.search(found, output), output
    assert "published vulnerabilities" in output
    assert "pyproject.toml" in output


def test_an_unreachable_service_is_no_clean_result() -> None:
    closed = free_port()  # nothing listens there
    done = make_audit(f"http://127.0.0.1:{closed}/v1/query", *LOCKS)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "was NOT audited" in output
    assert "No known vulnerabilities found" not in output


def test_ci_goes_on_past_an_unreachable_service_but_never_past_a_vulnerability(
    advisories: Advisories, tmp_path: Path
) -> None:
    """.ci/run audits with AUDIT_UNREACHABLE=warn: a machine with no route to any advisory
    service gets the loud "NOT audited" and goes on; a published advisory still fails."""
    closed = free_port()
    warn = ("AUDIT_UNREACHABLE=warn",)
    done = make_audit(f"http://127.0.0.1:{closed}/v1/query", *LOCKS, extra=warn)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "was NOT audited" in done.stdout + done.stderr
    lock = tmp_path / "lock.txt"
    text = LOCKS[0].read_text(encoding="utf-8")
    lock.write_text(re.sub(r"^python-multipart==\S+", "python-multipart==0.0.17", text, flags=re.M))
    url = f"http://127.0.0.1:{advisories.server_port}/v1/query"
    done = make_audit(url, lock, extra=warn)
    assert done.returncode != 0, done.stdout + done.stderr
    assert "published vulnerabilities" in done.stdout + done.stderr
    assert "make audit AUDIT_UNREACHABLE=warn" in (ROOT / ".ci" / "run").read_text()
