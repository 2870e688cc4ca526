"""Data Integrity proofs with the `eddsa-jcs-2022` cryptosuite.

The signed bytes are SHA-256(JCS(proof options)) || SHA-256(JCS(document without proof)),
signed with Ed25519 (W3C Data Integrity EdDSA Cryptosuites v1.0, section 3.3). A document
may carry a proof set (a list), one proof per co-issuing institution; each proof signs the
document without any proof.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import base58
import rfc8785

from .keyring import KeyRing, RecordKey, RecordSigner, public_key_from_did_key

CRYPTOSUITE = "eddsa-jcs-2022"


_SAFE_INTEGER = 2**53 - 1


def canonical(value: object) -> bytes:
    """RFC 8785 (JCS) bytes: the only serialisation that is ever signed or hashed.

    The `rfc8785` package does it in pure Python, a third of a record's signing time. For
    the values our records hold, texts with ASCII keys, safe integers, booleans and null,
    JCS is exactly what the standard library writes with sorted keys and no spaces: the
    two agree on escaping (`"`, `\\` and control characters only, lower-case `\\u00xx`),
    integers print alike in that range, and ASCII keys sort alike by code point and by
    UTF-16 unit. Anything else (a float, a huge integer, a non-ASCII key) goes to
    `rfc8785`. A property test holds the two to the same bytes.
    """
    if _plain(value):
        return json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
        ).encode("utf-8")
    return rfc8785.dumps(value)  # type: ignore[arg-type]  # JSON values, checked by dumps


def _plain(value: object) -> bool:
    """True for JSON values on which JCS and sorted compact `json.dumps` agree. Exact types
    only: a subclass of str or int goes to `rfc8785`, which knows what to do with it."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int and isinstance(item, int):
            if not -_SAFE_INTEGER <= item <= _SAFE_INTEGER:
                return False
        elif kind is dict and isinstance(item, dict):
            if not all(type(key) is str and key.isascii() for key in item):
                return False
            stack.extend(item.values())
        elif (kind is list or kind is tuple) and isinstance(item, list | tuple):
            stack.extend(item)
        else:
            return False
    return True


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_iso_utc(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("timestamp has no time zone")
    return moment


def _without_proof(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "proof"}


def _hash_data(document: Mapping[str, Any], options: Mapping[str, Any]) -> bytes:
    return (
        hashlib.sha256(canonical(dict(options))).digest()
        + hashlib.sha256(canonical(_without_proof(document))).digest()
    )


def proofs_of(document: Mapping[str, Any]) -> list[Any]:
    proof = document.get("proof")
    if proof is None:
        return []
    return list(proof) if isinstance(proof, list) else [proof]


def add_proof(
    document: Mapping[str, Any], signer: RecordSigner, created: datetime
) -> dict[str, Any]:
    """Return the document with one more proof by `signer` (a proof set from the second on)."""
    options: dict[str, Any] = {
        "type": "DataIntegrityProof",
        "cryptosuite": CRYPTOSUITE,
        "created": iso_utc(created),
        "verificationMethod": signer.verification_method,
        "proofPurpose": "assertionMethod",
    }
    if "@context" in document:
        options["@context"] = document["@context"]
    signature = signer.sign(_hash_data(document, options))
    proof = {**options, "proofValue": "z" + base58.b58encode(signature).decode()}
    existing = proofs_of(document)
    out = _without_proof(document)
    out["proof"] = [*existing, proof] if existing else proof
    return out


def _moved_hint(method: str, keyring: KeyRing) -> list[str]:
    """When the key is known under another DID only: the sentence that says why (a trust
    bundle exported before the institution moved to the DID the record names)."""
    did, _, key_id = method.partition("#")
    known = sorted({k.controller for k in keyring if k.key_id == key_id and key_id})
    if not known:
        return []
    return [
        f"key {key_id} is known here only as {', '.join(known)}'s: the institution may "
        f"have moved to {did} after these keys were exported; use a newer trust bundle"
    ]


@dataclass(frozen=True)
class ProofCheck:
    """The outcome for one proof: whose key, when, and every reason it fails (none if ok)."""

    verification_method: str
    created: datetime | None
    key: RecordKey | None
    reasons: tuple[str, ...]
    signature_matches: bool = False
    """Whether the signature itself checks out against the key, whatever the key's
    validity: the page reports the two separately ("signature", "key valid then")."""

    @property
    def ok(self) -> bool:
        return not self.reasons


def check_proof(
    document: Mapping[str, Any], proof: Any, keyring: KeyRing, *, allow_did_key: bool = False
) -> ProofCheck:
    """Check one proof of `document` against the ring (and did:key, for test vectors)."""
    if not isinstance(proof, Mapping):
        return ProofCheck("", None, None, ("a proof is not a JSON object",))
    vm = proof.get("verificationMethod")
    vm = vm if isinstance(vm, str) else ""
    reasons: list[str] = []
    if proof.get("type") != "DataIntegrityProof" or proof.get("cryptosuite") != CRYPTOSUITE:
        reasons.append(f"the proof is not a DataIntegrityProof with cryptosuite {CRYPTOSUITE}")
    if proof.get("proofPurpose") != "assertionMethod":
        reasons.append("the proof's purpose is not assertionMethod")
    if "@context" in proof and proof["@context"] != document.get("@context"):
        reasons.append("the proof's @context differs from the document's")
    created: datetime | None = None
    try:
        created = parse_iso_utc(str(proof.get("created", "")))
    except ValueError:
        reasons.append("the proof has no valid creation time")

    key = keyring.resolve(vm)
    public_key = key.public_key if key else None
    if public_key is None and allow_did_key:
        public_key = public_key_from_did_key(vm)
    if public_key is None:
        reasons.append(f"the record was signed by an unknown key ({vm or 'none named'})")
        reasons.extend(_moved_hint(vm, keyring))

    value = proof.get("proofValue")
    signature = b""
    matches = False
    if isinstance(value, str) and value.startswith("z"):
        try:
            signature = base58.b58decode(value[1:])
        except ValueError:
            signature = b""
    if len(signature) != 64:
        reasons.append("the proof value is not a multibase Ed25519 signature")
    elif public_key is not None:
        options = {k: v for k, v in proof.items() if k != "proofValue"}
        verifier = key or RecordKey("did:key", public_key, "", datetime.min.replace(tzinfo=UTC))
        matches = verifier.verify(signature, _hash_data(document, options))
        if not matches:
            reasons.append(
                "the record's signature does not match its content: it was altered "
                "after signing or not signed by this key"
            )
    if key is not None and created is not None:
        problem = key.problem_at(created)
        if problem:
            reasons.append(problem)
    return ProofCheck(vm, created, key, tuple(reasons), matches)


def check_proofs(
    document: Mapping[str, Any], keyring: KeyRing, *, allow_did_key: bool = False
) -> list[ProofCheck]:
    proofs = proofs_of(document)
    if not proofs:
        return [ProofCheck("", None, None, ("the record carries no proof",))]
    return [check_proof(document, p, keyring, allow_did_key=allow_did_key) for p in proofs]
