"""Storage adapters: diplomas and API tokens in SQLite or PostgreSQL, PDFs in files.

    engine = make_engine("sqlite:///var/diplomas.db")   # or postgresql://...
    migrate_engine(engine)                               # alembic upgrade head
    repository = SqlRepository(engine, institutions, national_id_hasher)
    pdfs = FilePdfStore("var/pdfs")

Nothing is built at import.
"""

from .engine import READ_ONLY, database_url, make_engine
from .files import FilePdfStore
from .repository import SqlRepository
from .schema import current_revision, head_revision, migrate, migrate_engine

__all__ = [
    "READ_ONLY",
    "FilePdfStore",
    "SqlRepository",
    "current_revision",
    "database_url",
    "head_revision",
    "make_engine",
    "migrate",
    "migrate_engine",
]
