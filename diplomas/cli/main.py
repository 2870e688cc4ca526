"""Typer commands: each parses its options, calls the service, prints the outcome."""

from __future__ import annotations

import json
import os
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from ..atomic import write_atomic
from ..core.errors import ConfigurationError, ExternalIdTaken
from ..core.qrproof import QrCheck
from ..core.verification import SupersededRecord, Verdict, VerdictStatus
from .console import (
    EXIT_INVALID_INPUT,
    EXIT_NOT_GENUINE,
    err,
    error,
    errors_to_exit,
    load_service,
    load_settings,
    out,
    quiet_pdf_libraries,
    warning,
)

app = typer.Typer(
    name="diplomas",
    help="Issue signed PDF entrepreneurship diplomas and verify them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
token_app = typer.Typer(help="API tokens for admins.", no_args_is_help=True)
app.add_typer(token_app, name="token")

from .keys import keys_app  # noqa: E402

app.add_typer(keys_app, name="keys")

from .institutions import institutions_app  # noqa: E402

app.add_typer(institutions_app, name="institutions")

from .users import tokens_app, users_app  # noqa: E402

app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")

from .audit import audit_app, current_actor  # noqa: E402
from .batch import issue_batch  # noqa: E402
from .proposals import (  # noqa: E402
    PasswordStdinOpt,
    ProposerUserOpt,
    history,
    print_proposed,
    proposals_app,
    sign_in,
)
from .settings import settings_app  # noqa: E402

app.add_typer(audit_app, name="audit")
app.add_typer(settings_app, name="settings")
app.add_typer(proposals_app, name="proposals")

app.command("issue-batch")(issue_batch)
app.command("history")(history)

from .corrections import correct  # noqa: E402

app.command("correct")(correct)

from .listing import list_diplomas, show  # noqa: E402
from .mail import mail_app  # noqa: E402

app.add_typer(mail_app, name="mail")

app.command("list")(list_diplomas)
app.command("show")(show)

from .holders import holder_link  # noqa: E402
from .worker import worker  # noqa: E402

app.command("holder-link")(holder_link)
app.command("worker")(worker)


@app.command()
def init(
    name: Annotated[str | None, typer.Option(help="Institution name in Persian.")] = None,
    name_en: Annotated[str | None, typer.Option(help="Institution name in English.")] = None,
    public_url: Annotated[
        str | None, typer.Option(help="Address employers reach; the QR code points here.")
    ] = None,
    serial_prefix: Annotated[str | None, typer.Option(help="Serial prefix, e.g. TBZMED.")] = None,
    signatory: Annotated[
        list[str] | None,
        typer.Option(
            "--signatory",
            metavar="NAME|TITLE|NAME_EN|TITLE_EN",
            help="Who signs the diplomas (repeat for each); the English parts may be left out.",
        ),
    ] = None,
    logo: Annotated[
        Path | None,
        typer.Option(help="The institution's logo (PNG or JPEG), drawn above its name."),
    ] = None,
    no_input: Annotated[
        bool,
        typer.Option(
            "--no-input",
            help="Never ask: take the defaults for what the options and the environment "
            "do not give (`make run` does this).",
        ),
    ] = False,
    offline_root: Annotated[
        Path | None,
        typer.Option(
            "--offline-root",
            metavar="FILE",
            help="Keep the root CA off the server: write its key to FILE (new, encrypted "
            "under a passphrase of its own) instead of the key store; a root already in "
            "the store is moved there.",
        ),
    ] = None,
    root_passphrase_stdin: Annotated[
        bool,
        typer.Option(
            "--root-passphrase-stdin",
            help="Read the root file's passphrase from stdin (else "
            "$DIPLOMAS_ROOT_PASSPHRASE, else it is asked in the terminal).",
        ),
    ] = False,
) -> None:
    """Create the instance (database, settings, keys) if missing; never overwrite keys.

    On a first set-up in a terminal it asks for each setting the options and the
    environment do not give, showing the default; elsewhere it takes the defaults."""
    from ..bootstrap import init_instance
    from .keys import root_passphrase

    settings = load_settings()
    with errors_to_exit():
        root = None
        if offline_root is not None:
            root = (offline_root, root_passphrase(root_passphrase_stdin, new=True))
        overrides: dict[str, Any] = {
            k: v
            for k, v in {
                "name": name,
                "name_en": name_en,
                "public_url": public_url,
                "serial_prefix": serial_prefix,
                "signatories": [parse_signatory(s) for s in signatory] if signatory else None,
                "logo": str(logo) if logo else None,
            }.items()
            if v is not None
        }
        if not settings.institution_file.exists() and not no_input and sys.stdin.isatty():
            overrides = ask_first_settings(overrides, settings.institution_overrides())
        report = init_instance(settings, overrides, actor=current_actor(), offline_root=root)
    for line in report:
        out.print(line, highlight=False)


def parse_signatory(text: str) -> dict[str, str]:
    """`Name|Title|Name EN|Title EN` (the English parts optional) as a settings table."""
    from ..core.errors import FieldProblem, InvalidInput

    parts = [p.strip() for p in text.split("|")]
    if len(parts) < 2 or len(parts) > 4 or not parts[0] or not parts[1]:
        raise InvalidInput(
            FieldProblem("signatory", f"{text!r} is not NAME|TITLE|NAME_EN|TITLE_EN")
        )
    parts += [""] * (4 - len(parts))
    return dict(zip(("name", "title", "name_en", "title_en"), parts, strict=True))


def ask_first_settings(given: dict[str, Any], environment: dict[str, Any]) -> dict[str, Any]:
    """Ask, in the terminal, for each first-set-up setting that neither an option nor the
    environment gives; Enter takes the default shown. An answer that cannot be used is
    said at once and asked again, so no other answer is lost."""
    from ..config import DEFAULT_INSTITUTION, institution_from

    answers = dict(given)
    questions = (
        ("name", "Institution name (Persian)"),
        ("name_en", "Institution name (English)"),
        ("public_url", "Public URL employers reach (QR codes point here)"),
        ("serial_prefix", "Serial prefix (capital letters or digits)"),
    )
    for key, question in questions:
        while key not in answers and key not in environment:
            answer = typer.prompt(question, default=str(DEFAULT_INSTITUTION[key])).strip()
            try:  # the one setting checked in the place of the default's
                institution_from({**DEFAULT_INSTITUTION, key: answer})
            except ConfigurationError as exc:
                err.print(f"{exc}; try again", style="red")
            else:
                answers[key] = answer
    if "signatories" not in answers and "signatories" not in environment:
        default = DEFAULT_INSTITUTION["signatories"][0]
        first = {
            "name": typer.prompt("Signatory's name (Persian)", default=default["name"]),
            "title": typer.prompt("Signatory's title (Persian)", default=default["title"]),
            "name_en": typer.prompt("Signatory's name (English)", default=default["name_en"]),
            "title_en": typer.prompt("Signatory's title (English)", default=default["title_en"]),
        }
        answers["signatories"] = [{k: v.strip() for k, v in first.items()}]
    return answers


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve the API and the verification pages (and the metrics on
    DIPLOMAS_METRICS_ADDRESS, with one worker)."""
    import uvicorn

    from ..api.serving import serve_metrics, uvicorn_options
    from ..bootstrap import build_app, settle_heap
    from ..logging_setup import configure_logging

    with errors_to_exit():
        settings = load_settings()
        # JSON lines on stderr; uvicorn's own logging setup and access line are replaced
        # by ours (which names the route template, status, duration and request id).
        configure_logging(settings.log_level)
        # Proxy headers only from DIPLOMAS_TRUSTED_PROXIES (`api.serving`).
        options = {**uvicorn_options(settings), "log_config": None, "access_log": False}
        if workers > 1:
            if settings.metrics_host_port() is not None:
                # Each process counts its own requests and only one can listen there.
                warning(
                    "metrics are served with --workers 1 only; DIPLOMAS_METRICS_ADDRESS is not used"
                )
            os.environ.setdefault("DIPLOMAS_HOME", str(settings.home))
            uvicorn.run(
                "diplomas.bootstrap:app_from_environment",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                **options,
            )
        else:
            served = build_app(settings)
            serve_metrics(served.state.metrics, settings)
            settle_heap()
            uvicorn.run(served, host=host, port=port, **options)


@app.command()
def issue(
    name: Annotated[str, typer.Option(help="Recipient's name in Persian.")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the signed PDF.")],
    name_en: Annotated[str | None, typer.Option(help="Recipient's name in Latin script.")] = None,
    award: Annotated[str | None, typer.Option(help="Award title in Persian.")] = None,
    award_en: Annotated[str | None, typer.Option(help="Award title in English.")] = None,
    citation: Annotated[str | None, typer.Option(help="The venture or innovation.")] = None,
    field: Annotated[str | None, typer.Option(help="Field of the award.")] = None,
    issued_on: Annotated[
        str | None, typer.Option(help="1405/09/05 or 2026-11-26; default today.")
    ] = None,
    email: Annotated[str | None, typer.Option(help="Recipient's email (private).")] = None,
    national_id: Annotated[str | None, typer.Option(help="National code (hashed).")] = None,
    external_id: Annotated[str | None, typer.Option(help="Your id; makes re-runs safe.")] = None,
    template: Annotated[str | None, typer.Option(help="Design under templates/.")] = None,
    co_issuer: Annotated[
        list[str] | None,
        typer.Option(
            "--co-issuer",
            help="Slug of an institution that awards it jointly (repeat for more); "
            "each adds its own record proof and PDF signature.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    user: ProposerUserOpt = None,
    password_stdin: PasswordStdinOpt = False,
) -> None:
    """Issue one diploma and write its signed PDF. Where the two-person rule applies, the
    diploma is proposed instead: its id is printed, and nothing is signed (nor written to
    --out) until an approver other than the proposer approves it."""
    from ..core.proposals import Actor, Proposal

    raw = {
        k: v
        for k, v in {
            "name": name,
            "name_en": name_en,
            "award": award,
            "award_en": award_en,
            "citation": citation,
            "field": field,
            "issued_on": issued_on,
            "email": email,
            "national_id": national_id,
            "external_id": external_id,
            "template": template,
            "co_issuers": co_issuer or None,
        }.items()
        if v is not None
    }
    # The file must be writable before a serial is spent: a diploma issued whose PDF then
    # has nowhere to go would be issued again by a user who retries.
    ready_to_write(out_file)
    with errors_to_exit():
        service = load_service()
    proposer = Actor(current_actor()) if user is None else sign_in(service, user, password_stdin)
    with errors_to_exit():
        try:
            outcome = service.submit_issue(raw, proposer)
        except ExternalIdTaken as exc:
            error(f"{exc}. It is {exc.serial}: diplomas correct {exc.serial} --set FIELD=VALUE")
            raise typer.Exit(EXIT_INVALID_INPUT) from None
    if isinstance(outcome, Proposal):
        print_proposed(outcome, service, as_json)
        return
    d = outcome.diploma
    try:
        write_output(out_file, outcome.pdf)
    except OSError as exc:
        error(
            f"issued {d.serial} (id {d.id}), but cannot write {out_file}: "
            f"{exc.strerror}. Run the same command with another --out; give --external-id "
            f"so that a retry returns this diploma instead of issuing another."
        )
        raise typer.Exit(EXIT_INVALID_INPUT) from None
    result = {
        "id": d.id,
        "serial": d.serial,
        "verify_url": d.verify_url,
        "file": str(out_file),
        "created": outcome.created,
    }
    if as_json:
        out.print_json(json.dumps(result, ensure_ascii=False))
    else:
        verb = "issued" if outcome.created else "already issued"
        out.print(f"{verb} {d.serial} → {out_file}", highlight=False)
        out.print(f"verify: {d.verify_url}", highlight=False)


def read_input(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        error(f"cannot read {path}: {exc.strerror}")
        raise typer.Exit(EXIT_INVALID_INPUT) from None


def ready_to_write(path: Path) -> None:
    """Exit with a plain message unless a file can be written at `path` (its folder is
    made if missing)."""
    if path.is_dir():
        error(f"{path} is a folder; give a file name, like {path / 'diploma.pdf'}")
        raise typer.Exit(EXIT_INVALID_INPUT)
    probe = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe.touch()
        probe.unlink()
    except OSError as exc:
        error(f"cannot write {path}: {exc.strerror}")
        raise typer.Exit(EXIT_INVALID_INPUT) from None


OUT_FILE_MODE = 0o644


def write_output(path: Path, data: bytes) -> None:
    """A file asked for on the command line: replaced atomically, readable as any file the
    user writes (the mode such a file had before there was one helper)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data, mode=OUT_FILE_MODE)


