"""`diplomas keys ...`: the record-signing keys over their lifetime, and the certificate
that signs PDFs.

    list                         every key, its window and state
    rotate                       a new key signs from now on; the old one is retired
    retire KEY_ID [--rotate]     the key signs no more; what it signed keeps verifying
    compromised KEY_ID --since   what the key signed at or after TIME fails verification
    export [--out FILE]          the public trust bundle for offline verifiers
    certificates                 the document-signing certificates, and which one signs
    import-certificate           a CA-issued document-signing certificate signs PDFs from now
      (--p12 FILE | --key KEY.pem --chain CHAIN.pem) [--root ROOT.pem] [--password-stdin]
    renew-certificate [--root FILE]  a new self-made document-signing certificate signs
    distrust-certificate ID-or-SERIAL --since TIME [--reason TEXT]
                                 its PDF signatures from TIME on are refused everywhere
    export-root --out FILE       move the root CA's key out of the store, to an encrypted file

The root passphrase (export-root, renew-certificate --root) is asked in a terminal, or read
from stdin (--root-passphrase-stdin) or $DIPLOMAS_ROOT_PASSPHRASE; never an option.

The commands parse, call the key store (which checks and writes under its lock), print.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ..core.audit import AuditAction
from ..core.proof import iso_utc
from .audit import current_actor, record_event
from .console import errors_to_exit, load_settings, out, warning

if TYPE_CHECKING:
    from ..core.verification import SupersededRecord
    from ..key_admin import KeyAdmin
    from ..keys import FileKeyStore

keys_app = typer.Typer(help="The institution's signing keys.", no_args_is_help=True)

KeyIdArg = Annotated[
    str, typer.Argument(metavar="KEY_ID", help="A key id from `diplomas keys list`.")
]


InstitutionOpt = Annotated[
    str | None,
    typer.Option(
        "--institution",
        metavar="SLUG",
        help="Whose keys: a co-issuer's slug (default: the issuing institution).",
    ),
]


def _admin() -> KeyAdmin:
    from ..key_admin import KeyAdmin

    return KeyAdmin(load_settings())


def _store(slug: str | None = None) -> FileKeyStore:
    return _admin().store(slug)


def _warn_if_nothing_signs(store: FileKeyStore) -> None:
    if all(k.status != "active" for k in store.entries()):
        warning(
            "no active key is left, so no diploma can be issued "
            "until you run `diplomas keys rotate`"
        )


@keys_app.command("list")
def keys_list(institution: InstitutionOpt = None) -> None:
    """List the record-signing keys with their validity and state."""
    from ..keys.record import current_entry

    with errors_to_exit():
        entries = _store(institution).entries()
    current = current_entry(entries)
    table = Table()
    # The key id is what the other commands take: never cut it, whatever the width.
    table.add_column("key id", no_wrap=True, min_width=max(len(k.key_id) for k in entries))
    table.add_column("state")
    for title in ("valid from", "valid until", "compromised since"):
        table.add_column(title, overflow="fold")
    for k in entries:
        state = f"{k.status} (signs)" if k is current else k.status
        table.add_row(
            k.key_id,
            state,
            iso_utc(k.valid_from),
            iso_utc(k.valid_until) if k.valid_until else "",
            iso_utc(k.compromised_since) if k.compromised_since else "",
        )
    out.print(table)


@keys_app.command("rotate")
def keys_rotate(institution: InstitutionOpt = None) -> None:
    """Make a new key that signs every diploma from now on; the current one is retired
    now and keeps verifying what it signed."""
    with errors_to_exit():
        rotated = _admin().rotate(datetime.now(UTC), actor=current_actor(), slug=institution)
    entry, before = rotated.new, rotated.retired
    out.print(f"new key {entry.key_id} signs from {iso_utc(entry.valid_from)}", highlight=False)
    for key_id in before:
        out.print(f"retired {key_id}; what it signed keeps verifying", highlight=False)
    out.print("publish the new key: run `diplomas keys export` again for offline verifiers")


@keys_app.command("retire")
def keys_retire(
    key_id: KeyIdArg,
    rotate: Annotated[
        bool,
        typer.Option(
            "--rotate", help="Make a new key at the same time (needed for the last active key)."
        ),
    ] = False,
    institution: InstitutionOpt = None,
) -> None:
    """Stop a key from signing; the diplomas it signed before keep verifying."""
    with errors_to_exit():
        store = _store(institution)
        entry = store.retire(key_id, datetime.now(UTC), rotate=rotate)
        details: dict[str, object] = {"institution": store.institution.slug, "key_id": key_id}
        if entry is not None:
            details["new_key_id"] = entry.key_id
        record_event(AuditAction.KEY_RETIRED, details, key_id)
    out.print(f"retired {key_id}; what it signed keeps verifying", highlight=False)
    if entry is not None:
        out.print(f"new key {entry.key_id} signs from now on", highlight=False)


@keys_app.command("compromised")
def keys_compromised(
    key_id: KeyIdArg,
    since: Annotated[
        str,
        typer.Option(
            metavar="TIME",
            help="ISO 8601 with a zone, e.g. 2026-11-26T09:30:00Z: from when the key "
            "is distrusted; what it signed before still verifies.",
        ),
    ],
    institution: InstitutionOpt = None,
) -> None:
    """Mark a key compromised: records it signed at or after TIME fail verification."""
    from ..keys.record import parse_since

    with errors_to_exit():
        now = datetime.now(UTC)
        moment = parse_since(since, now)
        store = _store(institution)
        entry = _admin().mark_compromised(
            key_id, moment, now, actor=current_actor(), slug=institution
        )
    assert entry.compromised_since is not None
    if entry.compromised_since <= entry.valid_from:
        consequence = "every record it signed fails verification"
    else:
        consequence = (
            "what it signed from then on fails verification, what it signed before still verifies"
        )
    out.print(
        f"key {key_id} is compromised since {iso_utc(entry.compromised_since)}: {consequence}",
        highlight=False,
    )
    _warn_if_nothing_signs(store)


@keys_app.command("export")
def keys_export(
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the bundle here instead of stdout.")
    ] = None,
    institution: InstitutionOpt = None,
) -> None:
    """Write the trust bundle (public keys, root certificates) for offline verifiers."""
    from .main import write_output

    with errors_to_exit():
        admin = _admin()
        slug = admin.store(institution).institution.slug
        bundle = json.dumps(admin.export_bundle(slug, _superseded_records(slug)), indent=2)
        bundle += "\n"
    if out_file is None:
        sys.stdout.write(bundle)
    else:
        write_output(out_file, bundle.encode())
        out.print(f"trust bundle written to {out_file}", highlight=False)


def _superseded_records(slug: str) -> list[SupersededRecord] | None:
    """The diploma versions that corrections replaced, for the bundle; None (and a
    warning) when the database cannot say, so that the bundle claims nothing about them."""
    from sqlalchemy.exc import SQLAlchemyError

    from ..bootstrap import superseded_for_bundle

    try:
        return superseded_for_bundle(load_settings(), slug)
    except SQLAlchemyError as exc:
        warning(
            f"the database could not list corrected diplomas ({type(exc).__name__}); the "
            f"bundle lists none, so offline verifiers cannot tell a replaced version"
        )
        return None


@keys_app.command("certificates")
def keys_certificates(institution: InstitutionOpt = None) -> None:
    """List the document-signing certificates: self-made or imported, and which signs PDFs."""
    with errors_to_exit():
        listed = _store(institution).signing_certificates()
    table = Table()
    table.add_column("id", no_wrap=True)
    table.add_column("source", no_wrap=True)
    for title in ("serial", "subject", "issuer", "valid until", "distrusted since"):
        table.add_column(title, overflow="fold")
    for entry in listed.entries:
        signs = " (signs)" if entry.cert_id == listed.current_id else ""
        distrusted = ""
        if entry.distrusted_since is not None:
            distrusted = iso_utc(entry.distrusted_since)
            if entry.distrust_reason:
                distrusted += f" ({entry.distrust_reason})"
        table.add_row(
            entry.cert_id,
            f"{entry.source}{signs}",
            entry.serial,
            entry.subject,
            entry.issuer,
            iso_utc(entry.not_after),
            distrusted,
        )
    out.print(table)


P12_PASSWORD_VARIABLE = "DIPLOMAS_P12_PASSWORD"  # noqa: S105 (a variable's name)


def _import_password(from_stdin: bool) -> bytes | None:
    """The PKCS#12 (or PEM key) password: the first line of stdin, or the environment.
    Never an option, so that it stays out of shell history and `ps`."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        return line.encode() if line else None
    value = os.environ.get(P12_PASSWORD_VARIABLE)
    return value.encode() if value else None


