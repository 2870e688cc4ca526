"""The one reader of the key store's versioned JSON files (record keys, the identity, the
signing-certificate list, trust bundles): each is an object naming its `format` and
`version`, and a file of another format, or of a version this release does not write,
is refused in plain words before any field is read."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..core.errors import KeyStoreError


def read_versioned(
    data: bytes, source: str, *, format: str, version: int, what: str
) -> Mapping[str, Any]:
    """The JSON object in `data`, which must be `what` (a phrase: "a trust bundle") in
    `format` at `version`; KeyStoreError naming `source` otherwise."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyStoreError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(document, Mapping) or document.get("format") != format:
        raise KeyStoreError(f"{source} is not {what} (format {format!r})")
    if document.get("version") != version:
        raise KeyStoreError(
            f"{source} has version {document.get('version')!r}; this release reads "
            f"version {version}"
        )
    return document
