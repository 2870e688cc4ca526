"""The institution's identity file in its key store: `identity.json`.

    {"format": "diplomas-identity", "version": 1,
     "current": {"public_url": "https://diplomas.tbzmed.ac.ir", "did": "did:web:…",
                 "since": "2026-12-02T09:00:00Z"},
     "former":  [{"public_url": "http://127.0.0.1:8000", "did": "did:web:127.0.0.1%3A8000",
                  "since": "…Z", "until": "…Z"}]}

It lives beside the keys because it says under which DIDs those keys speak: an offline
verifier's trust bundle is exported from it, and it is backed up with them. The settings
say where the institution is now; this file remembers where it was (`core.identity`).
`did` is written for people reading the file; the URL is what counts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ..core.errors import KeyStoreError
from ..core.identity import Address, Identity
from ..core.proof import iso_utc, parse_iso_utc
from ._files import read_private_file, replace_file
from .versioned import read_versioned

IDENTITY_FILE = "identity.json"
IDENTITY_FORMAT = "diplomas-identity"
IDENTITY_VERSION = 1


def _address_to_json(address: Address) -> dict[str, Any]:
    out: dict[str, Any] = {
        "public_url": address.public_url,
        "did": address.did,
        "since": iso_utc(address.since),
    }
    if address.until is not None:
        out["until"] = iso_utc(address.until)
    return out


def _time(raw: Mapping[str, Any], key: str, where: str) -> datetime | None:
    value = raw.get(key)
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        return parse_iso_utc(value)
    except ValueError:
        raise KeyStoreError(f"{where}.{key} is not a time like 2026-12-02T09:00:00Z") from None


def _address_from_json(raw: object, where: str) -> Address:
    if not isinstance(raw, Mapping):
        raise KeyStoreError(f"{where} must be an object")
    url = raw.get("public_url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise KeyStoreError(f"{where}.public_url must be an http(s) URL")
    since = _time(raw, "since", where)
    if since is None:
        raise KeyStoreError(f"{where}.since is missing")
    return Address(url, since, _time(raw, "until", where))


def dump_identity(identity: Identity) -> bytes:
    document = {
        "format": IDENTITY_FORMAT,
        "version": IDENTITY_VERSION,
        "current": _address_to_json(identity.current),
        "former": [_address_to_json(a) for a in identity.former],
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def load_identity(data: bytes, source: str) -> Identity:
    document = read_versioned(
        data, source, format=IDENTITY_FORMAT, version=IDENTITY_VERSION, what="an identity file"
    )
    former = document.get("former", [])
    if not isinstance(former, list):
        raise KeyStoreError(f"{source}: former must be a list")
    return Identity(
        _address_from_json(document.get("current"), f"{source}: current"),
        tuple(_address_from_json(a, f"{source}: former[{i}]") for i, a in enumerate(former)),
    )


def read_identity(directory: Path) -> Identity | None:
    """The identity recorded in the key store, or None before one was recorded."""
    path = directory / IDENTITY_FILE
    try:
        data = read_private_file(path)
    except FileNotFoundError:
        return None
    return load_identity(data, str(path))


def write_identity(directory: Path, identity: Identity) -> None:
    """Record `identity` (atomically; call under the key store's lock)."""
    try:
        replace_file(directory / IDENTITY_FILE, dump_identity(identity))
    except OSError as exc:
        raise KeyStoreError(
            f"cannot record the institution's public address in {directory / IDENTITY_FILE} "
            f"({exc.strerror}): the key store must be writable when it is first used by "
            f"this version and when the public URL changes"
        ) from None
