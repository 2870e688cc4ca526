"""Build the service from settings: the one place where adapters are wired together.

The API (`build_app`) and the CLI (`build_service`) both come through here, so they
always share one configuration and one service.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .config import (
    DEFAULT_INSTITUTION,
    Settings,
    institution_from,
    load_institutions,
    write_institutions,
)
from .core.errors import ConfigurationError
from .core.model import Institution
from .core.verification import Verdict, verdict_for_document

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .keys import FileKeyStore
    from .service import DiplomaService


def _passphrase(settings: Settings) -> bytes:
    from .keys.passphrase import resolve_passphrase, stretch_passphrase

    settings.check_production()
    env = settings.key_passphrase.get_secret_value() if settings.key_passphrase else None
    return stretch_passphrase(settings.keys_dir, resolve_passphrase(settings.home, env))


def open_key_store(settings: Settings, institution: Institution | None = None) -> FileKeyStore:
    from .keys import FileKeyStore

    institution = institution or load_institutions(settings.institution_file)[0]
    return FileKeyStore(settings.keys_dir, _passphrase(settings), institution)


def init_instance(settings: Settings, overrides: dict[str, Any]) -> list[str]:
    """Create whatever of the instance is missing; existing keys and settings stay as they are.

    Returns the lines to show the admin.
    """
    from .keys import init_key_store
    from .storage.engine import make_engine
    from .storage.schema import migrate_engine

    lines: list[str] = []
    settings.home.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.home, 0o700)
    path = settings.institution_file
    if path.exists():
        if overrides:
            lines.append(f"{path} exists; edit it to change the institution (options ignored)")
        institution = load_institutions(path)[0]
    else:
        data = {**DEFAULT_INSTITUTION, **overrides}
        institution = institution_from(data)
        write_institutions(path, [data])
        lines.append(f"wrote institution settings to {path}")

    engine = make_engine(settings.effective_database_url)
    try:
        migrate_engine(engine)
    finally:
        engine.dispose()
    lines.append(f"database ready at {_safe_url(settings.effective_database_url)}")

    passphrase = _passphrase(settings)
    existed = (settings.keys_dir / "record-keys.json").exists()
    store = init_key_store(settings.keys_dir, passphrase, institution, datetime.now(UTC))
    ring = store.keyring()
    verb = "found" if existed else "created"
    lines.append(f"{verb} keys in {settings.keys_dir} ({len(ring)} record key(s))")
    if settings.key_passphrase is None:
        lines.append(
            f"private keys are encrypted with a generated passphrase in {settings.home}/"
            "key-passphrase; for production set DIPLOMAS_KEY_PASSPHRASE instead (see README)"
        )
    lines.append(f"public URL (QR codes point here): {institution.public_url}")
    return lines


def _safe_url(url: str) -> str:
    """The database URL without its password, fit for a terminal or a log."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_service(settings: Settings) -> DiplomaService:
    from .pdfsign import PadesValidator
    from .render import TemplateRenderer
    from .service import DiplomaService
    from .storage.batches import SqlBatchStore
    from .storage.engine import make_engine
    from .storage.files import FilePdfStore
    from .storage.repository import SqlRepository

    institutions = load_institutions(settings.institution_file)
    store = open_key_store(settings, institutions[0])
    engine = make_engine(settings.effective_database_url)
    renderer = TemplateRenderer(settings.templates_dir)
    repository = SqlRepository(
        engine, {i.slug: i for i in institutions}, store.national_id_hasher()
    )
    return DiplomaService(
        institutions=institutions,
        repository=repository,
        pdf_store=FilePdfStore(settings.pdf_dir),
        renderer=renderer,
        templates=renderer,
        pdf_signer=store.pdf_signer(),
        pdf_validator=PadesValidator(store.trust_roots()),
        record_keys=store,
        batches=SqlBatchStore(engine),
    )


def build_app(settings: Settings) -> FastAPI:
    from .api import create_app

    # pyHanko logs a traceback for every tampered upload it is shown; the verdict already
    # carries the reasons, and a public upload form must not let strangers fill the logs.
    logging.getLogger("pyhanko").setLevel(logging.ERROR)
    if not settings.institution_file.exists():
        raise ConfigurationError(
            f"no instance at {settings.home}: run `diplomas init` first (or `make run`)"
        )
    return create_app(build_service(settings), settings)


def app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory` with several workers."""
    return build_app(Settings())


def verify_offline(pdf: bytes, bundle: bytes) -> Verdict:
    """Check a PDF with only a trust bundle: no database, no network."""
    from .keys import load_bundle
    from .pdfsign import PadesValidator

    trust = load_bundle(bundle)
    report = PadesValidator(trust.trust_roots()).inspect(pdf)
    return verdict_for_document(report, trust.keyring(), None)
