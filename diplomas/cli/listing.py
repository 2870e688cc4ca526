"""`diplomas list` (search what was issued) and `diplomas show` (one diploma in full)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from ..core.dates import format_solar_hijri_numeric
from ..core.errors import FieldProblem, InvalidInput
from ..core.model import Diploma, DiplomaStatus
from ..core.reasons import public_words
from ..core.search import DEFAULT_LIMIT, MAX_LIMIT, DiplomaQuery, SearchResult, SortOrder
from .console import errors_to_exit, load_service, out

# The core's field names as this command's options, for its error messages.
OPTION_OF_FIELD = {
    "text": "QUERY",
    "status": "--status",
    "issued_from": "--from",
    "issued_to": "--to",
    "batch_id": "--batch",
    "template": "--template",
    "co_issuer": "--co-issuer",
    "sort": "--sort",
    "offset": "--offset",
    "limit": "--limit",
}
DATE_HELP = "1405/09/05 or 2026-11-26 (any digits), inclusive"


def _moment(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def diploma_json(d: Diploma) -> dict[str, Any]:
    """A diploma as `--json` prints it: everything stored except the signed record."""
    r = d.request
    return {
        "id": d.id,
        "serial": d.serial,
        "institution": d.institution.slug,
        "co_issuers": [i.slug for i in d.co_issuers],
        "name": r.name,
        "name_en": r.name_en,
        "award": r.award,
        "award_en": r.award_en,
        "citation": r.citation,
        "field": r.field,
        "issued_on": r.issued_on.isoformat(),
        "issued_on_solar_hijri": format_solar_hijri_numeric(r.issued_on),
        "issued_at": d.issued_at.isoformat(),
        "status": d.status.value,
        "revoked_at": None if d.revoked_at is None else d.revoked_at.isoformat(),
        "revocation_reason": d.revocation_reason,
        "revocation_note": d.revocation_note,
        "suspended_at": None if d.suspended_at is None else d.suspended_at.isoformat(),
        "suspension_reason": d.suspension_reason,
        "suspension_note": d.suspension_note,
        "template": r.template,
        "batch_id": d.batch_id,
        "external_id": r.external_id,
        "email": r.email,
        "key_id": d.key_id,
        "pdf_sha256": d.pdf_sha256,
        "verify_url": d.verify_url,
    }


def _why(code: str, note: str) -> str:
    """The published reason, then the private note (marked so)."""
    fa, en = public_words(code)
    shown = f"{en} ({fa})" if en else "no reason"
    return f"{shown}; private note: {note}" if note else shown


def _status_line(d: Diploma) -> str:
    if d.status is DiplomaStatus.REVOKED:
        return f"revoked {_moment(d.revoked_at)}: {_why(d.revocation_reason, d.revocation_note)}"
    if d.status is DiplomaStatus.SUSPENDED:
        why = _why(d.suspension_reason, d.suspension_note)
        return f"suspended since {_moment(d.suspended_at)}: {why}"
    return "issued (valid)"


def list_diplomas(
    query: Annotated[
        str,
        typer.Argument(
            metavar="QUERY",
            help="Part of a name (Persian or English), serial, external id or email; "
            "spaces, ZWNJ, case, Arabic or Persian letters and digits do not matter. A whole "
            "national id finds its diploma.",
            show_default=False,
        ),
    ] = "",
    status: Annotated[
        str | None, typer.Option(help="issued, revoked or suspended.", show_default=False)
    ] = None,
    issued_from: Annotated[
        str | None,
        typer.Option("--from", metavar="DATE", help=f"Issued on or after: {DATE_HELP}."),
    ] = None,
    issued_to: Annotated[
        str | None,
        typer.Option("--to", metavar="DATE", help=f"Issued on or before: {DATE_HELP}."),
    ] = None,
    batch: Annotated[
        str | None, typer.Option(metavar="ID", help="Only this bulk issuance's diplomas.")
    ] = None,
    template: Annotated[str | None, typer.Option(help="Only this design's diplomas.")] = None,
    co_issuer: Annotated[
        str | None,
        typer.Option("--co-issuer", metavar="SLUG", help="Only those this institution co-issued."),
    ] = None,
    sort: Annotated[
        str, typer.Option(help=", ".join(s.value for s in SortOrder) + ".")
    ] = SortOrder.NEWEST.value,
    limit: Annotated[int, typer.Option(help=f"How many to show (1 to {MAX_LIMIT}).")] = (
        DEFAULT_LIMIT
    ),
    offset: Annotated[int, typer.Option(help="How many to skip (the next page).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search issued diplomas: serial, name, English name, issued on (Solar Hijri), status."""
    with errors_to_exit():
        try:
            parsed = DiplomaQuery.parse(
                text=query,
                status=status,
                issued_from=issued_from,
                issued_to=issued_to,
                batch_id=batch,
                template=template,
                co_issuer=co_issuer,
                sort=sort,
                offset=offset,
                limit=limit,
            )
        except InvalidInput as exc:
            raise InvalidInput(
                [
                    FieldProblem(OPTION_OF_FIELD.get(p.field, p.field), p.message)
                    for p in exc.problems
                ]
            ) from None
        found = load_service().search(parsed)
    if as_json:
        page = {
            "items": [diploma_json(d) for d in found.items],
            "total": found.total,
            "total_is_exact": found.total_is_exact,
            "offset": parsed.offset,
            "limit": parsed.limit,
        }
        out.print_json(json.dumps(page, ensure_ascii=False))
        return
    print_page(found)


