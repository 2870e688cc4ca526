"""Proposals as the `proposals` table keeps them: JSON columns to and from the core's
dataclasses (`core.proposals`). The raw national id is never written: a diploma's
request and a correction keep its keyed hash, a batch's plan keeps none (the roster
holds it)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from ..core.corrections import FieldChange
from ..core.model import DiplomaRequest
from ..core.proposals import (
    Approval,
    BatchPlan,
    CorrectionRequest,
    Proposal,
    ProposalKind,
    ProposalState,
    Rejection,
)
from .tables import ProposalRow

_REQUEST_TEXT = (
    "name",
    "name_en",
    "award",
    "award_en",
    "citation",
    "field",
    "email",
    "external_id",
    "template",
)


def request_json(request: DiplomaRequest) -> dict[str, Any]:
    """The request's values, without its national id."""
    values: dict[str, Any] = {key: getattr(request, key) for key in _REQUEST_TEXT}
    values["issued_on"] = request.issued_on.isoformat()
    values["co_issuers"] = list(request.co_issuers)
    return values


def request_from(values: dict[str, Any]) -> DiplomaRequest:
    return DiplomaRequest(
        issued_on=date.fromisoformat(values["issued_on"]),
        co_issuers=tuple(values.get("co_issuers", ())),
        **{key: str(values.get(key, "")) for key in _REQUEST_TEXT},
    )


def _time(value: str | None) -> datetime | None:
    return None if not value else datetime.fromisoformat(value)


def payload_text(proposal: Proposal, hash_national_id: Callable[[str], str]) -> str:
    if proposal.batch is not None:
        plan = proposal.batch
        payload: dict[str, Any] = {
            "batch": {
                "batch_id": plan.batch_id,
                "source": plan.source,
                "roster_sha256": plan.roster_sha256,
                "template": plan.template,
                "skip_invalid": plan.skip_invalid,
                "total_rows": plan.total_rows,
                "refused_rows": plan.refused_rows,
                "requests": [request_json(r) for r in plan.requests],
            }
        }
    elif proposal.correction is not None:
        c = proposal.correction
        payload = {
            "correction": {
                "diploma_id": c.diploma_id,
                "serial": c.serial,
                "changes": dict(c.changes),
                "shown": [{"field": f.field, "old": f.old, "new": f.new} for f in c.shown],
                "base_sha256": c.base_sha256,
            },
            "national_id_hash": hash_national_id(c.national_id)
            if c.national_id
            else proposal.national_id_hash,
        }
    else:
        assert proposal.request is not None
        national = proposal.national_id_hash
        if proposal.request.national_id:
            national = hash_national_id(proposal.request.national_id)
        payload = {"request": request_json(proposal.request), "national_id_hash": national}
    return json.dumps(payload, ensure_ascii=False, sort_keys=True)


def approvals_text(proposal: Proposal) -> str:
    return json.dumps(
        [
            {
                "institution": a.institution,
                "user_id": a.user_id,
                "email": a.email,
                "actor": a.actor,
                "at": a.at.isoformat(),
                "comment": a.comment,
            }
            for a in proposal.approvals
        ],
        ensure_ascii=False,
    )


def rejection_text(proposal: Proposal) -> str:
    r = proposal.rejection
    if r is None:
        return ""
    return json.dumps(
        {
            "user_id": r.user_id,
            "email": r.email,
            "actor": r.actor,
            "at": r.at.isoformat(),
            "comment": r.comment,
        },
        ensure_ascii=False,
    )


def write_row(row: ProposalRow, proposal: Proposal, hash_national_id: Callable[[str], str]) -> None:
    """Set every column of `row` from `proposal`."""
    row.id = proposal.id
    row.kind = proposal.kind.value
    row.state = proposal.state.value
    row.institution = proposal.institution
    row.required = ",".join(proposal.required)
    row.payload = payload_text(proposal, hash_national_id)
    row.proposer = proposal.proposer[:128]
    row.proposer_id = proposal.proposer_id
    row.proposer_email = proposal.proposer_email
    row.approvals = approvals_text(proposal)
    row.rejection = rejection_text(proposal)
    row.created_at = proposal.created_at
    row.decided_at = proposal.decided_at
    row.diploma_id = proposal.diploma_id or None
    row.batch_id = proposal.batch_id or None


def proposal_of(row: ProposalRow) -> Proposal:
    payload = json.loads(row.payload)
    request = None
    plan = None
    correction = None
    if "correction" in payload:
        c = payload["correction"]
        correction = CorrectionRequest(
            diploma_id=c["diploma_id"],
            serial=c["serial"],
            changes={str(k): str(v) for k, v in c["changes"].items()},
            shown=tuple(FieldChange(f["field"], f["old"], f["new"]) for f in c["shown"]),
            base_sha256=c["base_sha256"],
        )
    elif "batch" in payload:
        b = payload["batch"]
        plan = BatchPlan(
            batch_id=b["batch_id"],
            source=b["source"],
            roster_sha256=b["roster_sha256"],
            template=b["template"],
            skip_invalid=bool(b["skip_invalid"]),
            total_rows=int(b["total_rows"]),
            requests=tuple(request_from(r) for r in b["requests"]),
            refused_rows=int(b.get("refused_rows", 0)),
        )
    else:
        request = request_from(payload["request"])
    rejection = None
    if row.rejection:
        r = json.loads(row.rejection)
        at = _time(r["at"])
        assert at is not None
        rejection = Rejection(r["user_id"], r["email"], r["actor"], at, r["comment"])
    approvals = []
    for a in json.loads(row.approvals):
        at = _time(a["at"])
        assert at is not None
        approvals.append(
            Approval(a["institution"], a["user_id"], a["email"], a["actor"], at, a["comment"])
        )
    return Proposal(
        id=row.id,
        kind=ProposalKind(row.kind),
        state=ProposalState(row.state),
        institution=row.institution,
        required=tuple(s for s in row.required.split(",") if s),
        proposer=row.proposer,
        proposer_id=row.proposer_id,
        proposer_email=row.proposer_email,
        created_at=row.created_at,
        request=request,
        national_id_hash=payload.get("national_id_hash", "") or "",
        batch=plan,
        correction=correction,
        approvals=tuple(approvals),
        rejection=rejection,
        decided_at=row.decided_at,
        diploma_id=row.diploma_id or "",
    )
