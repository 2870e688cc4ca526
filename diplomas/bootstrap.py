"""Build the service from settings: the one place where adapters are wired together.

The API (`build_app`) and the CLI (`build_service`) both come through here, so they
always share one configuration and one service.
"""

from __future__ import annotations

import gc
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from .config import (
    DEFAULT_INSTITUTION,
    Settings,
    check_public_url,
    configured_institutions,
    institution_from,
    is_loopback_url,
    load_settings,
    read_institution_entries,
    signing_settings,
    write_institutions,
)
from .core.audit import SYSTEM_ACTOR, AuditAction
from .core.errors import (
    ConfigurationError,
    Conflict,
    DiplomaError,
    DocumentError,
    FieldProblem,
    InvalidInput,
    KeyStoreError,
)
from .core.identity import Address, Identity, moved
from .core.keyring import KeyRing
from .core.model import Institution, did_web
from .core.verification import SupersededRecord, Verdict, verdict_for_document
from .passwords import Argon2Passwords

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from .api.app import DiplomasAPI
    from .batch_workers import WorkerPool, WorkerPoolFactory, WorkerState
    from .batches import BatchService
    from .core.ports import PdfStore
    from .core.qrproof import QrCheck
    from .keys import FileKeyStore, TrustBundle
    from .pdfsign.signer import Timestamping
    from .render import TemplateRenderer
    from .service import DiplomaService
    from .storage.audit import SqlAuditLog
    from .storage.batches import SqlBatchStore
    from .tasks import Tasks


def store_passphrase(settings: Settings) -> bytes:
    """The key store's passphrase as given (environment, secret file or generated file),
    before stretching: what another passphrase must not equal."""
    from .keys.passphrase import resolve_passphrase

    env = settings.key_passphrase.get_secret_value() if settings.key_passphrase else None
    made = settings.keys_dir if (settings.keys_dir / "record-keys.json").exists() else None
    return resolve_passphrase(settings.home, env, settings.key_passphrase_file, encrypted=made)


def _passphrase(settings: Settings) -> bytes:
    from .keys.passphrase import stretch_passphrase

    settings.check_production()
    return stretch_passphrase(settings.keys_dir, store_passphrase(settings))


def timestamping_for(settings: Settings) -> Timestamping | None:
    """The timestamp authority PDF signatures use (PAdES B-T, B-LT), from the settings."""
    from .pdfsign.signer import Timestamping

    signing = signing_settings(settings)
    if signing is None:
        return None
    path = signing.timestamp_roots
    try:
        roots = tuple(x509.load_pem_x509_certificates(path.read_bytes()))
    except OSError as exc:
        raise ConfigurationError(
            f"DIPLOMAS_TIMESTAMP_ROOTS: {path} cannot be read ({exc.strerror})"
        ) from None
    except ValueError:
        raise ConfigurationError(
            f"DIPLOMAS_TIMESTAMP_ROOTS: {path} holds no PEM certificate; give the timestamp "
            f"authority's root certificate in PEM form"
        ) from None
    return Timestamping(
        signing.timestamp_url,
        roots,
        username=signing.username,
        password=signing.password.get_secret_value(),
        embed_validation_info=signing.embed_validation_info,
    )


def keys_dir_for(settings: Settings, institutions: Sequence[Institution], slug: str) -> Path:
    """The default issuer keeps its keys in the key store's folder itself (as instances with
    one institution always have); every co-issuer in a sub-folder named by its slug."""
    return settings.keys_dir if slug == institutions[0].slug else settings.keys_dir / slug


