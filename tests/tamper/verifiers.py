"""The verifiers an attacked file must get past: the upload API, the offline check and the CLI."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from diplomas.bootstrap import open_key_stores, verify_offline
from diplomas.cli.main import app as cli_app
from diplomas.config import Settings


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    reasons: tuple[str, ...]
    seconds: float


def trust_bundles(settings: Settings) -> list[bytes]:
    return [
        json.dumps(store.export_bundle()).encode() for store in open_key_stores(settings).values()
    ]


def unlimited(settings: Settings) -> Settings:
    """The instance's settings without the per-client rate limit (thousands of uploads)."""
    if "rate_limit" not in type(settings).model_fields:
        return settings
    return settings.model_copy(update={"rate_limit": 0})


def upload(client: TestClient, pdf: bytes, name: str = "diploma.pdf") -> Outcome:
    """`POST /api/v1/verify`: a verdict with reasons, or a 4xx with its detail."""
    started = time.perf_counter()
    r = client.post("/api/v1/verify", files={"file": (name, pdf, "application/pdf")})
    seconds = time.perf_counter() - started
    assert r.status_code != 429, "rate limited: build the app with `unlimited(settings)`"
    body = r.json()
    if 400 <= r.status_code < 500:
        return Outcome(False, (str(body["detail"]),), seconds)
    assert r.status_code == 200, r.text
    return Outcome(body["status"] == "valid", tuple(body["reasons"]), seconds)


def offline(pdf: bytes, bundles: list[bytes]) -> Outcome:
    started = time.perf_counter()
    verdict = verify_offline(pdf, *bundles)
    seconds = time.perf_counter() - started
    return Outcome(verdict.genuine, verdict.reasons if not verdict.genuine else (), seconds)


def cli(path: Path, trust: list[Path]) -> Outcome:
    """`diplomas verify FILE --trust …`: exit code 0 only when genuine."""
    args = ["verify", str(path), "--json"]
    for t in trust:
        args += ["--trust", str(t)]
    started = time.perf_counter()
    result = CliRunner().invoke(cli_app, args)
    seconds = time.perf_counter() - started
    try:
        reasons = tuple(json.loads(result.stdout).get("reasons", ()))
    except (json.JSONDecodeError, AttributeError):
        reasons = (result.output.strip(),) if result.output.strip() else ()
    return Outcome(result.exit_code == 0, reasons, seconds)
