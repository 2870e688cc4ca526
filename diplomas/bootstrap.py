"""Build the service from settings: the one place where adapters are wired together.

The API (`build_app`) and the CLI (`build_service`) both come through here, so they
always share one configuration and one service.
"""

from __future__ import annotations

import gc
import logging
import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import (
    DEFAULT_INSTITUTION,
    Settings,
    institution_from,
    load_institutions,
    read_institution_entries,
    write_institutions,
)
from .core.audit import SYSTEM_ACTOR, AuditAction
from .core.errors import ConfigurationError, Conflict, DocumentError, FieldProblem, InvalidInput
from .core.keyring import KeyRing
from .core.model import Institution
from .core.verification import Verdict, verdict_for_document

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from .api.app import DiplomasAPI
    from .core.qrproof import QrCheck
    from .keys import FileKeyStore
    from .service import DiplomaService
    from .storage.audit import SqlAuditLog


def _passphrase(settings: Settings) -> bytes:
    from .keys.passphrase import resolve_passphrase, stretch_passphrase

    settings.check_production()
    env = settings.key_passphrase.get_secret_value() if settings.key_passphrase else None
    return stretch_passphrase(settings.keys_dir, resolve_passphrase(settings.home, env))


def keys_dir_for(settings: Settings, institutions: Sequence[Institution], slug: str) -> Path:
    """The default issuer keeps its keys in the key store's folder itself (as instances with
    one institution always have); every co-issuer in a sub-folder named by its slug."""
    return settings.keys_dir if slug == institutions[0].slug else settings.keys_dir / slug


def open_key_store(settings: Settings, institution: Institution | None = None) -> FileKeyStore:
    from .keys import FileKeyStore

    institutions = load_institutions(settings.institution_file)
    institution = institution or institutions[0]
    directory = keys_dir_for(settings, institutions, institution.slug)
    return FileKeyStore(directory, _passphrase(settings), institution)


def open_key_stores(settings: Settings) -> dict[str, FileKeyStore]:
    """Every institution's key store, by slug, the default issuer first."""
    from .keys import FileKeyStore

    institutions = load_institutions(settings.institution_file)
    passphrase = _passphrase(settings)
    return {
        i.slug: FileKeyStore(keys_dir_for(settings, institutions, i.slug), passphrase, i)
        for i in institutions
    }


def init_instance(
    settings: Settings, overrides: dict[str, Any], *, actor: str = SYSTEM_ACTOR
) -> list[str]:
    """Create whatever of the instance is missing; existing keys and settings stay as they are.

    Keys it creates are recorded in the audit log as done by `actor`. Returns the lines to
    show the admin.
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
        institutions = load_institutions(path)
    else:
        data = {**DEFAULT_INSTITUTION, **overrides}
        institutions = [institution_from(data)]
        write_institutions(path, [data])
        lines.append(f"wrote institution settings to {path}")
    institution = institutions[0]

    engine = make_engine(settings.effective_database_url)
    try:
        migrate_engine(engine)
    finally:
        engine.dispose()
    lines.append(f"database ready at {_safe_url(settings.effective_database_url)}")

    passphrase = _passphrase(settings)
    for each in institutions:
        directory = keys_dir_for(settings, institutions, each.slug)
        existed = (directory / "record-keys.json").exists()
        store = init_key_store(directory, passphrase, each, datetime.now(UTC))
        if not existed:
            key_ids = [k.key_id for k in store.entries()]
            record_audit_event(
                settings,
                actor,
                AuditAction.KEY_INIT,
                {"institution": each.slug, "key_ids": key_ids},
                subject=key_ids[0] if key_ids else "",
            )
        verb = "found" if existed else "created"
        whose = "" if each is institution else f" for co-issuer {each.slug}"
        lines.append(f"{verb} keys{whose} in {directory} ({len(store.keyring())} record key(s))")
    if settings.key_passphrase is None:
        lines.append(
            f"private keys are encrypted with a generated passphrase in {settings.home}/"
            "key-passphrase; for production set DIPLOMAS_KEY_PASSPHRASE instead (see README)"
        )
    lines.append(f"public URL (QR codes point here): {institution.public_url}")
    return lines


def add_institution(
    settings: Settings, data: dict[str, Any], *, actor: str = SYSTEM_ACTOR
) -> list[str]:
    """Add a co-issuing institution to the instance and create its keys.

    Its public URL defaults to a path of the issuer's site (`{public_url}/i/{slug}`), where
    this service publishes its DID document. Returns the lines to show the admin.
    """
    path = settings.institution_file
    entries = read_institution_entries(path)
    slug = str(data.get("slug", ""))
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", slug):
        raise InvalidInput(FieldProblem("slug", "must be lower-case letters, digits, - or _"))
    if any(e.get("slug") == slug for e in entries):
        raise Conflict(f"institution {slug!r} already exists; edit {path} to change it")
    data = {
        "public_url": f"{str(entries[0]['public_url']).rstrip('/')}/i/{slug}",
        "serial_prefix": slug.upper().replace("-", "").replace("_", "")[:16],
        **{k: v for k, v in data.items() if v not in (None, "")},
    }
    institution_from(data)  # refuses bad settings before anything is written
    write_institutions(path, [*entries, data])
    record_audit_event(
        settings,
        actor,
        AuditAction.INSTITUTION_ADDED,
        {"institution": slug, "public_url": str(data["public_url"])},
        subject=slug,
    )
    return [f"added co-issuer {slug} to {path}", *init_instance(settings, {}, actor=actor)]


def open_audit_log(settings: Settings) -> tuple[SqlAuditLog, Engine]:
    """The instance's audit log and the engine under it (dispose of it when done).
    Needs no key passphrase: anyone who may read the database may check the log."""
    from .storage.audit import SqlAuditLog
    from .storage.engine import make_engine

    engine = make_engine(settings.effective_database_url)
    return SqlAuditLog(engine), engine


def record_audit_event(
    settings: Settings,
    actor: str,
    action: AuditAction,
    details: dict[str, Any],
    subject: str = "",
) -> None:
    """Append one entry for an event that has no database change of its own (key events,
    institutions), right after the event."""
    log, engine = open_audit_log(settings)
    try:
        log.record(datetime.now(UTC), actor, action, details, subject)
    finally:
        engine.dispose()


def _safe_url(url: str) -> str:
    """The database URL without its password, fit for a terminal or a log."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_service(settings: Settings) -> DiplomaService:
    from .pdfsign import PadesValidator
    from .render import TemplateRenderer
    from .service import DiplomaService
    from .storage.audit import SqlAuditLog
    from .storage.batches import SqlBatchStore
    from .storage.engine import make_engine
    from .storage.files import FilePdfStore
    from .storage.repository import SqlRepository
    from .verdicts import VerdictCache

    institutions = load_institutions(settings.institution_file)
    stores = open_key_stores(settings)
    store = stores[institutions[0].slug]
    engine = make_engine(settings.effective_database_url)
    renderer = TemplateRenderer(settings.templates_dir)
    repository = SqlRepository(
        engine, {i.slug: i for i in institutions}, store.national_id_hasher()
    )
    audit = SqlAuditLog(engine)
    verdicts = None
    if settings.verify_cache_size > 0:
        verdicts = VerdictCache(
            audit,
            size=settings.verify_cache_size,
            check_every=settings.verify_cache_check_seconds,
        )
    return DiplomaService(
        institutions=institutions,
        repository=repository,
        pdf_store=FilePdfStore(settings.pdf_dir),
        renderer=renderer,
        templates=renderer,
        pdf_signer=store.pdf_signer(),
        pdf_validator=PadesValidator(
            issuers={i.did: stores[i.slug].trust_roots() for i in institutions},
            ca_issued=[pair for i in institutions for pair in stores[i.slug].ca_issued()],
        ),
        record_keys=store,
        co_issuer_keys={i.slug: stores[i.slug] for i in institutions[1:]},
        batches=SqlBatchStore(engine),
        audit=audit,
        verdicts=verdicts,
    )


