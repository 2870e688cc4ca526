"""Public status lists (W3C Bitstring Status List v1.0): which diplomas are revoked or
suspended, as signed credentials that verifiers fetch and cache."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ...core.statuslist import MEDIA_TYPE, STATUS_LIST_TTL_SECONDS
from ..deps import AuthFirstRoute, ServiceDep

router = APIRouter(tags=["status"], route_class=AuthFirstRoute)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of an If-None-Match header against our ETag."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


@router.get(
    "/status/{name}",
    response_class=Response,
    responses={
        200: {"content": {MEDIA_TYPE: {}}, "description": "the signed status list"},
        304: {"description": "unchanged since the ETag given in If-None-Match"},
        404: {"description": "no such list"},
    },
)
def status_list(name: str, request: Request, service: ServiceDep) -> Response:
    """A signed `BitstringStatusListCredential`, e.g. `revocation-1` or `suspension-1`."""
    signed = service.status_list(name)
    headers = {
        "ETag": signed.etag,
        "Cache-Control": f"public, max-age={STATUS_LIST_TTL_SECONDS}, must-revalidate",
    }
    if etag_matches(request.headers.get("if-none-match"), signed.etag):
        return Response(status_code=304, headers=headers)
    return Response(signed.document, media_type=MEDIA_TYPE, headers=headers)
