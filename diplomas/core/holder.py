"""The holder's private link, and what her page offers: pure rules, no web or storage.

A holder's link is `<public url>/h/<diploma id>/<token>`: the token is a keyed MAC of the
id and the link's generation, so nothing secret is stored (a leaked database gives no
working links), every copy of the link (the email, the manifest, the console's export)
is the same, and renewing the link (the generation goes up) ends every earlier copy.
The MAC key is derived from the key store's sealed secret, never used for anything else.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass
from datetime import date
from hashlib import sha256
from urllib.parse import urlencode

TOKEN_CHARS = 32
"""Characters of the token: 192 bits of a base64url MAC, beyond any guessing."""
_DOMAIN = b"diplomas holder link v1"
LINKEDIN_ADD = "https://www.linkedin.com/profile/add"


def link_key(secret: bytes) -> bytes:
    """The holder-link MAC key under `secret` (the sealed secret of the key store):
    a key of its own, so a holder link says nothing about a national id's hash."""
    if len(secret) < 32:
        raise ValueError("the holder-link secret is shorter than 32 bytes")
    return hmac.new(secret, _DOMAIN, sha256).digest()


def holder_token(key: bytes, diploma_id: str, generation: int) -> str:
    """The token of a diploma's private link in its `generation` (0 for the first)."""
    mac = hmac.new(key, f"{diploma_id}\0{generation}".encode(), sha256).digest()
    return base64.urlsafe_b64encode(mac).decode()[:TOKEN_CHARS]


def token_matches(key: bytes, diploma_id: str, generation: int, token: str) -> bool:
    """Whether `token` opens the diploma's link now; compared in constant time, and a
    token of any other length costs the same as a wrong one."""
    expected = holder_token(key, diploma_id, generation).encode()
    given = token.encode("utf-8", "replace")[: TOKEN_CHARS * 2]
    return hmac.compare_digest(expected, given)


def holder_url(public_url: str, diploma_id: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/h/{diploma_id}/{token}"


@dataclass(frozen=True)
class Certification:
    """What LinkedIn's "add a licence or certification" form takes."""

    award: str
    institution: str
    issued_on: date
    serial: str
    verify_url: str

    def linkedin_url(self) -> str:
        """LinkedIn's documented add-to-profile link, filled in: the holder confirms it
        on LinkedIn, nothing is posted for her."""
        query = {
            "startTask": "CERTIFICATION_NAME",
            "name": self.award,
            "organizationName": self.institution,
            "issueYear": str(self.issued_on.year),
            "issueMonth": str(self.issued_on.month),
            "certUrl": self.verify_url,
            "certId": self.serial,
        }
        return f"{LINKEDIN_ADD}?{urlencode(query)}"