ReferenceArg = Annotated[
    str,
    typer.Argument(metavar="ID-OR-SERIAL", help="The diploma's id, or the serial printed on it."),
]


NoteOpt = Annotated[
    str, typer.Option(help="The office's private note (minutes, names): never published.")
]


def _published(code: str) -> str:
    from ..core.reasons import public_words

    fa, en = public_words(code)
    return f"{en} ({fa}), published" if en else "no reason published"


@app.command()
def revoke(
    diploma_id: ReferenceArg,
    reason: Annotated[
        str,
        typer.Option(
            help="The public reason: issued_in_error, false_information, misconduct, "
            "replaced, holder_request or other. Any other text is kept as the private note."
        ),
    ],
    note: NoteOpt = "",
) -> None:
    """Revoke a diploma; its page and every verifier then say so."""
    with errors_to_exit():
        service = load_service()
        found = service.find_reference(diploma_id)
        d = service.revoke(found.id, reason, note=note, actor=current_actor())
    out.print(f"revoked {d.serial}: {_published(d.revocation_reason)}", highlight=False)
    if d.revocation_note:
        out.print(f"private note: {d.revocation_note}", highlight=False)


@app.command()
def suspend(
    diploma_id: ReferenceArg,
    reason: Annotated[
        str,
        typer.Option(
            help="The public reason: under_review, disputed, holder_request or other. Any "
            "other text is kept as the private note."
        ),
    ],
    note: NoteOpt = "",
) -> None:
    """Suspend a diploma until `diplomas unsuspend`; a revoked one cannot be suspended."""
    with errors_to_exit():
        service = load_service()
        found = service.find_reference(diploma_id)
        d = service.suspend(found.id, reason, note=note, actor=current_actor())
    out.print(f"suspended {d.serial}: {_published(d.suspension_reason)}", highlight=False)
    if d.suspension_note:
        out.print(f"private note: {d.suspension_note}", highlight=False)


