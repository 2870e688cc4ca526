"""Dependencies: the service, the settings, and scoped bearer-token checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..config import Settings
from ..core.ports import TokenRecord
from ..service import DiplomaService

_bearer = HTTPBearer(auto_error=False, description="A token from `diplomas token create`.")


def get_service(request: Request) -> DiplomaService:
    service: DiplomaService = request.app.state.service
    return service


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


ServiceDep = Annotated[DiplomaService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def require(scope: str) -> Callable[..., TokenRecord]:
    def check(service: ServiceDep, credentials: Credentials) -> TokenRecord:
        return service.authenticate(credentials.credentials if credentials else None, scope)

    return check


IssueToken = Annotated[TokenRecord, Depends(require("issue"))]
RevokeToken = Annotated[TokenRecord, Depends(require("revoke"))]
ReadToken = Annotated[TokenRecord, Depends(require("read"))]
