"""The lock in requirements/ holds what pyproject.toml asks for, exact and hashed, and the
ways in (`make`, the Dockerfile) install from it and nothing else.

`make lock` writes the files; these tests catch a lock that was not remade after
pyproject.toml changed, a pin without hashes, floors that admit releases with published
advisories, and an install path that fetches anything unchecked. The last test installs the
runtime lock into a fresh virtual environment as the image does, since Docker may be
missing where the tests run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import free_port
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"
# As pyproject.toml's markers are read for the image and the dev machine: CPython 3.11, Linux.
ENVIRONMENT = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


@dataclass(frozen=True)
class Pin:
    version: Version
    hashes: frozenset[str]


def read_lock(name: str) -> dict[str, Pin]:
    """`name==version \\ --hash=sha256:…` entries; anything else that is not a comment fails."""
    text = (REQUIREMENTS / name).read_text(encoding="utf-8")
    entries = re.sub(r"\\\n\s*", " ", text)
    pins: dict[str, Pin] = {}
    for line in entries.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})*)", line)
        assert match, f"{name}: {line[:80]!r} is not an exact pin with sha256 hashes"
        package, version, hashes = match.groups()
        assert hashes, f"{name}: {package}=={version} has no hash; run 'make lock'"
        pins[canonicalize_name(package)] = Pin(Version(version), frozenset(hashes.split()))
    return pins


def pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def requirements(group: str) -> list[Requirement]:
    project = pyproject()
    if group == "build":
        names: list[str] = project["build-system"]["requires"]  # type: ignore[index]
    elif group == "runtime":
        names = project["project"]["dependencies"]  # type: ignore[index]
    else:
        names = project["project"]["optional-dependencies"][group]  # type: ignore[index]
    return [Requirement(name) for name in names]


def unmet(wanted: list[Requirement], pins: dict[str, Pin]) -> list[str]:
    """What `wanted` asks for that `pins` lacks or pins outside the range."""
    problems = []
    for requirement in wanted:
        if requirement.marker and not requirement.marker.evaluate(ENVIRONMENT):
            continue
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None:
            problems.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{requirement} but the lock has {pin.version}")
    return problems


def test_every_file_pins_exact_versions_with_hashes() -> None:
    for name in ("lock.txt", "runtime.txt", "build.txt", "tools.txt"):
        pins = read_lock(name)
        assert pins, f"requirements/{name} pins nothing"


def test_the_dev_lock_holds_everything_pyproject_asks_for() -> None:
    lock = read_lock("lock.txt")
    problems = unmet(requirements("runtime") + requirements("dev") + requirements("build"), lock)
    assert not problems, "requirements/lock.txt is stale, run 'make lock':\n" + "\n".join(problems)


def test_the_image_lock_is_the_runtime_part_of_the_dev_lock() -> None:
    """Same versions and hashes as the tests ran with, and no test tools in the image."""
    lock, runtime, build = read_lock("lock.txt"), read_lock("runtime.txt"), read_lock("build.txt")
    problems = unmet(requirements("runtime"), runtime) + unmet(requirements("build"), build)
    assert not problems, "run 'make lock':\n" + "\n".join(problems)
    for name, pin in {**runtime, **build}.items():
        assert lock.get(name) == pin, f"{name}: {pin.version} differs from lock.txt; 'make lock'"
    for dev_only in ("pytest", "mypy", "ruff", "pip-audit", "schemathesis"):
        assert dev_only not in runtime, f"{dev_only} would be in the image"


@pytest.mark.parametrize(
    ("package", "vulnerable"),
    [
        # The releases the security review named (issue 11), each with published advisories.
        ("python-multipart", "0.0.9"),
        ("python-multipart", "0.0.17"),
        ("fastapi", "0.115.0"),  # allows starlette below 0.40 (CVE-2024-47874)
        ("pillow", "10.0.0"),
        ("jinja2", "3.1.5"),  # sandbox escape, CVE-2025-27516
        ("setuptools", "78.1.0"),  # path traversal, CVE-2025-47273
    ],
)
def test_the_floors_refuse_releases_with_published_advisories(
    package: str, vulnerable: str
) -> None:
    (requirement,) = [
        r for r in requirements("runtime") + requirements("build") if r.name.lower() == package
    ]
    assert not requirement.specifier.contains(vulnerable), f"{requirement} admits {vulnerable}"


def make_dry_run(target: str, venv: Path) -> str:
    """The commands `make` would run for `target` in a venv that does not exist yet."""
    done = subprocess.run(
        ["make", "-n", f"VENV={venv}", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.mark.parametrize(
    ("target", "lock"),
    [(".installed-dev", "requirements/lock.txt"), (".installed", "requirements/runtime.txt")],
)
def test_make_installs_from_the_lock_with_hashes_only(
    target: str, lock: str, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    commands = [
        c for c in make_dry_run(f"{venv}/{target}", venv).splitlines() if " pip install " in c
    ]
    assert commands, "make would install nothing"
    for command in commands:
        checked = "--require-hashes" in command
        project_only = "--no-deps" in command and "--no-build-isolation" in command
        assert checked or project_only, f"an unchecked install: {command}"
        assert "--upgrade" not in command, f"an unpinned upgrade: {command}"
    assert any(lock in c and "--require-hashes" in c for c in commands), commands


def test_the_image_is_pinned_by_digest_and_installs_from_the_runtime_lock() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", dockerfile, re.MULTILINE))
    bases = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert bases
    for base in bases:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], base)
        assert re.fullmatch(r"[\w./:-]+@sha256:[0-9a-f]{64}", image), f"{image} has no digest"
    installs = re.findall(r"pip install [^\n&]*", dockerfile)
    assert installs
    for command in installs:
        assert "--require-hashes" in command or "--no-deps" in command, command
    assert any("-r requirements/runtime.txt" in c for c in installs)
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8")
    for name in ("requirements/runtime.txt", "requirements/build.txt"):
        assert f"!{name}" in ignored.splitlines(), f"{name} is not sent to the image build"


@pytest.mark.slow
def test_the_runtime_lock_alone_runs_the_app(tmp_path: Path) -> None:
    """The image's steps in a fresh venv: build and runtime locks with hashes, then the wheel
    without dependencies; nothing is missing (`pip check`) and the app answers."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), ROOT],
        check=True,
    )
    (wheel,) = wheels.glob("diplomas-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    locks = ["-r", str(REQUIREMENTS / "build.txt"), "-r", str(REQUIREMENTS / "runtime.txt")]
    subprocess.run([*pip, "--require-hashes", *locks], check=True)
    subprocess.run([*pip, "--no-deps", str(wheel)], check=True)
    check = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "check"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    home = tmp_path / "instance"
    env = {**os.environ, "DIPLOMAS_HOME": str(home / "var"), "DIPLOMAS_KEYS_DIR": str(home / "k")}
    env.pop("VIRTUAL_ENV", None)
    diplomas = str(venv / "bin" / "diplomas")
    subprocess.run([diplomas, "init", "--no-input"], cwd=tmp_path, env=env, check=True)
    port = free_port()
    server = subprocess.Popen(
        [diplomas, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, "the server from the runtime lock exited"
                assert time.monotonic() < deadline, "the server did not answer in 60 s"
                time.sleep(0.3)
        assert ready.json()["status"] == "ready", ready.text
    finally:
        server.terminate()
        server.wait(20)