@app.command()
def unsuspend(
    diploma_id: ReferenceArg,
) -> None:
    """Lift a suspension: the diploma is genuine again (unless revoked, which is final)."""
    with errors_to_exit():
        service = load_service()
        d = service.unsuspend(service.find_reference(diploma_id).id, actor=current_actor())
    out.print(f"unsuspended {d.serial}", highlight=False)


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    from ..api.schemas import VerdictOut

    return VerdictOut.of(verdict).model_dump(mode="json")


def print_verdict(verdict: Verdict) -> None:
    colour = {
        "valid": "green",
        "revoked": "yellow",
        "suspended": "yellow",
        "superseded": "yellow",
    }.get(verdict.status.value, "red")
    out.print(verdict.status.value.upper(), style=f"bold {colour}")
    if verdict.superseded_at is not None:
        day = verdict.superseded_at.date().isoformat()
        out.print(
            f"superseded by a corrected version on {day}: this copy is not the current one",
            highlight=False,
        )
    if verdict.claims:
        c = verdict.claims
        out.print(f"{c.serial}  {c.name}  {c.name_en}  {c.issued_on.isoformat()}", highlight=False)
    # One block per signature rather than a table: signer names, key ids and file names
    # are long, and a table on an 80-column terminal cuts them.
    for s in verdict.signers:
        out.print(f"{s.kind} signature by {s.signer}", highlight=False)
        out.print(f"  result: {'ok' if s.ok else '; '.join(s.reasons)}", highlight=False)
        # A refused signature was only checked against what the source vouches for.
        label = "vouched for by" if s.ok else "checked against"
        out.print(f"  {label}: {s.vouched_by or 'nobody trusted here'}", highlight=False)
        if s.timestamped_at is not None:
            when = s.timestamped_at.isoformat(timespec="seconds")
            out.print(f"  timestamped: {when}, by a trusted timestamp authority", highlight=False)
    for reason in verdict.reasons:
        out.print(f"- {reason}", highlight=False)