def _read(path: Path, what: str) -> bytes:
    from ..core.errors import FieldProblem, InvalidInput

    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(FieldProblem(what, f"cannot read {path}: {exc.strerror}")) from None


@keys_app.command("import-certificate")
def keys_import_certificate(
    p12: Annotated[
        Path | None,
        typer.Option("--p12", metavar="FILE", help="PKCS#12 (.p12/.pfx): key, certificate, chain."),
    ] = None,
    key: Annotated[
        Path | None, typer.Option("--key", metavar="KEY.pem", help="The private key (PEM).")
    ] = None,
    chain: Annotated[
        Path | None,
        typer.Option(
            "--chain",
            metavar="CHAIN.pem",
            help="The certificate first, then the intermediate CAs, optionally the root (PEM).",
        ),
    ] = None,
    root: Annotated[
        Path | None,
        typer.Option("--root", metavar="ROOT.pem", help="The CA's root, if not in the file."),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help=f"Read the PKCS#12 or key password from stdin (else ${P12_PASSWORD_VARIABLE}).",
        ),
    ] = False,
    institution: InstitutionOpt = None,
) -> None:
    """Sign PDFs from now on with a document-signing certificate issued by a CA.

    The key, certificate and chain are checked, stored (the key encrypted with the key
    store's passphrase) and made current; the earlier certificate and root stay, so the
    diplomas signed before keep verifying. PDF readers that trust the CA show the
    signature as valid, under the certificate's name.
    """
    from ..core.errors import FieldProblem, InvalidInput
    from ..keys.importing import check_certificate, read_pem, read_pkcs12, read_root

    with errors_to_exit():
        pem_given = key is not None or chain is not None
        if (p12 is not None) == pem_given or (pem_given and (key is None or chain is None)):
            raise InvalidInput(
                FieldProblem("--p12", "give either --p12 FILE, or both --key and --chain")
            )
        password = _import_password(password_stdin)
        if p12 is not None:
            private, certificates = read_pkcs12(_read(p12, "--p12"), password)
        else:
            assert key is not None and chain is not None
            private, certificates = read_pem(_read(key, "--key"), _read(chain, "--chain"), password)
        given_root = read_root(_read(root, "--root")) if root is not None else None
        now = datetime.now(UTC)
        checked = check_certificate(private, certificates, given_root, now)
        store = _store(institution)
        before = store.signing_certificates().current()
        entry = store.import_certificate(checked)
        record_event(
            AuditAction.CERTIFICATE_IMPORTED,
            {
                "institution": store.institution.slug,
                "certificate": entry.cert_id,
                "serial": entry.serial,
                "subject": entry.subject,
                "issuer": entry.issuer,
                "not_after": iso_utc(entry.not_after),
                "sha256": entry.sha256,
                "replaces": before.cert_id,
            },
            entry.cert_id,
        )
    out.print(f"imported {entry.cert_id}: {entry.subject}", highlight=False)
    out.print(
        f"issued by {entry.issuer}, valid until {iso_utc(entry.not_after)}; "
        f"it signs PDFs from now on (a running server takes it within a second or two)",
        highlight=False,
    )
    out.print(f"{before.cert_id} signs no more; what it signed keeps verifying", highlight=False)
    out.print("publish the CA root: run `diplomas keys export` again for offline verifiers")


