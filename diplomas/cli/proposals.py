"""`diplomas proposals list|show|approve|reject` and `diplomas history`: the two-person rule
on the command line.

Approving and rejecting are a person's acts: `--user EMAIL` signs in with the user's
password (the first line of stdin with `--password-stdin`, else asked without echo in a
terminal; never an option). There is no approving as nobody: without a user, or with a
wrong password, nothing changes. The approval that completes a diploma proposal signs and
issues it (`--out` writes its PDF); one that completes a correction signs the diploma's new
version (`--out` writes its PDF); one that completes a batch runs it here, into the
batch's folder unless `--out` names another.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ..core.proposals import Actor, Proposal, ProposalKind, ProposalState
from .audit import current_actor
from .console import EXIT_INVALID_INPUT, err, error, errors_to_exit, load_service, out

if TYPE_CHECKING:
    from ..service import DiplomaService

proposals_app = typer.Typer(
    help="Proposals under the two-person rule: list, show, approve, reject.",
    no_args_is_help=True,
)

UserOption = Annotated[
    str,
    typer.Option(
        "--user",
        metavar="EMAIL",
        help="The approver who decides: they sign in with their password.",
    ),
]
PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
]
IdArg = Annotated[str, typer.Argument(metavar="ID", help="The proposal's id.")]


def read_sign_in_password(from_stdin: bool) -> str:
    """The user's password: stdin's first line, or asked once in a terminal, unechoed."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        error("no password: pipe it with --password-stdin, or run the command in a terminal")
        raise typer.Exit(EXIT_INVALID_INPUT)
    password: str = typer.prompt("Password", hide_input=True)
    return password


ProposerUserOpt = Annotated[
    str | None,
    typer.Option(
        "--user",
        metavar="EMAIL",
        help="Propose as this user (signed in with their password), where the "
        "two-person rule applies; else the proposer is this computer's login.",
    ),
]
PasswordStdinOpt = Annotated[
    bool,
    typer.Option("--password-stdin", help="With --user: read the password from stdin."),
]


def sign_in(service: DiplomaService, email: str, from_stdin: bool) -> Actor:
    """The person deciding, signed in; exits (nothing changed) when they cannot."""
    password = read_sign_in_password(from_stdin)
    with errors_to_exit():
        return service.sign_in(email, password, where=current_actor())


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def what(proposal: Proposal) -> str:
    """What the proposal will issue (or correct), in a few words."""
    if proposal.correction is not None:
        c = proposal.correction
        return f"correction of {c.serial} (id {c.diploma_id}): {', '.join(c.fields)}"
    if proposal.request is not None:
        r = proposal.request
        joint = f" with {', '.join(r.co_issuers)}" if r.co_issuers else ""
        return f"{r.name} {r.name_en}".strip() + f", {r.issued_on.isoformat()}{joint}"
    assert proposal.batch is not None
    b = proposal.batch
    return f"batch {b.batch_id}: {len(b.requests)} diplomas from {b.source}"


def proposal_json(p: Proposal, service: DiplomaService) -> dict[str, Any]:
    from ..api.schemas import ProposalOut

    return ProposalOut.of(p, service.institution.public_url).model_dump(mode="json")


def next_step(p: Proposal) -> str:
    """What happens next, in a sentence."""
    if p.state is ProposalState.PENDING:
        return (
            f"nothing is signed until an approver of {', '.join(p.missing)} other than the "
            f"proposer approves: diplomas proposals approve {p.id} --user EMAIL"
        )
    if p.state is ProposalState.ISSUED:
        if p.correction is not None:
            return f"corrected: diploma {p.correction.serial} (id {p.diploma_id}), same serial"
        return f"issued as diploma {p.diploma_id}"
    if p.state is ProposalState.REJECTED:
        assert p.rejection is not None
        return f"rejected by {p.rejection.email}: {p.rejection.comment}"
    if p.kind is ProposalKind.BATCH:
        return f"approved: batch {p.batch_id} is queued"
    if p.kind is ProposalKind.CORRECTION:
        return (
            f"approved; the correction was interrupted: diplomas proposals approve {p.id} "
            "retries it"
        )
    return f"approved; issuing was interrupted: diplomas proposals approve {p.id} retries it"


