"""The JSON-LD contexts our documents name, bundled so that nothing is fetched at run time.

A JSON-LD processor that meets a context URL asks a document loader for it; the loader
here answers only from these files and refuses every other URL, so processing a credential
never touches the network and never depends on a remote server staying up or honest.

The files are the published context documents, taken unchanged from their npm packages
(see README.md beside them for the sources and licences).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from ..errors import DocumentError

CREDENTIALS_V2 = "https://www.w3.org/ns/credentials/v2"
OPEN_BADGES_V3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
DID_V1 = "https://www.w3.org/ns/did/v1"
MULTIKEY_V1 = "https://w3id.org/security/multikey/v1"
UNDEFINED_TERMS_V2 = "https://www.w3.org/ns/credentials/undefined-terms/v2"
"""VC 2.0's context for terms no context defines: an `@vocab` under
https://www.w3.org/ns/credentials/undefined-term#. The VC 2.0 context itself has no
`@vocab` (drafts had one, under issuer-dependent#), so without this JSON-LD processors
drop such terms."""

_FILES = {
    CREDENTIALS_V2: "credentials-v2.json",
    OPEN_BADGES_V3: "ob-v3p0-context-3.0.3.json",
    DID_V1: "did-v1.json",
    MULTIKEY_V1: "multikey-v1.json",
    UNDEFINED_TERMS_V2: "undefined-terms-v2.json",
}


def bundled_urls() -> frozenset[str]:
    return frozenset(_FILES)


@cache
def _text(url: str) -> str:
    return resources.files(__package__).joinpath(_FILES[url]).read_text(encoding="utf-8")


def load_context(url: str) -> dict[str, Any]:
    """The context document for `url` (a fresh copy); DocumentError for any other URL."""
    if url not in _FILES:
        raise DocumentError(f"the JSON-LD context {url!r} is not bundled, and none is fetched")
    document: dict[str, Any] = json.loads(_text(url))
    return document


def document_loader(url: str, options: object = None) -> dict[str, Any]:
    """A pyld-style document loader over the bundled contexts only."""
    return {"contextUrl": None, "documentUrl": url, "document": load_context(url)}