def load_institutions(
    settings: Settings,
    *,
    actor: str = SYSTEM_ACTOR,
    engine: Engine | None = None,
    record: bool = True,
    loopback_in_production: bool = False,
) -> list[Institution]:
    """The institutions as the settings file and the environment describe them now, each
    with the former DIDs its key store remembers. A public URL changed since the last
    look is recorded first (`settle_identity`), by whichever process sees it first;
    with `record=False` (commands that only look) nothing is written. In production an
    issuer's address that only this computer reaches is refused (`settings check`, which
    says so itself, passes `loopback_in_production`)."""
    institutions = configured_institutions(settings)
    if not loopback_in_production:
        refuse_loopback_in_production(settings, institutions[0].public_url)
    settled = [
        settle_identity(
            settings,
            i,
            keys_dir_for(settings, institutions, i.slug),
            actor=actor,
            engine=engine,
            record=record,
        )
        for i in institutions
    ]
    owners: dict[str, str] = {}
    for institution in settled:
        for did in institution.dids:
            other = owners.setdefault(did, institution.slug)
            if other != institution.slug:
                raise ConfigurationError(
                    f"the public URL of {institution.slug!r} gives the DID {did}, which is "
                    f"(or was) the DID of {other!r}: two institutions cannot share an address"
                )
    return settled


def refuse_loopback_in_production(settings: Settings, public_url: str) -> None:
    """In production, refuse an issuer's address that only this computer reaches: QR codes
    would point where no phone goes. `settings check` says the same, and so must every
    command that sets up, issues or serves."""
    if settings.environment == "production" and is_loopback_url(public_url):
        raise ConfigurationError(
            f"public_url is {public_url}, which only this computer reaches, and "
            f"DIPLOMAS_ENVIRONMENT=production: set the address employers reach "
            f"(DIPLOMAS_PUBLIC_URL, or `diplomas settings set public_url https://…`)"
        )


def settle_identity(
    settings: Settings,
    institution: Institution,
    directory: Path,
    *,
    actor: str = SYSTEM_ACTOR,
    engine: Engine | None = None,
    record: bool = True,
) -> Institution:
    """`institution` with the former DIDs its key store remembers, after recording a
    change of its public URL if there was one (unless `record` is False).

    A URL changed before anything was issued under the old one is just taken: nothing
    names the old address. One changed after diplomas were issued keeps the old DID as
    a former one, so that every diploma issued there keeps verifying, and the move goes
    into the audit log. The check costs one file read; the database is asked only when
    the URL changed."""
    from .keys.identity import read_identity

    identity = read_identity(directory) if directory.is_dir() else None
    if identity is not None and (not record or identity.names(institution.public_url)):
        return replace(institution, former_dids=identity.former_dids)
    if not record or not (directory / "record-keys.json").is_file():
        return institution  # no keys yet: `init` makes them, then records the identity
    try:
        identity = _record_identity(settings, institution, directory, actor, engine)
    except OSError as exc:  # the lock file: a key store mounted read-only, say
        raise KeyStoreError(
            f"cannot lock the key store {directory} to record the institution's public "
            f"address ({exc.strerror}): it must be writable when the public URL changes"
        ) from None
    return replace(institution, former_dids=identity.former_dids)


def _record_identity(
    settings: Settings,
    institution: Institution,
    directory: Path,
    actor: str,
    engine: Engine | None,
) -> Identity:
    """Under the key store's lock: the identity with `institution`'s public URL as the
    current one, recorded (with an audit entry if it is a move)."""
    from .keys._files import locked
    from .keys.identity import read_identity, write_identity

    with locked(directory):
        identity = read_identity(directory)  # again: another process may have been first
        now = datetime.now(UTC)
        if identity is None:
            identity = _first_identity(settings, institution, directory, engine, now)
        if not identity.names(institution.public_url):
            before = identity.current
            in_use = _issued_since(settings, engine, institution.slug, before.since)
            identity = moved(identity, institution.public_url, now, in_use=in_use)
            if before.did != identity.current.did:
                # The entry first: a crash before the file is written leaves an entry
                # that the next look writes again, never a move the log does not show.
                record_audit_event(
                    settings,
                    actor,
                    AuditAction.INSTITUTION_MOVED,
                    {
                        "institution": institution.slug,
                        "from_url": before.public_url,
                        "from_did": before.did,
                        "to_url": identity.current.public_url,
                        "to_did": identity.current.did,
                        "former_kept": before.did in identity.former_dids,
                    },
                    subject=institution.slug,
                )
        write_identity(directory, identity)
    return identity


