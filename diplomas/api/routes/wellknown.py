"""Published keys, so anyone can check the record signatures without asking us.

    /.well-known/jwks.json   the record keys as JWKs (with their validity)
    /.well-known/did.json    the institution's did:web DID document (Multikey methods);
    /did.json                the same, where a did:web with a path looks for it
    /{path}/did.json         a co-issuer's, when its public URL is a path on this site

Both list every key ever used, retired and compromised ones included, so old diplomas
keep resolving their keys.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from ...core.model import did_web
from ...keys.did import did_document
from ...service import DiplomaService
from ..deps import AuthFirstRoute, ServiceDep

router = APIRouter(tags=["keys"], route_class=AuthFirstRoute)


@router.get("/.well-known/jwks.json")
def jwks(service: ServiceDep) -> dict[str, Any]:
    """Record-signing public keys (Ed25519 JWK) with their validity, retired ones included."""
    return service.jwks()


def _asked_for(request: Request, path: str = "") -> str:
    """The DID whose document this request resolves, by the host it was sent to."""
    site = f"{request.url.scheme}://{request.headers.get('host') or request.url.netloc}"
    return did_web(f"{site}/{path}" if path else site)


def _document_of(service: DiplomaService, wanted: str) -> dict[str, Any] | None:
    """The document of `wanted` if it is one of an institution's DIDs, current or former:
    an institution that moved keeps answering for its old address when that address
    still reaches this server."""
    for institution in service.institutions:
        if wanted in institution.dids:
            return did_document(institution, service.keyring(), wanted)
    return None


@router.get("/.well-known/did.json")
@router.get("/did.json", include_in_schema=False)
def did(request: Request, service: ServiceDep) -> dict[str, Any]:
    """The issuer's DID document: every record key as a Multikey, with its validity.
    Asked for through a former address of the institution, that address's document."""
    found = _document_of(service, _asked_for(request))
    return found or did_document(service.institution, service.keyring())


@router.get("/{path:path}/did.json")
def co_issuer_did(path: str, request: Request, service: ServiceDep) -> dict[str, Any]:
    """The DID document of a co-issuer whose public URL is a path on this site
    (did:web:host:i:samt resolves to https://host/i/samt/did.json)."""
    found = _document_of(service, _asked_for(request, path)) or _document_of(
        service, did_web(f"{service.institution.public_url.rstrip('/')}/{path}")
    )
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no institution has this DID")
    return found
