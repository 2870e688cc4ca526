"""Probes for whoever runs the service (never rate limited).

/healthz   the process answers (liveness)
/readyz    the database answers and the signing keys are unlocked (readiness); 503
           with the reasons and a Retry-After otherwise, in words that name no path,
           host or key (the same 503 that requests get while the database is away)

The Prometheus metrics are not here: `diplomas serve` answers them on an address of their
own (DIPLOMAS_METRICS_ADDRESS, `api.serving`), so that strangers reaching the public app
cannot read the traffic and batch figures.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ...service import DiplomaService
from ...watch import SettingsWatch
from ..deps import AuthFirstRoute, ServiceDep
from ..errors import RETRY_AFTER_SECONDS

router = APIRouter(tags=["health"], route_class=AuthFirstRoute)
log = logging.getLogger("diplomas.health")


class HealthOut(BaseModel):
    status: str = Field(description="`ok`")


class ReadyOut(BaseModel):
    status: str = Field(description="`ready` or `not ready`")
    reasons: list[str] = Field(description="Why it is not ready (empty when ready).")
    warnings: list[str] = Field(
        default_factory=list,
        description="What an operator should know while it answers, such as settings "
        "changed on disk that cannot be used (the server keeps the ones it had).",
    )


@router.get("/healthz")
def healthz() -> HealthOut:
    """Liveness: the process is up and answering."""
    return HealthOut(status="ok")


def readiness_problems(service: DiplomaService) -> list[str]:
    """What keeps the service from answering properly, in public words (details are logged)."""
    problems = []
    try:
        service.repository.get_token("readiness-probe")
    except Exception:
        log.exception("readiness: the database does not answer")
        problems.append("the database does not answer")
    try:
        service.record_keys.signer()
    except Exception:
        log.exception("readiness: the record-signing key is not available")
        problems.append("the record-signing key is not available")
    return problems


@router.get("/readyz", responses={503: {"model": ReadyOut, "description": "not ready"}})
def readyz(request: Request, service: ServiceDep) -> ReadyOut:
    """Readiness: the database answers and the record-signing key is unlocked. Settings
    changed on disk that cannot be used are a warning: the server still answers, with
    the settings it had."""
    problems = readiness_problems(service)
    watch: SettingsWatch | None = request.app.state.watch
    warnings = [watch.problem] if watch is not None and watch.problem else []
    if problems:
        body = ReadyOut(status="not ready", reasons=problems, warnings=warnings)
        # The same Retry-After as any request that meets the database away (api/errors.py).
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return JSONResponse(  # type: ignore[return-value]
            body.model_dump(), status_code=503, headers=headers
        )
    return ReadyOut(status="ready", reasons=[], warnings=warnings)