def _first_identity(
    settings: Settings,
    institution: Institution,
    directory: Path,
    engine: Engine | None,
    now: datetime,
) -> Identity:
    """The identity of a key store that has none recorded yet: a new one, or one made by
    an earlier version, whose keys name the DID of the URL at `init` time. If that DID
    is not the one of the settings now and diplomas were issued, it is a former one."""
    from .keys._files import read_private_file
    from .keys.record import load_metadata

    path = directory / "record-keys.json"
    entries = load_metadata(read_private_file(path), str(path))
    start = min((e.valid_from for e in entries), default=now)
    current = Address(institution.public_url, start)
    earlier = [d for d in dict.fromkeys(e.controller for e in entries) if d != institution.did]
    if not earlier or not _issued_since(settings, engine, institution.slug, start):
        return Identity(current)
    former = tuple(Address(_url_of(d), start, now) for d in earlier)
    return Identity(replace(current, since=now), former)


def _url_of(did: str) -> str:
    """An address whose did:web is `did` (the scheme is not part of a did:web; a key
    store made by an earlier version kept only the DID)."""
    host, *path = did.removeprefix("did:web:").split(":")
    host = host.replace("%3A", ":")
    scheme = "http" if host.split(":")[0] in ("127.0.0.1", "localhost") else "https"
    url = f"{scheme}://{host}" + "".join(f"/{p}" for p in path)
    assert did_web(url) == did
    return url


def _issued_since(settings: Settings, engine: Engine | None, slug: str, since: datetime) -> bool:
    from .storage.engine import make_engine
    from .storage.usage import issued_since

    if engine is not None:
        return issued_since(engine, slug, since)
    own = make_engine(settings.effective_database_url)
    try:
        return issued_since(own, slug, since)
    finally:
        own.dispose()


def open_key_store(settings: Settings, institution: Institution | None = None) -> FileKeyStore:
    institutions = load_institutions(settings)
    if institution is not None:
        institution = next(i for i in institutions if i.slug == institution.slug)
    institution = institution or institutions[0]
    directory = keys_dir_for(settings, institutions, institution.slug)
    return _key_store(settings, directory, _passphrase(settings), institution)


def open_key_stores(
    settings: Settings, institutions: Sequence[Institution] | None = None
) -> dict[str, FileKeyStore]:
    """Every institution's key store, by slug, the default issuer first."""
    institutions = institutions or load_institutions(settings)
    passphrase = _passphrase(settings)
    timestamping = timestamping_for(settings)
    return {
        i.slug: _key_store(
            settings, keys_dir_for(settings, institutions, i.slug), passphrase, i, timestamping
        )
        for i in institutions
    }


def _key_store(
    settings: Settings,
    directory: Path,
    passphrase: bytes,
    institution: Institution,
    timestamping: Timestamping | None = None,
) -> FileKeyStore:
    """The store in `directory`: its signing keys in files, or in a PKCS#11 token when
    `diplomas keys init-token` moved them there (the PIN is read when first needed)."""
    from .keys import FileKeyStore
    from .keys.token import TokenKeyStore, in_token, resolve_pin

    if timestamping is None:
        timestamping = timestamping_for(settings)
    if in_token(directory):
        return TokenKeyStore(
            directory,
            passphrase,
            institution,
            lambda: resolve_pin(settings),
            timestamping=timestamping,
        )
    return FileKeyStore(directory, passphrase, institution, timestamping=timestamping)