RootPassphraseStdinOpt = Annotated[
    bool,
    typer.Option(
        "--root-passphrase-stdin",
        help="Read the root file's passphrase from stdin (else $DIPLOMAS_ROOT_PASSPHRASE, "
        "else it is asked in the terminal).",
    ),
]


def root_passphrase(from_stdin: bool, *, new: bool) -> bytes:
    """The offline root's passphrase: the first line of stdin, the environment, or asked
    in a terminal (twice for a new one). Never an option, so that it stays out of shell
    history and `ps`; refused when it is the key store's passphrase."""
    from ..bootstrap import store_passphrase
    from ..core.errors import KeyStoreError
    from ..keys.offline_root import ROOT_PASSPHRASE_VARIABLE, check_root_passphrase

    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    elif os.environ.get(ROOT_PASSPHRASE_VARIABLE):
        value = os.environ[ROOT_PASSPHRASE_VARIABLE]
    elif sys.stdin.isatty():
        value = typer.prompt(
            "Passphrase for the root file (not the key store's)",
            hide_input=True,
            confirmation_prompt=new,
        )
    else:
        raise KeyStoreError(
            f"the root file's passphrase is needed: give it on stdin with "
            f"--root-passphrase-stdin, or in ${ROOT_PASSPHRASE_VARIABLE}"
        )
    passphrase = value.encode()
    if new:
        check_root_passphrase(passphrase, store_passphrase(load_settings()))
    return passphrase


