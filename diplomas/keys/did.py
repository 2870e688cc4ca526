"""The issuer's did:web DID document: every record key as a Multikey verification method.

Every key ever used is listed, retired and compromised ones included, so that a diploma
signed years ago still resolves its `verificationMethod`, also when it names the DID
of an address the institution has since left (`alsoKnownAs`, `core.identity`). A key's
window is published in two ways:

    revoked                 (Controlled Identifiers v1.0) when the key is compromised:
                            proofs created at or after it must not be trusted
    expires                 (Controlled Identifiers v1.0) when the key was retired: it
                            signs nothing from then on; what it signed before stays good
    diplomas:validFrom,     the whole window and state, as this service checks them,
    diplomas:validUntil,    under a namespace of their own
    diplomas:compromisedSince,
    diplomas:keyStatus      (the prefix names <public URL>/ns/keys#, the institution's own)

The DID specifications read `expires` and `revoked` as "do not verify proofs made at or
after this time"; that is how this service applies them, judging each proof by its
`created` time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..core.keyring import RecordKey
from ..core.model import Institution
from ..core.proof import iso_utc

DID_CONTEXT = "https://www.w3.org/ns/did/v1"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"


def verification_method(key: RecordKey) -> dict[str, Any]:
    method: dict[str, Any] = {
        "id": key.verification_method,
        "type": "Multikey",
        "controller": key.controller,
        "publicKeyMultibase": key.public_key_multibase,
    }
    if key.valid_until is not None:
        method["expires"] = iso_utc(key.valid_until)
    if key.compromised_since is not None:
        method["revoked"] = iso_utc(key.compromised_since)
    method["diplomas:keyStatus"] = key.status
    method["diplomas:validFrom"] = iso_utc(key.valid_from)
    if key.valid_until is not None:
        method["diplomas:validUntil"] = iso_utc(key.valid_until)
    if key.compromised_since is not None:
        method["diplomas:compromisedSince"] = iso_utc(key.compromised_since)
    return method


def did_document(
    institution: Institution, keys: Iterable[RecordKey], did: str = ""
) -> dict[str, Any]:
    """The DID document of `did` (by default the institution's current DID), one of the
    institution's DIDs, with its keys as `keys` (a ring) lists them.

    An institution that moved is known by its other DIDs too (`alsoKnownAs`), and the
    current document also lists each key under the former DIDs, as the diplomas issued
    before the move name it, so that one document explains every signature the
    institution ever made."""
    did = did or institution.did
    listed = list(keys)
    own = [k for k in listed if k.controller == did]
    others = [d for d in institution.dids if d != did]
    earlier = (
        [k for d in institution.former_dids for k in listed if k.controller == d]
        if did == institution.did
        else []
    )
    document: dict[str, Any] = {
        "@context": [
            DID_CONTEXT,
            MULTIKEY_CONTEXT,
            {"diplomas": f"{institution.public_url.rstrip('/')}/ns/keys#"},
        ],
        "id": did,
    }
    if others:
        document["alsoKnownAs"] = others
    document["verificationMethod"] = [verification_method(k) for k in (*own, *earlier)]
    document["assertionMethod"] = [k.verification_method for k in own]
    return document