def print_page(found: SearchResult) -> None:
    query = found.query
    if not found.items:
        where = f" (of {found.total_text})" if found.total else ""
        out.print(f"no diplomas match{where}", highlight=False)
        return
    table = Table()
    table.add_column("serial", no_wrap=True)
    table.add_column("name", overflow="fold", ratio=1)
    table.add_column("English name", overflow="fold", ratio=1)
    table.add_column("issued on", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for d in found.items:
        table.add_row(
            d.serial,
            d.request.name,
            d.request.name_en,
            format_solar_hijri_numeric(d.request.issued_on),
            d.status.value,
        )
    out.print(table)
    first, last = query.offset + 1, query.offset + len(found.items)
    line = f"{first}-{last} of {found.total_text}"
    if last < found.total or not found.total_is_exact:
        line += f"; next: --offset {last}"
    out.print(line, highlight=False)


def show(
    reference: Annotated[
        str,
        typer.Argument(
            metavar="ID-OR-SERIAL", help="The diploma's id, or the serial printed on it."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Everything stored about one diploma (the national id is kept only as a keyed hash)."""
    from .mail import mail_json, mail_line

    with errors_to_exit():
        service = load_service()
        d = service.find_reference(reference)
        mail = service.mail_state(d.id)
    if as_json:
        shown = {**diploma_json(d), "mail": mail_json(mail)}
        out.print_json(json.dumps(shown, ensure_ascii=False))
        return
    r = d.request
    rows: list[tuple[str, str]] = [
        ("serial", d.serial),
        ("id", d.id),
        ("name", r.name),
        ("English name", r.name_en),
        ("award", r.award),
        ("award (English)", r.award_en),
        ("citation", r.citation),
        ("field", r.field),
        (
            "issued on",
            f"{format_solar_hijri_numeric(r.issued_on)} ({r.issued_on.isoformat()})",
        ),
        ("issued at", _moment(d.issued_at)),
        ("status", _status_line(d)),
        ("issuer", f"{d.institution.slug} ({d.institution.name_en or d.institution.name})"),
        (
            "co-issuers",
            ", ".join(f"{i.slug} ({i.name_en or i.name})" for i in d.co_issuers) or "none",
        ),
        ("template", r.template),
        ("batch", d.batch_id or "none (issued on its own)"),
        ("external id", r.external_id),
        ("email", r.email),
        ("mail", mail_line(mail)),
        ("record key", d.key_id),
        ("PDF SHA-256", d.pdf_sha256),
        ("verify", d.verify_url),
    ]
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True, style="bold")
    table.add_column(overflow="fold")
    for label, value in rows:
        table.add_row(label, value)
    out.print(table)