@keys_app.command("export-root")
def keys_export_root(
    out_file: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="FILE",
            help="A new file (on removable media, say) for the root key, encrypted.",
        ),
    ],
    passphrase_stdin: RootPassphraseStdinOpt = False,
    institution: InstitutionOpt = None,
) -> None:
    """Move the root CA's key out of the key store into an encrypted file.

    The file is written, read back and opened with its passphrase; only then is the key
    removed from the store. The root's certificate stays (verifiers trust it), and the
    document-signing key keeps signing. Bring the file back only to renew the
    document-signing certificate (`diplomas keys renew-certificate --root FILE`)."""
    with errors_to_exit():
        store = _store(institution)
        store.export_root(out_file, root_passphrase(passphrase_stdin, new=True))
        record_event(
            AuditAction.ROOT_EXPORTED,
            {"institution": store.institution.slug, "file": str(out_file)},
            store.institution.slug,
        )
    out.print(f"the root CA's key is in {out_file} (encrypted) and no longer in the store")
    out.print(
        "keep that file and its passphrase apart from the server (two copies, offline); "
        "without them no new document-signing certificate can be made under this root",
        highlight=False,
    )


@keys_app.command("renew-certificate")
def keys_renew_certificate(
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            metavar="FILE",
            help="The offline root file (from `init --offline-root` or `keys export-root`); "
            "needed when the root is not in the store.",
        ),
    ] = None,
    passphrase_stdin: RootPassphraseStdinOpt = False,
    institution: InstitutionOpt = None,
) -> None:
    """Make a new document-signing key and certificate under the root; it signs PDFs from
    now on. The earlier certificate signs no more, and what it signed keeps verifying."""
    from ..core.errors import FieldProblem, InvalidInput
    from ..keys.offline_root import open_root

    with errors_to_exit():
        store = _store(institution)
        brought = None
        if root is not None:
            data = _read(root, "--root")
            brought = open_root(data, root_passphrase(passphrase_stdin, new=False), str(root))
        elif store.root_is_offline():
            raise InvalidInput(
                FieldProblem(
                    "--root",
                    "the root CA is kept offline (the store holds only its certificate): "
                    "bring its file for this one command: "
                    "`diplomas keys renew-certificate --root FILE`",
                )
            )
        before = store.signing_certificates().current()
        entry = store.renew_certificate(datetime.now(UTC), brought)
        record_event(
            AuditAction.CERTIFICATE_RENEWED,
            {
                "institution": store.institution.slug,
                "certificate": entry.cert_id,
                "serial": entry.serial,
                "not_after": iso_utc(entry.not_after),
                "sha256": entry.sha256,
                "replaces": before.cert_id,
                "root": "brought in" if brought is not None else "in the store",
            },
            entry.cert_id,
        )
    out.print(
        f"new certificate {entry.cert_id} (serial {entry.serial}) signs PDFs from now on, "
        f"valid until {iso_utc(entry.not_after)}",
        highlight=False,
    )
    out.print(f"{before.cert_id} signs no more; what it signed keeps verifying", highlight=False)
    if brought is not None:
        out.print(f"the root was used for this command only; put {root} away again")


