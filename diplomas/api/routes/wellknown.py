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

from fastapi import APIRouter, HTTPException, status

from ...core.model import did_web
from ...keys.did import did_document
from ..deps import ServiceDep

router = APIRouter(tags=["keys"])


@router.get("/.well-known/jwks.json")
def jwks(service: ServiceDep) -> dict[str, Any]:
    """Record-signing public keys (Ed25519 JWK) with their validity, retired ones included."""
    return service.jwks()


@router.get("/.well-known/did.json")
@router.get("/did.json", include_in_schema=False)
def did(service: ServiceDep) -> dict[str, Any]:
    """The issuer's DID document: every record key as a Multikey, with its validity."""
    return did_document(service.institution, service.keyring())


@router.get("/{path:path}/did.json")
def co_issuer_did(path: str, service: ServiceDep) -> dict[str, Any]:
    """The DID document of a co-issuer whose public URL is a path on this site
    (did:web:host:i:samt resolves to https://host/i/samt/did.json)."""
    wanted = did_web(f"{service.institution.public_url.rstrip('/')}/{path}")
    for institution in service.institutions:
        if institution.did == wanted:
            return did_document(institution, service.keyring())
    raise HTTPException(status.HTTP_404_NOT_FOUND, "no institution has this DID")
