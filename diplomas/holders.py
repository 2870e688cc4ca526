"""Holders' private links: the page a holder keeps, her PDF, her credential for a wallet.

The link is not the public page: it carries a token only the holder was given (her email,
the manifest, the console's export), it opens her files, and renewing it ends every copy
given before. The rules for the token are in `core.holder`; this is where they meet the
service (which diploma, which generation, who renewed it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .core import holder
from .core.errors import NotFound
from .core.holder import Certification
from .core.ids import is_diploma_id, placeholder_id
from .core.model import Diploma
from .core.search import MAX_LIMIT, DiplomaQuery
from .core.verification import Verdict

if TYPE_CHECKING:
    from .service import DiplomaService

MAIL_MERGE_FIELDS = (
    "serial",
    "name",
    "name_en",
    "email",
    "award",
    "award_en",
    "issued_on",
    "status",
    "verify_url",
    "holder_url",
    "id",
)
"""The console's export, a mail merge's columns: whom to write to, what to call her, the
link to share and her private link."""
_NO_LINK = "no diploma at this link: it may have been renewed; ask the issuing office"


@dataclass(frozen=True)
class HolderView:
    """What the holder's page shows: her diploma, its standing, and where to take it."""

    diploma: Diploma
    verdict: Verdict
    url: str
    """This private link."""
    verify_url: str
    """The public page to share (what the QR code opens)."""
    linkedin_fa: str
    linkedin_en: str


class HolderLinks:
    def __init__(self, service: DiplomaService, key: bytes) -> None:
        self._service = service
        self._key = key

    def url(self, diploma: Diploma) -> str:
        """The diploma's private link as it stands (its current generation)."""
        token = holder.holder_token(self._key, diploma.id, diploma.holder_link_generation)
        return holder.holder_url(diploma.institution.public_url, diploma.id, token)

    def open(self, diploma_id: str, token: str) -> Diploma:
        """The diploma a link opens; NotFound, the same for an unknown id, a malformed
        one and a wrong or renewed token, and at the same cost (one lookup, one MAC)."""
        well_formed = is_diploma_id(diploma_id)
        found = self._service.repository.get(diploma_id if well_formed else placeholder_id())
        generation = found.holder_link_generation if found is not None else 0
        matches = holder.token_matches(self._key, diploma_id, generation, token)
        if found is None or not well_formed or not matches:
            raise NotFound(_NO_LINK)
        return found

    def view(self, diploma_id: str, token: str) -> HolderView:
        diploma = self.open(diploma_id, token)
        verdict = self._service.verdict(diploma.id).verdict
        request, institution = diploma.request, diploma.institution
        verify_url = institution.verify_url(diploma.id)

        def certification(award: str, name: str) -> Certification:
            return Certification(award, name, request.issued_on, diploma.serial, verify_url)

        return HolderView(
            diploma=diploma,
            verdict=verdict,
            url=self.url(diploma),
            verify_url=verify_url,
            linkedin_fa=certification(request.award, institution.name).linkedin_url(),
            linkedin_en=certification(
                request.award_en or request.award, institution.name_en or institution.name
            ).linkedin_url(),
        )

    def mail_merge(self, query: DiplomaQuery) -> Iterator[dict[str, str]]:
        """One line per diploma the search finds (every page of it, in its order), with
        the holder's private link: only the issuing institution's people may have it, as
        the link opens her files."""
        service = self._service
        service.require_issuer()
        offset = 0
        while True:
            found = service.search(replace(query, offset=offset, limit=MAX_LIMIT))
            for diploma in found.items:
                request = diploma.request
                yield {
                    "serial": diploma.serial,
                    "name": request.name,
                    "name_en": request.name_en,
                    "email": request.email,
                    "award": request.award,
                    "award_en": request.award_en,
                    "issued_on": request.issued_on.isoformat(),
                    "status": diploma.status.value,
                    "verify_url": diploma.verify_url,
                    "holder_url": self.url(diploma),
                    "id": diploma.id,
                }
            if len(found.items) < MAX_LIMIT:
                return
            offset += MAX_LIMIT