@app.command()
def verify(
    pdf: Annotated[
        Path | None, typer.Argument(metavar="[FILE.pdf]", help="The diploma PDF.")
    ] = None,
    qr: Annotated[
        Path | None,
        typer.Option(
            "--qr",
            metavar="IMAGE",
            help="A photo or scan of the printed page instead of the PDF: checks the QR "
            "code's own signature, offline.",
        ),
    ] = None,
    trust: Annotated[
        list[Path] | None,
        typer.Option(
            help="Trust bundle from `diplomas keys export` (offline, no database); "
            "repeat it for each co-issuer of a jointly awarded diploma."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check a diploma PDF, or the QR code in a photo of one, without a server.
    Exit code 0 only when it is genuine (valid); 1 when it is not, superseded by a
    corrected version included."""
    from ..bootstrap import verify_offline

    if (pdf is None) == (qr is None):
        error("give either FILE.pdf or --qr IMAGE")
        raise typer.Exit(EXIT_INVALID_INPUT)
    quiet_pdf_libraries()
    if qr is not None:
        trust = trust or []
        verify_qr(read_input(qr), [read_input(t) for t in trust], [str(t) for t in trust], as_json)
        return
    assert pdf is not None
    data = read_input(pdf)
    with errors_to_exit():
        if trust:
            verdict = verify_offline(
                data, *(read_input(t) for t in trust), names=[str(t) for t in trust]
            )
        else:
            verdict = load_service().verify_pdf(data)
    if as_json:
        out.print_json(json.dumps(verdict_json(verdict), ensure_ascii=False))
    else:
        print_verdict(verdict)
    if verdict.status is not VerdictStatus.VALID:
        raise typer.Exit(EXIT_NOT_GENUINE)


def verify_qr(image: bytes, bundles: list[bytes], names: list[str], as_json: bool) -> None:
    """The QR code's offline verdict: what the issuer signed, for a person to compare
    with the printed page."""
    from ..bootstrap import bundles_superseded, offline_trust, verify_qr_photo
    from ..core.dates import format_solar_hijri_numeric
    from ..core.verification import superseded_qr

    with errors_to_exit():
        if bundles:
            keyring, vouchers = offline_trust(*bundles, names=names)
            superseded = bundles_superseded(*bundles, names=names)
        else:
            service = load_service()
            keyring, vouchers = service.keyring(), service.vouchers()
            superseded = service.superseded_records()
        checks = verify_qr_photo(image, keyring)
    note = "the revocation status is not known offline: open the link to check it"
    replaced = [superseded_qr(c, superseded) for c in checks]

    def status(genuine: bool, old: SupersededRecord | None) -> str:
        return "invalid" if not genuine else "superseded" if old is not None else "valid"

    def reasons(c: QrCheck, old: SupersededRecord | None) -> list[str]:
        if old is not None:
            day = old.superseded_at.date().isoformat()
            return [
                f"superseded by a corrected version on {day}: what this QR code says is "
                f"no longer what the diploma says; open the link for the current version"
            ]
        return list(c.reasons) or [note]

    results: list[dict[str, Any]] = [
        {
            "status": status(c.genuine, old),
            "reasons": reasons(c, old),
            "url": c.claims.verify_url if c.claims else None,
            "serial": c.claims.serial if c.claims else None,
            "name": c.claims.name if c.claims else None,
            "issued_on": c.claims.issued_on.isoformat() if c.claims else None,
            "signed_by": c.key.verification_method if c.key else None,
            "vouched_by": next(
                (vouchers[d] for d in (c.key.speaks_for if c.key else ()) if d in vouchers), None
            ),
        }
        for c, old in zip(checks, replaced, strict=True)
    ]
    if as_json:
        out.print_json(json.dumps(results[0] if len(results) == 1 else results, ensure_ascii=False))
    else:
        for result in results:
            colour = {"valid": "green", "superseded": "yellow"}.get(result["status"], "red")
            out.print(f"QR CODE {result['status'].upper()}", style=f"bold {colour}")
            if result["name"] is not None:
                when = date.fromisoformat(result["issued_on"])
                out.print(f"name:    {result['name']}", highlight=False)
                out.print(f"serial:  {result['serial']}", highlight=False)
                out.print(
                    f"date:    {format_solar_hijri_numeric(when)} ({when.isoformat()})",
                    highlight=False,
                )
                out.print(f"link:    {result['url']}", highlight=False)
            if result["signed_by"]:
                out.print(f"signed by {result['signed_by']}", highlight=False)
            if result["vouched_by"]:
                out.print(f"vouched for by {result['vouched_by']}", highlight=False)
            for reason in result["reasons"]:
                out.print(f"- {reason}", highlight=False)
    if not all(r["status"] == "valid" for r in results):
        raise typer.Exit(EXIT_NOT_GENUINE)


@token_app.command("create")
def token_create(
    scope: Annotated[
        str,
        typer.Option(help="Comma-separated: issue,revoke,read,approve (approve needs --user)."),
    ],
    name: Annotated[str, typer.Option(help="Who or what the token is for.")] = "",
    user: Annotated[
        str | None,
        typer.Option(metavar="EMAIL", help="The user it belongs to (then --name is required)."),
    ] = None,
    expires_in: Annotated[
        int | None,
        typer.Option(metavar="DAYS", min=1, help="It stops working after DAYS days."),
    ] = None,
) -> None:
    """Create an API token; it is printed once, alone on the last line."""
    with errors_to_exit():
        record, token = load_service().create_token(
            scope.split(","),
            name,
            user=user,
            expires_in=None if expires_in is None else timedelta(days=expires_in),
            actor=current_actor(),
        )
    owner = f" for {record.owner_email}" if record.owner_email else ""
    expiry = (
        f", expiring {record.expires_at.strftime('%Y-%m-%d %H:%M')} UTC"
        if record.expires_at
        else ""
    )
    err.print(
        f"token {record.token_id}{owner} with scopes {','.join(sorted(record.scopes))}{expiry}; "
        "store it now, it is not shown again:",
        highlight=False,
    )
    sys.stdout.write(token + "\n")


tokens_app.command("create")(token_create)
