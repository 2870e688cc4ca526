"""The audit log: filtered by who, what, when and subject; CSV export; the chain's check."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...accounts import SignedIn
from ...api.deps import AuthFirstRoute
from ...core.audit import AuditAction, AuditEntry
from ...core.users import Permission
from ..web import Need, Refused, page, service_of

router = APIRouter(include_in_schema=False, route_class=AuthFirstRoute)
Reader = Annotated[SignedIn, Depends(Need(Permission.READ))]
PAGE_SIZE = 100
EXPORT_LIMIT = 10_000


def _day(text: str, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Refused(422, "Please check the form") from None


def _entries(
    request: Request,
    who: str,
    what: str,
    subject: str,
    since: str,
    until: str,
    offset: int,
    limit: int,
) -> list[AuditEntry]:
    start = _day(since, "since")
    end = _day(until, "until")
    return service_of(request).audit_trail(
        actor=who[:200],
        action=what if what in {a.value for a in AuditAction} else "",
        subject=subject[:128].strip(),
        since=datetime.combine(start, time(), UTC) if start else None,
        until=datetime.combine(end, time(), UTC) + timedelta(days=1) if end else None,
        offset=max(0, offset),
        limit=limit,
    )


@router.get("/admin/audit")
async def audit(
    request: Request,
    signed: Reader,
    who: str = "",
    what: str = "",
    subject: str = "",
    since: str = "",
    until: str = "",
    offset: int = 0,
) -> Response:
    entries = _entries(request, who, what, subject, since, until, offset, PAGE_SIZE + 1)
    chain = await run_in_threadpool(service_of(request).audit_check)
    return page(
        request,
        "audit.html",
        {
            "history": entries[:PAGE_SIZE],
            "more": len(entries) > PAGE_SIZE,
            "chain": chain,
            "actions": [a.value for a in AuditAction],
            "f": {"who": who, "what": what, "subject": subject, "since": since, "until": until},
            "offset": max(0, offset),
            "size": PAGE_SIZE,
        },
    )


@router.get("/admin/audit.csv")
def audit_csv(
    request: Request,
    signed: Reader,
    who: str = "",
    what: str = "",
    subject: str = "",
    since: str = "",
    until: str = "",
) -> Response:
    entries = _entries(request, who, what, subject, since, until, 0, EXPORT_LIMIT)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["seq", "at", "actor", "action", "subject", "details"])
    for e in entries:
        details = json.dumps(dict(e.details), ensure_ascii=False, sort_keys=True)
        writer.writerow([e.seq, e.at.isoformat(), e.actor, e.action, e.subject, details])
    return Response(
        out.getvalue().encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
