"""The mail merge export: the diplomas a search finds, with what a mail merge needs."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from ...accounts import SignedIn
from ...api.deps import AuthFirstRoute
from ...core.errors import Forbidden, InvalidInput
from ...core.users import Permission
from ...holders import MAIL_MERGE_FIELDS
from ...roster.report import safe_cell
from ..web import Need, Refused, service_of
from .diplomas import FILTERS, _query

router = APIRouter(include_in_schema=False, route_class=AuthFirstRoute)
Issuer = Annotated[SignedIn, Depends(Need(Permission.ISSUE))]


@router.get("/admin/diplomas/export.csv")
def mail_merge_csv(request: Request, signed: Issuer) -> Response:
    """Every diploma the list's search finds (not one page), one CSV line each, with the
    holder's private link: UTF-8 with a BOM so that spreadsheets show Persian, and cells
    made inert for spreadsheets (no formula runs from a name)."""
    values = {k: str(request.query_params.get(k, ""))[:200].strip() for k in FILTERS}
    try:
        query = _query(request, signed, values, 0)
        rows = service_of(request).holders.mail_merge(query)
        first = next(rows, None)  # the checks (who asks, the filters) run before any byte
    except Forbidden as exc:
        raise Refused(403, str(exc)) from None
    except InvalidInput as exc:
        raise Refused(422, str(exc)) from None

    def lines() -> Iterator[bytes]:
        yield _line(MAIL_MERGE_FIELDS, bom=True)
        if first is not None:
            yield _line([first[k] for k in MAIL_MERGE_FIELDS])
            for row in rows:
                yield _line([row[k] for k in MAIL_MERGE_FIELDS])

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="diplomas-mail-merge.csv"',
            "Cache-Control": "private, no-store",
        },
    )


def _line(cells: Sequence[str], *, bom: bool = False) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow([safe_cell(cell) for cell in cells])
    return out.getvalue().encode("utf-8-sig" if bom else "utf-8")
