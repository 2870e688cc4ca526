"""Dependencies: the service, the settings, and scoped bearer-token checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..config import Settings
from ..core.audit import token_actor
from ..core.ports import TokenRecord
from ..service import DiplomaService

_bearer = HTTPBearer(auto_error=False, description="A token from `diplomas token create`.")


UNAUTHENTICATED = "api:unauthenticated"


def request_actor(request: Request) -> str:
    """Who the audit log names for a change made by this request: its checked token."""
    token: TokenRecord | None = getattr(request.state, "token", None)
    return token_actor(token.token_id) if token is not None else UNAUTHENTICATED


def get_service(request: Request) -> DiplomaService:
    """The service, recording the request's token (once checked) as the actor of changes."""
    service: DiplomaService = request.app.state.service
    return service.acting_as(lambda: request_actor(request))


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


ServiceDep = Annotated[DiplomaService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def require(scope: str) -> Callable[..., TokenRecord]:
    def check(request: Request, service: ServiceDep, credentials: Credentials) -> TokenRecord:
        route = getattr(request.scope.get("route"), "path", request.url.path)
        record = service.authenticate(
            credentials.credentials if credentials else None,
            scope,
            route=f"{request.method} {route}",
        )
        request.state.token = record
        return record

    return check


IssueToken = Annotated[TokenRecord, Depends(require("issue"))]
RevokeToken = Annotated[TokenRecord, Depends(require("revoke"))]
ReadToken = Annotated[TokenRecord, Depends(require("read"))]