def init_instance(
    settings: Settings,
    overrides: dict[str, Any],
    *,
    actor: str = SYSTEM_ACTOR,
    offline_root: tuple[Path, bytes] | None = None,
) -> list[str]:
    """Create whatever of the instance is missing; existing keys and settings stay as they are.

    A new settings file holds the defaults, then what the environment says, then
    `overrides` (the command's options). Keys it creates are recorded in the audit log as
    done by `actor`. With `offline_root` (a file and its passphrase) the issuing
    institution's root CA key goes to that file, not to the key store. Returns the lines
    to show the admin.
    """
    from .keys import init_key_store
    from .keys.token import in_token
    from .storage.engine import make_engine
    from .storage.schema import migrate_engine

    lines: list[str] = []
    settings.home.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.home, 0o700)
    path = settings.institution_file
    if path.exists():
        if overrides:
            lines.append(
                f"{path} exists; change a setting with `diplomas settings set` (options ignored)"
            )
    else:
        data = {**DEFAULT_INSTITUTION, **settings.institution_overrides(), **overrides}
        institution_from(data)  # refuses bad settings before anything is written
        refuse_loopback_in_production(settings, str(data["public_url"]))
        if overrides.get("logo"):
            from .settings_file import adopt_logo

            data["logo"] = adopt_logo(settings, str(data["slug"]), Path(overrides["logo"]))
        write_institutions(path, [data])
        lines.append(f"wrote institution settings to {path}")
    institutions = configured_institutions(settings)
    refuse_loopback_in_production(settings, institutions[0].public_url)

    engine = make_engine(settings.effective_database_url)
    try:
        migrate_engine(engine)
        lines.append(f"database ready at {_safe_url(settings.effective_database_url)}")
        passphrase = _passphrase(settings)
        for each in institutions:
            directory = keys_dir_for(settings, institutions, each.slug)
            existed = (directory / "record-keys.json").exists()
            own_root = offline_root if each is institutions[0] else None
            if existed and in_token(directory):
                store = _key_store(settings, directory, passphrase, each)
                store.unlock()  # a wrong PIN shows now, as a wrong passphrase does
                if own_root is not None:
                    lines.append(
                        "the signing keys are in a token and the root stays where it is: "
                        "move it out with `diplomas keys export-root`"
                    )
            else:
                was_online = (directory / "root-ca.key.pem").exists() or not existed
                store = init_key_store(
                    directory, passphrase, each, datetime.now(UTC), offline_root=own_root
                )
                if own_root is not None and was_online:
                    record_audit_event(
                        settings,
                        actor,
                        AuditAction.ROOT_EXPORTED,
                        {"institution": each.slug, "file": str(own_root[0])},
                        subject=each.slug,
                    )
                    lines.append(
                        f"the root CA's key is in {own_root[0]} (encrypted), not on this "
                        f"server; keep it and its passphrase offline: `diplomas keys "
                        f"renew-certificate --root FILE` needs them"
                    )
                elif own_root is not None:
                    lines.append(f"the root CA is offline already; {own_root[0]} was not written")
            settle_identity(settings, each, directory, actor=actor, engine=engine)
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
            whose = "" if each is institutions[0] else f" for co-issuer {each.slug}"
            count = len(store.entries())
            lines.append(f"{verb} keys{whose} in {directory} ({count} record key(s))")
    finally:
        engine.dispose()
    if settings.key_passphrase is None and settings.key_passphrase_file is None:
        lines.append(
            f"private keys are encrypted with a generated passphrase in {settings.home}/"
            "key-passphrase; for production set DIPLOMAS_KEY_PASSPHRASE instead (see README)"
        )
    lines.append(f"public URL (QR codes point here): {institutions[0].public_url}")
    return lines


