"""The README's first day, from a built wheel in a fresh virtual environment and an
empty folder: init with the defaults, edit the settings file as the README says, issue,
verify offline, serve, verify by id, move the domain, verify the old diploma and a new one.

The commands are the README's (`<!-- wheel-walk -->` block); where the README names an
address, the test uses two that reach this machine: 127.0.0.1 first, then `localhost`
as the institution's "new domain" (a different did:web, the same server).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NAME = "زهرا محمدی‌نژاد"


def readme_walk() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- wheel-walk: the test runs these commands -->", 1)[1]
    block = block.split("<!-- /wheel-walk -->", 1)[0]
    lines = block.strip().strip("`").removeprefix("sh").strip().splitlines()
    return [line.split("  #", 1)[0].strip() for line in lines if line.strip()]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the project's wheel installed, nothing else."""
    where = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(where), str(ROOT)],
        check=True,
    )
    (wheel,) = where.glob("diplomas-*.whl")
    env_dir = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    subprocess.run([str(env_dir / "bin" / "pip"), "install", "--quiet", str(wheel)], check=True)
    return env_dir


class Walk:
    """Commands run as a person runs them: in `folder`, with the venv's `bin` on PATH."""

    def __init__(self, venv: Path, folder: Path) -> None:
        self.folder = folder
        self.env = {
            "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
            "HOME": str(folder.parent),
            "LANG": "C.UTF-8",
        }
        self.readme = readme_walk()
        self.ran: list[str] = []

    def __call__(self, command: str, code: int = 0, input: str | None = None) -> str:
        self.ran.append(command)
        done = subprocess.run(
            shlex.split(command),
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            timeout=300,
        )
        output = done.stdout + done.stderr
        assert done.returncode == code, f"{command}\n{output}"
        return output

    def in_readme(self, command: str) -> None:
        """The README tells the user to run this very command (addresses aside)."""
        assert command in self.readme, f"{command!r} is not in the README's first day"


@pytest.fixture
def walk(venv: Path, tmp_path: Path) -> Walk:
    folder = tmp_path / "tbzmed"
    folder.mkdir()
    return Walk(venv, folder)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def server(walk: Walk, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Started by the test when the README says so (see `serve`)."""
    processes: list[subprocess.Popen[bytes]] = []
    walk.serve = lambda: processes.append(  # type: ignore[attr-defined]
        subprocess.Popen(
            ["diplomas", "serve", "--port", str(port)],
            cwd=walk.folder,
            env=walk.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    yield processes[0] if processes else None  # type: ignore[misc]
    for process in processes:
        process.terminate()
        process.wait(20)


def wait_until_ready(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError("the server did not become ready")


def test_the_readme_first_day_from_the_wheel(
    walk: Walk, port: int, server: subprocess.Popen[bytes]
) -> None:
    for command in ("diplomas init", "diplomas settings check"):
        walk.in_readme(command)
    out = walk("diplomas init")
    assert "public URL (QR codes point here): http://127.0.0.1:8000" in out

    # "edit var/institution.toml: public_url = ... → the address employers reach"
    settings_file = walk.folder / "var" / "institution.toml"
    old_url = f"http://127.0.0.1:{port}"
    text = settings_file.read_text(encoding="utf-8")
    assert 'public_url = "http://127.0.0.1:8000"' in text
    settings_file.write_text(text.replace("http://127.0.0.1:8000", old_url), encoding="utf-8")
    out = walk("diplomas settings check")
    assert "the settings are usable" in out

    issue = f'diplomas issue --name "{NAME}" --out zahra.pdf --json'
    walk.in_readme(issue)
    issued = json.loads(walk(issue))
    assert issued["verify_url"].startswith(f"{old_url}/v/")
    for command in (
        "diplomas keys export --out trust.json",
        "diplomas verify zahra.pdf --trust trust.json",
    ):
        walk.in_readme(command)
        walk(command)

    walk.in_readme("diplomas serve --port 8000 &")
    walk.serve()  # type: ignore[attr-defined]
    wait_until_ready(old_url)
    walk.in_readme("curl -s http://127.0.0.1:8000/api/v1/verify/ID")
    assert httpx.get(f"{old_url}/api/v1/verify/{issued['id']}").json()["status"] == "valid"

    # The first administrator, then the console in the browser (here: its sign-in form).
    add_admin = "diplomas users add you@tbzmed.ac.ir --institution tbzmed --role admin"
    walk.in_readme(add_admin)
    walk(add_admin + " --password-stdin", input="a long enough password\n")
    with httpx.Client(base_url=old_url, timeout=30, follow_redirects=True) as browser:
        form = browser.get("/admin/sign-in")
        token = re.search(r'name="form_token" value="([^"]+)"', form.text)
        assert token is not None
        signed = browser.post(
            "/admin/sign-in",
            data={
                "email": "you@tbzmed.ac.ir",
                "password": "a long enough password",
                "form_token": token.group(1),
            },
        )
        assert signed.status_code == 200 and "you@tbzmed.ac.ir" in signed.text
        assert NAME in browser.get("/admin/diplomas").text

    # The institution moves to its own domain (here: `localhost`, another DID, same server).
    new_url = f"http://localhost:{port}"
    walk.in_readme("diplomas settings set public_url https://diplomas.tbzmed.ac.ir")
    out = walk(f"diplomas settings set public_url {new_url}")
    assert f"did:web:localhost%3A{port}" in out
    walk.in_readme("diplomas keys export --out trust-after.json")
    walk("diplomas keys export --out trust-after.json")
    walk.in_readme("diplomas verify zahra.pdf --trust trust-after.json")
    assert "VALID" in walk("diplomas verify zahra.pdf --trust trust-after.json")

    # A photo of the printed page: the QR code alone, offline.
    walk("pdftoppm -png -r 150 -singlefile zahra.pdf zahra-page")
    walk.in_readme("diplomas verify --qr zahra-page.png --trust trust-after.json")
    assert "QR CODE VALID" in walk("diplomas verify --qr zahra-page.png --trust trust-after.json")

    new = json.loads(walk(f'diplomas issue --name "{NAME}" --out new.pdf --json'))
    assert new["verify_url"].startswith(f"{new_url}/v/")
    assert "VALID" in walk("diplomas verify new.pdf --trust trust-after.json")

    def served_at(url: str) -> bool:
        r = httpx.get(f"{url}/.well-known/did.json", timeout=5)
        return bool(r.json()["id"] == f"did:web:localhost%3A{port}")

    deadline = time.monotonic() + 15
    while not served_at(new_url):  # the running server takes the new URL by itself
        assert time.monotonic() < deadline, "the server did not take the new public URL"
        time.sleep(0.3)
    document = httpx.get(f"{new_url}/.well-known/did.json").json()
    assert document["alsoKnownAs"] == [f"did:web:127.0.0.1%3A{port}"]
    for diploma in (issued, new):
        verdict = httpx.get(f"{new_url}/api/v1/verify/{diploma['id']}").json()
        assert verdict["status"] == "valid", verdict
        assert httpx.get(diploma["verify_url"]).status_code == 200  # each QR code's own link
    for name in ("zahra.pdf", "new.pdf"):
        pdf = (walk.folder / name).read_bytes()
        r = httpx.post(f"{new_url}/api/v1/verify", files={"file": (name, pdf, "application/pdf")})
        assert r.json()["status"] == "valid", r.json()
    assert re.search(r"institution\.moved", walk("diplomas audit list"))
