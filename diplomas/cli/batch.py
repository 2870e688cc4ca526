"""`diplomas issue-batch`: a roster in, signed PDFs and a manifest out, with progress."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ..core.batch import BatchStatus
from ..core.model import DEFAULT_TEMPLATE
from .console import err, error, errors_to_exit, load_settings
from .console import out as console
from .proposals import PasswordStdinOpt, ProposerUserOpt

EXIT_REFUSED = 2
SHOWN_PROBLEMS = 25


class RateColumn(TextColumn):
    def __init__(self) -> None:
        super().__init__("{task.fields[rate]}")


class RichProgress:
    """A batch's progress, as a Rich bar with count, rate and time left."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def phase(self, name: str, total: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, visible=True)
            self.progress.stop_task(self.task)
        self.task = self.progress.add_task(name, total=total, rate="")

    def advance(self, count: int) -> None:
        assert self.task is not None
        self.progress.advance(self.task, count)
        task = self.progress.tasks[self.task]
        speed = task.finished_speed or task.speed
        self.progress.update(self.task, rate=f"{speed:,.0f}/s" if speed else "")


def issue_batch(
    roster: Annotated[Path, typer.Argument(help="CSV or XLSX roster (see README: columns).")],
    out: Annotated[Path, typer.Option(help="Folder for the PDFs, manifest and errors.")],
    workers: Annotated[
        int, typer.Option(help="Worker processes (default: every core).")
    ] = os.cpu_count() or 1,
    template: Annotated[str, typer.Option(help="Design under templates/.")] = DEFAULT_TEMPLATE,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and render one sample page only.")
    ] = False,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Issue the valid rows despite invalid ones.")
    ] = False,
    encoding: Annotated[
        str | None, typer.Option(help="Roster text encoding (default: detected).")
    ] = None,
    archive: Annotated[bool, typer.Option("--zip", help="Also write diplomas.zip.")] = False,
    user: ProposerUserOpt = None,
    password_stdin: PasswordStdinOpt = False,
) -> None:
    """Issue a diploma for every roster row, exactly once, on every core. Where the
    two-person rule applies, the roster is validated and proposed instead: its id is
    printed, and it runs once approved (`diplomas proposals approve`)."""
    from ..batches import BatchOptions
    from ..bootstrap import build_batches, build_service
    from ..core.proposals import Actor
    from .audit import current_actor
    from .proposals import print_proposed, sign_in

    if not roster.is_file():
        error(f"{roster} is not a file")
        raise typer.Exit(EXIT_REFUSED)
    options = BatchOptions(
        out_dir=out,
        workers=workers,
        template=template,
        dry_run=dry_run,
        skip_invalid=skip_invalid,
        encoding=encoding,
        archive=archive,
    )
    columns = (
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    )
    settings = load_settings()
    with errors_to_exit():
        service = build_service(settings)
        runner = build_batches(service, settings)
        if service.rule_anywhere and not dry_run:
            proposer = (
                Actor(current_actor()) if user is None else sign_in(service, user, password_stdin)
            )
            proposal = runner.propose(roster, options, proposer)
            if proposal is not None:
                print_proposed(proposal, service)
                return
        with Progress(*columns, console=err, transient=False) as bar:
            report = runner.run(roster, options, RichProgress(bar))
    batch = report.batch

    if batch.problems:
        table = Table("row", "column", "value", "problem", title="Roster problems")
        for p in batch.problems[:SHOWN_PROBLEMS]:
            table.add_row(str(p.row or ""), p.column or p.field, p.value, p.message)
        console.print(table)
        more = len(batch.problems) - SHOWN_PROBLEMS
        if more > 0:
            console.print(f"… and {more} more", highlight=False)
        if report.errors_csv:
            console.print(f"every problem is listed in {report.errors_csv}", highlight=False)

    summary = Table(show_header=False, box=None)
    summary.add_row("rows", str(batch.total_rows))
    summary.add_row("issued", str(batch.issued))
    summary.add_row("skipped (already issued)", str(batch.skipped))
    summary.add_row("refused (invalid rows)", str(batch.refused))
    summary.add_row("time", f"{report.seconds:.1f} s")
    summary.add_row("rate", f"{report.rate:.1f} diplomas/s")
    if report.manifest_csv:
        summary.add_row("manifest", f"{report.manifest_csv}, {report.manifest_json}")
    if report.archive:
        summary.add_row("archive", str(report.archive))
    if report.sample:
        summary.add_row("sample page", str(report.sample))
    console.print(summary)
    if batch.message:
        console.print(batch.message, highlight=False)
    if batch.status is BatchStatus.REFUSED:
        raise typer.Exit(EXIT_REFUSED)