def add_institution(
    settings: Settings, data: dict[str, Any], *, actor: str = SYSTEM_ACTOR
) -> list[str]:
    """Add a co-issuing institution to the instance and create its keys.

    Without a public URL of its own it is published on the issuer's site, at
    `{public_url}/i/{slug}` (and follows the issuer when that moves), where this service
    serves its DID document. Returns the lines to show the admin.
    """
    path = settings.institution_file
    entries = read_institution_entries(path)
    slug = str(data.get("slug", ""))
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", slug):
        raise InvalidInput(FieldProblem("slug", "must be lower-case letters, digits, - or _"))
    if any(e.get("slug") == slug for e in entries):
        raise Conflict(f"institution {slug!r} already exists; edit {path} to change it")
    data = {
        "serial_prefix": slug.upper().replace("-", "").replace("_", "")[:16],
        **{k: v for k, v in data.items() if v not in (None, "")},
    }
    if "public_url" in data:
        data["public_url"] = check_public_url(data["public_url"])
    # Refuses bad settings (and a URL another institution has) before anything is written.
    institutions = configured_institutions(settings, [*entries, data])
    added = institutions[-1]
    # Its keys first, then the settings that name it: a running server that sees the new
    # settings file finds everything it needs there.
    from .keys import init_key_store

    directory = keys_dir_for(settings, institutions, slug)
    store = init_key_store(directory, _passphrase(settings), added, datetime.now(UTC))
    write_institutions(path, [*entries, data])
    record_audit_event(
        settings,
        actor,
        AuditAction.INSTITUTION_ADDED,
        {"institution": slug, "public_url": added.public_url},
        subject=slug,
    )
    key_ids = [k.key_id for k in store.entries()]
    record_audit_event(
        settings,
        actor,
        AuditAction.KEY_INIT,
        {"institution": slug, "key_ids": key_ids},
        subject=key_ids[0],
    )
    settle_identity(settings, added, directory, actor=actor)
    return [
        f"added co-issuer {slug} to {path}",
        f"created keys for co-issuer {slug} in {directory} ({len(key_ids)} record key(s))",
        f"its DID: {added.did}",
    ]


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


def require_database(settings: Settings) -> None:
    """Before a server or worker starts: StorageUnavailable if the database does not
    answer, ConfigurationError if its schema is not this version's. (Started without
    this check, a worker logged the driver's complaint every second for ever, and a
    server gave up after 30 s with a traceback.)"""
    from .storage.engine import make_engine
    from .storage.schema import schema_problem

    engine = make_engine(settings.effective_database_url)
    try:
        problem = schema_problem(engine)
    finally:
        engine.dispose()
    if problem:
        raise ConfigurationError(
            f"the database at {_safe_url(settings.effective_database_url)} cannot be used: "
            f"{problem}"
        )