@keys_app.command("distrust-certificate")
def keys_distrust_certificate(
    certificate: Annotated[
        str,
        typer.Argument(
            metavar="ID-OR-SERIAL",
            help="A certificate id or serial number from `diplomas keys certificates`.",
        ),
    ],
    since: Annotated[
        str,
        typer.Option(
            metavar="TIME",
            help="ISO 8601 with a zone, e.g. 2026-11-26T09:30:00Z: from when the "
            "certificate's key may be in other hands.",
        ),
    ],
    reason: Annotated[str, typer.Option(help="Why, in a few words (shown to verifiers).")] = "",
    institution: InstitutionOpt = None,
) -> None:
    """Distrust a document-signing certificate from TIME: every verifier (this server,
    `diplomas verify --trust`) refuses its PDF signatures made then or later, whatever
    time the PDF claims, unless a trusted timestamp shows them earlier.

    The diplomas this server stored that the certificate signed are its own: their
    signatures are listed as vouched for, so they keep verifying."""
    from ..keys.distrust import DistrustedCertificate
    from ..keys.record import parse_since

    found: list[str] = []
    unreadable: list[Path] = []

    def stored(named: DistrustedCertificate) -> list[str]:
        from ..pdfsign.signatures import stored_signatures

        for item in stored_signatures(load_settings().pdf_dir):
            if isinstance(item, Path):
                unreadable.append(item)
            elif named.names(item.certificate):
                found.append(item.digest)
        return found

    with errors_to_exit():
        now = datetime.now(UTC)
        moment = parse_since(since, now, "distrust a certificate")
        store = _store(institution)
        entry = store.distrust_certificate(certificate, moment, now, reason, vouched=stored)
        assert entry.distrusted_since is not None
        record_event(
            AuditAction.CERTIFICATE_DISTRUSTED,
            {
                "institution": store.institution.slug,
                "certificate": entry.cert_id,
                "serial": entry.serial,
                "issuer": entry.issuer,
                "since": iso_utc(entry.distrusted_since),
                "reason": entry.distrust_reason,
                "vouched_signatures": len(found),
            },
            entry.cert_id,
        )
    assert entry.distrusted_since is not None
    out.print(
        f"certificate {entry.cert_id} (serial {entry.serial}) is distrusted since "
        f"{iso_utc(entry.distrusted_since)}: PDF signatures it made from then on are refused, "
        f"whatever time the PDF claims",
        highlight=False,
    )
    out.print(
        f"{len(found)} signature(s) of diplomas this server stored are vouched for and keep "
        f"verifying; any other signature by it verifies only with a trusted timestamp from "
        f"before then",
        highlight=False,
    )
    for path in unreadable:
        warning(f"{path} could not be read; its signatures are not vouched for")
    out.print(
        "publish the distrust: run `diplomas keys export` again for offline verifiers "
        "(a running server applies it within a second or two)"
    )


@keys_app.command("init-token")
def keys_init_token(
    module: Annotated[
        Path,
        typer.Option(
            "--module",
            metavar="LIB.so",
            help="The token's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so.",
        ),
    ],
    token_label: Annotated[
        str, typer.Option("--token-label", metavar="LABEL", help="The label of the token.")
    ],
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            metavar="FILE",
            help="The offline root file (from `init --offline-root` or `keys export-root`), "
            "to certify the token's key; needed when the root is not in the store.",
        ),
    ] = None,
    passphrase_stdin: RootPassphraseStdinOpt = False,
    institution: InstitutionOpt = None,
) -> None:
    """Make the signing keys in a PKCS#11 token and sign with them from now on.

    A new Ed25519 record key and an ECDSA P-256 document-signing key are generated in the
    token (never extractable); the store's root CA certifies the signing key; the record
    keys in files retire and keep verifying what they signed. The token's PIN comes from
    DIPLOMAS_PKCS11_PIN or DIPLOMAS_PKCS11_PIN_FILE.
    """
    from ..keys.offline_root import open_root
    from ..keys.token import move_to_token, resolve_pin

    with errors_to_exit():
        settings = load_settings()
        store = _store(institution)
        resolve_pin(settings)  # a missing PIN is said before anything is made
        brought = None
        if root is not None:
            data = _read(root, "--root")
            brought = open_root(data, root_passphrase(passphrase_stdin, new=False), str(root))
        before = [k.key_id for k in store.entries() if k.status == "active"]
        moved = move_to_token(
            store,
            str(module),
            token_label,
            lambda: resolve_pin(settings),
            datetime.now(UTC),
            brought,
        )
        entry = moved.signer()
        record_event(
            AuditAction.KEY_ROTATED,
            {
                "institution": moved.institution.slug,
                "key_id": entry.key_id,
                "retired": before,
                "token": token_label,
            },
            entry.key_id,
        )
        certificate = moved.document_signing_certificate()
    out.print(
        f"new record key {entry.key_id} and a document-signing key are in token "
        f"{token_label!r}; they sign from now on",
        highlight=False,
    )
    out.print(
        f"document-signing certificate: {certificate.subject.rfc4514_string()}, in "
        f"{moved.directory / moved.config.certificate_file}",
        highlight=False,
    )
    for key_id in before:
        out.print(f"retired {key_id}; what it signed keeps verifying", highlight=False)
    out.print("publish the new key: run `diplomas keys export` again for offline verifiers")