def change_lines(p: Proposal) -> list[str]:
    """A correction's fields, old → new (a national id by its last two digits)."""
    if p.correction is None:
        return []
    lines = [f"base record SHA-256: {p.correction.base_sha256}"]
    for change in p.correction.shown:
        old = change.old if change.field != "national_id" else "(stored hashed)"
        lines.append(f'  {change.field}: "{old}" → "{change.new}"')
    return lines


def print_proposed(p: Proposal, service: DiplomaService, as_json: bool = False) -> None:
    """A new proposal, as `issue` and `issue-batch` print it."""
    if as_json:
        out.print_json(json.dumps(proposal_json(p, service), ensure_ascii=False))
        return
    out.print(f"proposed {p.id}: {what(p)}", highlight=False)
    out.print(next_step(p), highlight=False)


@proposals_app.command("list")
def proposals_list(
    state: Annotated[
        str | None, typer.Option(help="pending, approved, issued or rejected.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Proposals, newest first."""
    with errors_to_exit():
        service = load_service()
        found = service.proposals(state)
    if as_json:
        data = [proposal_json(p, service) for p in found]
        out.print_json(json.dumps(data, ensure_ascii=False))
        return
    if not found:
        out.print("no proposals", highlight=False)
        return
    table = Table()
    table.add_column("id", no_wrap=True)
    table.add_column("state", no_wrap=True)
    for title in ("what", "proposer", "needs"):
        table.add_column(title, overflow="fold")
    table.add_column("proposed (UTC)")
    for p in found:
        table.add_row(
            p.id, p.state.value, what(p), p.proposer, ", ".join(p.missing), _when(p.created_at)
        )
    out.print(table)


@proposals_app.command("show")
def proposals_show(
    proposal_id: IdArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One proposal: what it will issue, who proposed it, the approvals given and needed."""
    with errors_to_exit():
        service = load_service()
        p = service.proposal(proposal_id)
    if as_json:
        out.print_json(json.dumps(proposal_json(p, service), ensure_ascii=False))
        return
    lines = [
        f"proposal {p.id} ({p.kind.value}): {p.state.value}",
        f"proposed by {p.proposer} at {_when(p.created_at)} UTC",
        f"will {'correct' if p.correction is not None else 'issue'}: {what(p)}",
        f"approvals needed: {', '.join(p.required)}",
        *change_lines(p),
    ]
    if p.batch is not None:
        lines.append(f"roster SHA-256: {p.batch.roster_sha256}")
        for r in p.batch.requests[:20]:
            lines.append(f"  {r.name} {r.name_en} {r.issued_on.isoformat()}".rstrip())
        if len(p.batch.requests) > 20:
            lines.append(f"  … and {len(p.batch.requests) - 20} more")
    for a in p.approvals:
        note = f": {a.comment}" if a.comment else ""
        lines.append(f"approved for {a.institution} by {a.email} at {_when(a.at)} UTC{note}")
    lines.append(next_step(p))
    for line in lines:
        out.print(line, highlight=False)


@proposals_app.command("approve")
def proposals_approve(
    proposal_id: IdArg,
    user: UserOption,
    password_stdin: PasswordStdin = False,
    comment: Annotated[str, typer.Option(help="A note kept with the approval.")] = "",
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Where to write the signed PDF once issued (a diploma), or the folder for "
            "the PDFs and manifest (a batch; default: the batch's own folder).",
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Worker processes for a batch (default: every core).")
    ] = os.cpu_count() or 1,
) -> None:
    """Approve a proposal for your institution; the last approval needed issues it."""
    with errors_to_exit():
        service = load_service()
        service.proposal(proposal_id)  # an unknown id is said before a password is asked
    approver = sign_in(service, user, password_stdin)
    with errors_to_exit():
        p = service.approve(proposal_id, approver, comment)
    if p.state is ProposalState.PENDING:
        out.print(
            f"approved {p.id} for {approver.user.institution if approver.user else ''}; "
            + next_step(p),
            highlight=False,
        )
        return
    if p.kind is ProposalKind.CORRECTION:
        with errors_to_exit():
            d = service.get(p.diploma_id)
            version = service.versions(d.id)[-1].version
            pdf = service.pdf(d.id) if out_path is not None else b""
        out.print(
            f"approved {p.id}: corrected {d.serial} (id {d.id}), now version {version}",
            highlight=False,
        )
        out.print(f"verify: {d.verify_url}", highlight=False)
        if out_path is not None:
            from .main import write_output

            write_output(out_path, pdf)
            out.print(f"PDF: {out_path}", highlight=False)
        return
    if p.kind is ProposalKind.DIPLOMA:
        with errors_to_exit():
            d = service.get(p.diploma_id)
            pdf = service.pdf(d.id) if out_path is not None else b""
        out.print(f"approved {p.id}: issued {d.serial}", highlight=False)
        out.print(f"verify: {d.verify_url}", highlight=False)
        if out_path is not None:
            from .main import write_output

            write_output(out_path, pdf)
            out.print(f"PDF: {out_path}", highlight=False)
        return
    out.print(f"approved {p.id}: running batch {p.batch_id}", highlight=False)
    run_approved_batch(service, p, out_path, workers)


def run_approved_batch(
    service: DiplomaService, p: Proposal, out_dir: Path | None, workers: int
) -> None:
    """Run an approved batch here, from the roster kept with it; its PDFs and manifest
    go to `out_dir` (by default the batch's folder under home)."""
    from ..batches import BatchOptions, roster_file
    from ..bootstrap import build_batches
    from .console import load_settings

    assert p.batch is not None
    settings = load_settings()
    kept = service.batches.roster(p.batch_id)
    if kept is None:
        error(f"the roster of batch {p.batch_id} is gone")
        raise typer.Exit(EXIT_INVALID_INPUT)
    options = BatchOptions(
        out_dir=out_dir or settings.home / "batches" / p.batch_id / "out",
        workers=workers,
        template=p.batch.template,
        skip_invalid=p.batch.skip_invalid,
    )
    with errors_to_exit(), roster_file(kept) as roster:
        batch = service.batch(p.batch_id)
        report = build_batches(service, settings).run(roster, options, batch=batch)
    b = report.batch
    out.print(
        f"batch {b.id}: {b.status.value}, {b.issued} issued, {b.skipped} already issued, "
        f"{b.refused} refused",
        highlight=False,
    )
    if report.manifest_csv:
        out.print(f"manifest: {report.manifest_csv}", highlight=False)
    if b.message:
        err.print(b.message, highlight=False)


@proposals_app.command("reject")
def proposals_reject(
    proposal_id: IdArg,
    user: UserOption,
    comment: Annotated[str, typer.Option(help="Why it is rejected (required).")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Reject a proposal, saying why; nothing of it is ever issued."""
    with errors_to_exit():
        service = load_service()
        service.proposal(proposal_id)
    approver = sign_in(service, user, password_stdin)
    with errors_to_exit():
        p = service.reject(proposal_id, approver, comment)
    out.print(f"rejected {p.id}: {comment.strip()}", highlight=False)


def history(
    reference: Annotated[
        str,
        typer.Argument(metavar="ID-OR-SERIAL", help="The diploma's id or the serial on it."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What happened to a diploma: proposed, approved, issued, revoked… with who and when."""
    with errors_to_exit():
        service = load_service()
        events = service.history(service.find_reference(reference).id)
    if as_json:
        data = [
            {"at": e.at.isoformat(), "what": e.what, "who": e.who, "note": e.note} for e in events
        ]
        out.print_json(json.dumps(data, ensure_ascii=False))
        return
    table = Table("when (UTC)", "what", "who", "note")
    for e in events:
        table.add_row(_when(e.at), e.what, e.who, e.note)
    out.print(table)
