"""`SqlPdfStore`: signed PDFs in the database, so that every replica serves every PDF.

A PDF and its digest on the diploma are written in one transaction (`put_recorded`), so
two writers of the same diploma's PDF (a retried shard, say) can never leave the digest
of one beside the bytes of the other. PDFs written to files before the store moved into
the database are still read from there (`fallback`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..core.ids import is_diploma_id
from .engine import READ_ONLY
from .files import FilePdfStore
from .tables import DiplomaRow, PdfRow


class SqlPdfStore:
    def __init__(self, engine: Engine, fallback: FilePdfStore | None = None) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**READ_ONLY)
        self.fallback = fallback

    def local_path(self, diploma_id: str) -> Path | None:
        """None: a stored PDF is no file to link to."""
        return None

    def put(self, diploma_id: str, pdf: bytes, *, durable: bool = True) -> None:
        """Store (replace) the PDF; durable on commit, whatever `durable` says."""
        if not is_diploma_id(diploma_id):
            raise ValueError(f"{diploma_id!r} is not a diploma id")
        with Session(self._engine) as session, session.begin():
            self._upsert(session, [(diploma_id, pdf)])

    def put_recorded(self, items: Sequence[tuple[str, bytes]]) -> list[str]:
        """Store each PDF and record its SHA-256 on its diploma, all in one transaction;
        the digests, in order."""
        digests = [hashlib.sha256(pdf).hexdigest() for _, pdf in items]
        if not items:
            return digests
        with Session(self._engine) as session, session.begin():
            self._upsert(session, items)
            session.execute(
                update(DiplomaRow),
                [
                    {"id": diploma_id, "pdf_sha256": sha}
                    for (diploma_id, _), sha in zip(items, digests, strict=True)
                ],
            )
        return digests

    def _upsert(self, session: Session, items: Sequence[tuple[str, bytes]]) -> None:
        """Insert or replace, in one statement: two writers of the same diploma's PDF at
        once (a holder's download and the mail sender, say) both succeed, the last wins."""
        insert = pg_insert if self._engine.dialect.name == "postgresql" else sqlite_insert
        statement = insert(PdfRow)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[PdfRow.diploma_id], set_={"content": statement.excluded.content}
            ),
            [{"diploma_id": diploma_id, "content": pdf} for diploma_id, pdf in items],
        )

    def get(self, diploma_id: str) -> bytes | None:
        if not is_diploma_id(diploma_id):
            return None
        with Session(self._reader) as session, session.begin():
            content = session.get(PdfRow, diploma_id)
            if content is not None:
                return bytes(content.content)
        return self.fallback.get(diploma_id) if self.fallback is not None else None

    def get_many(self, diploma_ids: Sequence[str]) -> dict[str, bytes]:
        ids = [i for i in diploma_ids if is_diploma_id(i)]
        found: dict[str, bytes] = {}
        if ids:
            with Session(self._reader) as session, session.begin():
                for diploma_id, content in session.execute(
                    select(PdfRow.diploma_id, PdfRow.content).where(PdfRow.diploma_id.in_(ids))
                ):
                    found[diploma_id] = bytes(content)
        if self.fallback is not None:
            missing = [i for i in ids if i not in found]
            found.update(self.fallback.get_many(missing))
        return found