def _safe_url(url: str) -> str:
    """The database URL without its password, fit for a terminal or a log."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@dataclass(frozen=True)
class Runtime:
    """What a process keeps whatever the settings file says: the database engine and the
    stores that stand on it alone, the PDF files, the designs. A server rebuilds its
    service over the same runtime when the settings change (`diplomas.watch`)."""

    engine: Engine
    audit: SqlAuditLog
    batches: SqlBatchStore
    pdf_store: PdfStore
    renderer: TemplateRenderer


def open_runtime(settings: Settings) -> Runtime:
    from .render import TemplateRenderer
    from .storage.audit import SqlAuditLog
    from .storage.batches import SqlBatchStore
    from .storage.engine import make_engine

    engine = make_engine(settings.effective_database_url)
    return Runtime(
        engine,
        SqlAuditLog(engine),
        SqlBatchStore(engine),
        open_pdf_store(settings, engine),
        TemplateRenderer(settings.templates_dir),
    )


def open_pdf_store(settings: Settings, engine: Engine | None = None) -> PdfStore:
    """The PDF store the settings name (`Settings.pdf_store`): the database's (reading
    PDFs written as files before as well), or files under home."""
    from .storage.engine import make_engine
    from .storage.files import FilePdfStore
    from .storage.pdfs import SqlPdfStore

    files = FilePdfStore(settings.pdf_dir)
    if not settings.pdfs_in_database:
        return files
    return SqlPdfStore(engine or make_engine(settings.effective_database_url), fallback=files)


def build_service(
    settings: Settings, runtime: Runtime | None = None, *, actor: str = SYSTEM_ACTOR
) -> DiplomaService:
    """The service as the settings, the environment and the key stores say now."""
    from .core.sessions import SessionPolicy
    from .pdfsign import PadesValidator
    from .service import DiplomaService
    from .storage.outbox import SqlOutbox
    from .storage.repository import SqlRepository
    from .storage.sessions import SqlAccountStore
    from .verdicts import VerdictCache

    runtime = runtime or open_runtime(settings)
    institutions = load_institutions(settings, actor=actor, engine=runtime.engine)
    stores = open_key_stores(settings, institutions)
    store = stores[institutions[0].slug]
    hash_national_id = store.national_id_hasher()
    repository = SqlRepository(runtime.engine, {i.slug: i for i in institutions}, hash_national_id)
    verdicts = None
    if settings.verify_cache_size > 0:
        verdicts = VerdictCache(
            runtime.audit,
            size=settings.verify_cache_size,
            check_every=settings.verify_cache_check_seconds,
        )
    return DiplomaService(
        institutions=institutions,
        repository=repository,
        pdf_store=runtime.pdf_store,
        renderer=runtime.renderer,
        templates=runtime.renderer,
        pdf_signer=store.pdf_signer(),
        pdf_validator=PadesValidator(
            issuers=_roots_apart(institutions, stores),
            ca_issued={did: stores[i.slug].ca_issued() for i in institutions for did in i.dids},
            distrusted={
                did: stores[i.slug].distrusted_certificates()
                for i in institutions
                for did in i.dids
            },
            timestamp_roots=_timestamp_roots(store.timestamping),
        ),
        record_keys=store,
        co_issuer_keys={i.slug: stores[i.slug] for i in institutions[1:]},
        batches=runtime.batches,
        audit=runtime.audit,
        verdicts=verdicts,
        passwords=Argon2Passwords(),
        account_store=SqlAccountStore(runtime.engine),
        session_policy=SessionPolicy(second_factor_required=settings.environment == "production"),
        production=settings.environment == "production",
        national_id_hasher=hash_national_id,
        holder_link_key=store.holder_link_key(),
        outbox=SqlOutbox(runtime.engine),
    )


def _timestamp_roots(timestamping: Timestamping | None) -> tuple[x509.Certificate, ...]:
    return timestamping.roots if timestamping is not None else ()


def _roots_apart(
    institutions: Sequence[Institution], stores: Mapping[str, FileKeyStore]
) -> dict[str, list[x509.Certificate]]:
    """Each institution's DIDs to its roots, once no two institutions configured here list
    one root as their own (the rule trust bundles follow, `keys.bundle.check_roots_apart`)."""
    from .keys.bundle import check_roots_apart

    roots = {i.slug: stores[i.slug].trust_roots() for i in institutions}
    try:
        check_roots_apart(
            [(f"institution {slug!r}", roots[slug], stores[slug].ca_issued()) for slug in roots]
        )
    except KeyStoreError as exc:
        raise ConfigurationError(str(exc)) from None
    return {did: roots[i.slug] for i in institutions for did in i.dids}


def build_batches(service: DiplomaService, settings: Settings) -> BatchService:
    """Bulk issuance over `service`, its workers processes started from `settings`."""
    from .batches import BatchService

    return BatchService(
        service,
        pools=worker_pools(settings),
        max_roster_bytes=settings.max_roster_bytes,
    )


def worker_pools(settings: Settings) -> WorkerPoolFactory:
    """Pools of worker processes that each load their keys, design and fonts from
    `settings` (`load_worker_state`)."""
    from .batch_workers import ProcessWorkerPool

    def start(workers: int, template: str) -> WorkerPool:
        return ProcessWorkerPool(workers, load_worker_state, settings, template)

    return start


def load_worker_state(settings: object, template: str, environment: dict[str, str]) -> WorkerState:
    """A batch worker process's state, from `settings` (run in the worker)."""
    import contextlib

    from .batch_workers import WorkerState
    from .render import TemplateRenderer

    assert isinstance(settings, Settings)
    # The forkserver kept the environment of whenever it started; a worker takes the one
    # of the process that runs the batch, as a spawned process would. A PKCS#11 module
    # finds its configuration there (SoftHSM2: SOFTHSM2_CONF).
    os.environ.update(environment)
    stores = open_key_stores(settings)
    issuer, *co_issuers = stores.values()
    renderer = TemplateRenderer(settings.templates_dir)
    # Read the design and its fonts now, while the main process still validates; a
    # missing or broken template is the validation's to report, not the worker's.
    with contextlib.suppress(DiplomaError):
        renderer.ensure_template(template)
    return WorkerState(
        renderer=renderer,
        templates=renderer,
        signer=issuer.pdf_signer(),
        co_issuer_keys={store.institution.slug: store for store in co_issuers},
        issuer=issuer.institution,
        co_issuing={store.institution.slug: store.institution for store in co_issuers},
        logos={
            did: path for store in stores.values() for did, path in store.institution.logos.items()
        },
        pdfs=open_pdf_store(settings),
    )