def build_app(settings: Settings) -> DiplomasAPI:
    from .api import create_app

    # pyHanko logs a traceback for every tampered upload it is shown; the verdict already
    # carries the reasons, and a public upload form must not let strangers fill the logs.
    logging.getLogger("pyhanko").setLevel(logging.ERROR)
    if not settings.institution_file.exists():
        raise ConfigurationError(
            f"no instance at {settings.home}: run `diplomas init` first (or `make run`)"
        )
    return create_app(build_service(settings), settings)


def app_from_environment() -> DiplomasAPI:
    """Factory for `uvicorn --factory` with several workers (each logs JSON lines)."""
    from .logging_setup import configure_logging

    settings = Settings()
    configure_logging(settings.log_level)
    app = build_app(settings)
    settle_heap()
    return app


def settle_heap() -> None:
    """Take what a server process built at start-up out of the garbage collector's walks.

    Fonts, certificates, templates and the libraries behind them make a large heap that
    lives as long as the process. A full collection walks all of it, and the event loop,
    with every request in flight, waits tens of milliseconds: the long tail of the verify
    routes' latency under load. Frozen objects are never freed, so this is for serving
    processes only, once, after the app is built (not for tests that build many apps).
    """
    gc.collect()
    gc.freeze()


def verify_offline(pdf: bytes, *bundles: bytes) -> Verdict:
    """Check a PDF with only trust bundles (one per institution): no database, no network."""
    from .keys import load_bundle
    from .pdfsign import PadesValidator

    trusts = [load_bundle(b) for b in bundles]
    report = PadesValidator(
        issuers={t.did: t.trust_roots() for t in trusts},
        ca_issued=[pair for t in trusts for pair in t.ca_issued],
    ).inspect(pdf)
    keyring = KeyRing(k for t in trusts for k in t.record_keys)
    return verdict_for_document(report, keyring, None)


def verify_qr_photo(image: bytes, keyring: KeyRing) -> list[QrCheck]:
    """Check every QR code in a photo or scan of a diploma against `keyring`, offline."""
    from .core.qrproof import check_qr
    from .render.scan import read_qr_texts

    texts = read_qr_texts(image)
    if not texts:
        raise DocumentError("no QR code could be read in the image")
    return [check_qr(text, keyring) for text in texts]


def offline_keyring(*bundles: bytes) -> KeyRing:
    """The record keys of the institutions whose trust bundles are given."""
    from .keys import load_bundle

    return KeyRing(k for b in bundles for k in load_bundle(b).record_keys)
