"""`diplomas correct`: a new version of an issued diploma, shown and confirmed first."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..core.errors import FieldProblem, InvalidInput
from .audit import current_actor
from .console import EXIT_INVALID_INPUT, err, error, errors_to_exit, load_service, out, say
from .proposals import PasswordStdinOpt, ProposerUserOpt


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def parse_sets(items: list[str]) -> dict[str, str]:
    """`field=value` pairs (the value may hold `=`, and may be empty to clear an optional
    field); InvalidInput for an item without `=` or a field given twice."""
    changes: dict[str, str] = {}
    problems = []
    for item in items:
        field, sep, value = item.partition("=")
        field = field.strip()
        if not sep or not field:
            problems.append(FieldProblem("set", f"{item!r} is not FIELD=VALUE"))
        elif field in changes:
            problems.append(FieldProblem(field, "is given twice"))
        else:
            changes[field] = value.strip()
    if problems:
        raise InvalidInput(problems)
    return changes


def correct(
    reference: Annotated[
        str,
        typer.Argument(
            metavar="ID-OR-SERIAL", help="The diploma's id, or the serial printed on it."
        ),
    ],
    sets: Annotated[
        list[str],
        typer.Option(
            "--set",
            metavar="FIELD=VALUE",
            help="A field to change and its new value (repeat for more): name, name_en, "
            "award, award_en, citation, field, issued_on, template, email, national_id.",
        ),
    ],
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask for confirmation (for scripts).")
    ] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write the new signed PDF here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    user: ProposerUserOpt = None,
    password_stdin: PasswordStdinOpt = False,
) -> None:
    """Correct an issued diploma: a new version under the same id, serial and QR link,
    signed and printed again. The copies handed out before then verify as superseded.
    Shows what changes and asks before it signs, unless --yes.

    Where the two-person rule applies, the correction is proposed instead: its id is
    printed, and nothing is signed or changed until an approver other than the proposer
    approves it (`diplomas proposals approve ID --user EMAIL`)."""
    from ..core.proposals import Actor
    from .main import ready_to_write, write_output
    from .proposals import next_step, proposal_json, sign_in

    if out_file is not None:
        ready_to_write(out_file)
    with errors_to_exit():
        changes = parse_sets(sets)
        service = load_service()
        plan = service.check_correction(reference, changes)
    proposer = Actor(current_actor()) if user is None else sign_in(service, user, password_stdin)
    d = plan.diploma
    required = service.required_approvals(plan.co_issuers)
    shown = err if as_json else out  # with --json, stdout holds the JSON alone
    shown.print(f"correcting {d.serial} (id {d.id}):", highlight=False)
    for change in plan.changes:
        old = change.old if change.field != "national_id" else "(stored hashed)"
        shown.print(f'  {change.field}: "{old}" → "{change.new}"', highlight=False)
    if plan.signs:
        shown.print(
            "a new version of the record is signed; copies handed out before verify as "
            "superseded from now on",
            highlight=False,
        )
    elif plan.prints:
        shown.print("the PDF is printed and signed again; the record stays", highlight=False)
    else:
        shown.print("private fields only: nothing is signed again", highlight=False)
    if required:
        shown.print(
            f"the two-person rule applies to {', '.join(required)}: the correction is "
            "proposed, and applied when approved",
            highlight=False,
        )
    if not yes:
        if not stdin_is_terminal():
            error("not corrected: confirm in a terminal, or give --yes to correct without asking")
            raise typer.Exit(EXIT_INVALID_INPUT)
        if not typer.confirm("Propose it?" if required else "Correct it?", default=False):
            error("not corrected")
            raise typer.Exit(EXIT_INVALID_INPUT)
    if required:
        with errors_to_exit():
            proposal = service.propose_correction(d.id, changes, proposer)
        if as_json:
            out.print_json(json.dumps(proposal_json(proposal, service), ensure_ascii=False))
            return
        out.print(f"proposed {proposal.id}: correction of {d.serial}", highlight=False)
        out.print(next_step(proposal), highlight=False)
        return
    with errors_to_exit():
        outcome = service.apply_correction(plan, actor=proposer.label)
    c = outcome.diploma
    if out_file is not None and outcome.pdf is not None:
        write_output(out_file, outcome.pdf)
    if as_json:
        result = {
            "id": c.id,
            "serial": c.serial,
            "version": outcome.version,
            "fields": list(plan.fields),
            "verify_url": c.verify_url,
            "file": str(out_file) if out_file is not None and outcome.pdf is not None else None,
        }
        out.print_json(json.dumps(result, ensure_ascii=False))
        return
    say(out, "corrected", "green", f"{c.serial}, now version {outcome.version}")
    out.print(f"verify: {c.verify_url}", highlight=False)
    if out_file is not None and outcome.pdf is not None:
        out.print(f"new PDF → {out_file}", highlight=False)