def worker_tasks(settings: Settings) -> Tasks:
    """The task app of a `diplomas worker` process: batch shards rendered in this process
    (run one worker per core), with the service rebuilt when the settings or keys change
    on disk, and the outbox drained when mail is set up."""
    from .batches import BatchService
    from .mail.sender import MailSender, mail_configured
    from .tasks import Tasks, connector_for
    from .watch import SettingsWatch

    runtime = open_runtime(settings)
    watch = SettingsWatch(settings, lambda: build_service(settings, runtime))
    current = [watch.build()]
    lock = threading.Lock()

    def service() -> DiplomaService:
        with lock:
            rebuilt = watch.check()
            if rebuilt is not None:
                current[0] = rebuilt
            return current[0]

    mail: Callable[[], MailSender] | None = None
    if mail_configured(settings):
        sender = MailSender.from_settings(settings, current[0], service)
        mail = lambda: sender  # noqa: E731
    return Tasks(
        connector_for(settings.effective_database_url),
        lambda: BatchService(service(), max_roster_bytes=settings.max_roster_bytes),
        mail=mail,
        stalled_seconds=settings.worker_stalled_seconds,
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
    require_database(settings)
    from .watch import SettingsWatch

    runtime = open_runtime(settings)
    watch = SettingsWatch(settings, lambda: build_service(settings, runtime))
    return create_app(watch.build(), settings, watch=watch, batch_pools=worker_pools(settings))


def app_from_environment() -> DiplomasAPI:
    """Factory for `uvicorn --factory` with several workers (each logs JSON lines)."""
    from .logging_setup import configure_logging

    settings = load_settings()
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


def verify_offline(pdf: bytes, *bundles: bytes, names: Sequence[str] = ()) -> Verdict:
    """Check a PDF with only trust bundles (one per institution): no database, no network.

    Each bundle vouches for its own institution only: its roots and its certificates are
    kept under its own DIDs, and every signature in the verdict names the bundle whose
    keys or roots checked it (`names`, such as the file names given; else "bundle N")."""
    from .pdfsign import PadesValidator

    trusts = _load_bundles(bundles, names)
    report = PadesValidator(
        issuers={did: t.trust_roots() for t in trusts for did in t.dids},
        ca_issued={did: t.ca_issued for t in trusts for did in t.dids},
        distrusted={did: t.distrusted for t in trusts for did in t.dids},
        timestamp_roots=[root for t in trusts for root in t.timestamp_roots],
    ).inspect(pdf)
    keyring = KeyRing(k for t in trusts for k in t.keyring())
    superseded = [old for t in trusts for old in t.superseded]
    return verdict_for_document(report, keyring, None, bundle_vouchers(trusts, names), superseded)


def superseded_for_bundle(settings: Settings, slug: str) -> list[SupersededRecord]:
    """The replaced versions of the institution's diplomas, as `keys export` lists them:
    read from the database (no key passphrase needed)."""
    from .storage.engine import make_engine
    from .storage.repository import SqlRepository

    engine = make_engine(settings.effective_database_url)
    try:
        # Reading versions needs no institution settings nor the national id key.
        return SqlRepository(engine, {}, lambda _: "").superseded_records(slug)
    finally:
        engine.dispose()


def bundle_vouchers(trusts: Sequence[TrustBundle], names: Sequence[str] = ()) -> dict[str, str]:
    """Each DID to the trust bundle that speaks for it, in words."""
    return {
        did: f"trust bundle {_bundle_name(number, names)} ({trust.name_en or trust.name})"
        for number, trust in enumerate(trusts, start=1)
        for did in trust.dids
    }


def _bundle_name(number: int, names: Sequence[str]) -> str:
    return names[number - 1] if number <= len(names) else str(number)


def _load_bundles(bundles: Sequence[bytes], names: Sequence[str] = ()) -> list[TrustBundle]:
    """The trust bundles, each vouching for its own institution only: two that claim the
    same DID (a current or a former one) are refused, whichever order they come in."""
    from .keys import load_bundle

    trusts = []
    for number, data in enumerate(bundles, start=1):
        try:
            trusts.append(load_bundle(data))
        except KeyStoreError as exc:
            if number > len(names):
                raise
            raise KeyStoreError(f"{names[number - 1]}: {exc}") from None
    claimed: dict[str, int] = {}
    for number, trust in enumerate(trusts, start=1):
        for did in trust.dids:
            first = claimed.setdefault(did, number)
            if first != number:
                raise ConfigurationError(
                    _claimed_twice(trusts[first - 1], trust, did, first, number, names)
                )
    from .keys.bundle import check_roots_apart

    try:
        check_roots_apart(
            [
                (f"trust bundle {_bundle_name(n, names)}", t.roots, t.ca_issued)
                for n, t in enumerate(trusts, start=1)
            ]
        )
    except KeyStoreError as exc:
        raise ConfigurationError(str(exc)) from None
    return trusts


def _claimed_twice(
    first: TrustBundle, second: TrustBundle, did: str, a: int, b: int, names: Sequence[str]
) -> str:
    both = f"trust bundles {_bundle_name(a, names)} and {_bundle_name(b, names)}"
    if first == second:
        return f"{both} are the same bundle: give each institution's once"
    if {k.public_key for k in first.record_keys} & {k.public_key for k in second.record_keys}:
        return (
            f"{both} are two versions of one institution's bundle (they share a record "
            f"key): give only the newest, exported last with `diplomas keys export`"
        )
    return (
        f"{both} both claim to speak for {did}: each institution has one bundle, and one "
        f"of these is not what it says; check where they came from"
    )


def verify_qr_photo(image: bytes, keyring: KeyRing) -> list[QrCheck]:
    """Check every QR code in a photo or scan of a diploma against `keyring`, offline."""
    from .core.qrproof import check_qr
    from .render.scan import read_qr_texts

    texts = read_qr_texts(image)
    if not texts:
        raise DocumentError("no QR code could be read in the image")
    return [check_qr(text, keyring) for text in texts]


def bundles_superseded(*bundles: bytes, names: Sequence[str] = ()) -> list[SupersededRecord]:
    """The replaced diploma versions the trust bundles list, each vouched for by its own
    bundle's institution only."""
    return [old for t in _load_bundles(bundles, names) for old in t.superseded]


def offline_keyring(*bundles: bytes, names: Sequence[str] = ()) -> KeyRing:
    """The record keys of the institutions whose trust bundles are given."""
    return offline_trust(*bundles, names=names)[0]


def offline_trust(*bundles: bytes, names: Sequence[str] = ()) -> tuple[KeyRing, dict[str, str]]:
    """The record keys of the institutions whose trust bundles are given, and which bundle
    vouches for each DID."""
    trusts = _load_bundles(bundles, names)
    return KeyRing(k for t in trusts for k in t.keyring()), bundle_vouchers(trusts, names)
