"""Published keys, so anyone can check the record signatures without asking us."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..deps import ServiceDep

router = APIRouter(tags=["keys"])


@router.get("/.well-known/jwks.json")
def jwks(service: ServiceDep) -> dict[str, Any]:
    """Record-signing public keys (Ed25519 JWK) with their validity, retired ones included."""
    return service.jwks()
