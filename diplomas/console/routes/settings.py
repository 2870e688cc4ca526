"""Settings (admins): the institution's profile, its designs with previews, and its keys
(list, rotate, export the trust bundle, mark one compromised by typing its id)."""

from __future__ import annotations

import base64
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...accounts import SignedIn
from ...api.deps import AuthFirstRoute
from ...core.errors import DiplomaError
from ...core.sessions import console_actor
from ...core.users import Permission
from ...key_admin import KeyAdmin
from ...keys.record import current_entry, parse_since
from ...render.preview import first_page_png
from ...settings_file import check_settings, set_institution_setting
from ..web import Need, page, problems_of, service_of

router = APIRouter(include_in_schema=False, route_class=AuthFirstRoute)
Admin = Annotated[SignedIn, Depends(Need(Permission.ADMINISTER))]
SIGNATORY_SLOTS = 3
PREVIEW = {
    "name": "زهرا محمدی‌نژاد",
    "name_en": "Zahra Mohammadinejad",
    "citation": "بنیان‌گذار شرکت دانش‌بنیان",
    "field": "فناوری سلامت",
}


def _settings(request: Request) -> Any:
    return request.app.state.settings


def _profile(
    request: Request,
    *,
    problems: dict[str, str] | None = None,
    done: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    service = service_of(request)
    institution = service.institution
    signatories = list(institution.signatories) + [None] * SIGNATORY_SLOTS
    findings = check_settings(_settings(request))
    return page(
        request,
        "settings.html",
        {
            "i": institution,
            "signatories": signatories[:SIGNATORY_SLOTS],
            "findings": findings,
            "problems": problems or {},
            "done": done or [],
        },
        status_code=status_code,
    )


@router.get("/admin/settings")
def settings(request: Request, signed: Admin) -> Response:
    return _profile(request)


@router.post("/admin/settings")
async def save_settings(request: Request, signed: Admin) -> Response:
    form = await request.form()
    institution = service_of(request).institution
    wanted: dict[str, Any] = {
        key: str(form.get(key, "")).strip()
        for key in ("name", "name_en", "public_url", "serial_prefix")
    }
    signatories = []
    for n in range(SIGNATORY_SLOTS):
        person = {
            k: str(form.get(f"s{n}-{k}", "")).strip()
            for k in ("name", "title", "name_en", "title_en")
        }
        if any(person.values()):
            signatories.append({k: v for k, v in person.items() if v})
    wanted["signatories"] = signatories
    rule = str(form.get("two_person_rule", ""))
    if rule in ("true", "false"):
        wanted["two_person_rule"] = rule == "true"
    current: dict[str, Any] = {
        "two_person_rule": institution.two_person_rule,
        "name": institution.name,
        "name_en": institution.name_en,
        "public_url": institution.public_url,
        "serial_prefix": institution.serial_prefix,
        "signatories": [
            {k: v for k, v in s.__dict__.items() if v} for s in institution.signatories
        ],
    }
    logo = form.get("logo")
    actor = console_actor(signed.user.email)
    done: list[str] = []

    def apply() -> None:
        for key, value in wanted.items():
            if value != current[key]:
                done.extend(set_institution_setting(_settings(request), key, value, actor=actor))
        if isinstance(logo, UploadFile) and logo.filename:
            data = logo.file.read(5 * 1024 * 1024 + 1)
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / Path(logo.filename).name
                path.write_bytes(data)
                done.extend(
                    set_institution_setting(_settings(request), "logo", str(path), actor=actor)
                )

    try:
        await run_in_threadpool(apply)
    except DiplomaError as exc:
        return _profile(request, problems=problems_of(exc), done=done, status_code=422)
    return _profile(request, done=done or ["nothing changed"])


@router.get("/admin/settings/designs")
async def designs(request: Request, signed: Admin) -> Response:
    service = service_of(request)

    def previews() -> list[tuple[str, str]]:
        shown = []
        for name in service.design_names():
            try:
                png = first_page_png(service.page_preview({**PREVIEW, "template": name}), 600)
            except DiplomaError:
                shown.append((name, ""))
                continue
            shown.append((name, "data:image/png;base64," + base64.b64encode(png).decode()))
        return shown

    return page(request, "designs.html", {"designs": await run_in_threadpool(previews)})


def _keys(
    request: Request,
    *,
    problems: dict[str, str] | None = None,
    done: str = "",
    status_code: int = 200,
) -> Response:
    admin = KeyAdmin(_settings(request))
    entries = admin.entries()
    return page(
        request,
        "keys.html",
        {
            "entries": entries,
            "current": current_entry(entries),
            "problems": problems or {},
            "done": done,
        },
        status_code=status_code,
    )


@router.get("/admin/settings/keys")
async def keys(request: Request, signed: Admin) -> Response:
    return await run_in_threadpool(lambda: _keys(request))


@router.post("/admin/settings/keys/rotate")
async def rotate(request: Request, signed: Admin) -> Response:
    admin = KeyAdmin(_settings(request))
    actor = console_actor(signed.user.email)
    rotated = await run_in_threadpool(lambda: admin.rotate(datetime.now(UTC), actor=actor))
    return await run_in_threadpool(
        lambda: _keys(request, done=f"new key {rotated.new.key_id} signs from now on")
    )


@router.post("/admin/settings/keys/{key_id}/compromised")
async def compromised(
    request: Request,
    signed: Admin,
    key_id: str,
    since: Annotated[str, Form(max_length=64)] = "",
    confirm: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    admin = KeyAdmin(_settings(request))
    actor = console_actor(signed.user.email)

    def mark() -> str:
        now = datetime.now(UTC)
        given = since.strip()
        # The form's datetime-local field has no zone: the page says the time is UTC.
        if given and given[-1] not in "Zz" and "+" not in given[10:]:
            given += "Z"
        moment = parse_since(given, now)
        entry = admin.mark_compromised(key_id, moment, now, actor=actor, typed=confirm)
        return f"key {entry.key_id} is compromised since {entry.compromised_since}"

    try:
        done = await run_in_threadpool(mark)
    except DiplomaError as exc:
        problems = problems_of(exc)
        return await run_in_threadpool(lambda: _keys(request, problems=problems, status_code=422))
    return await run_in_threadpool(lambda: _keys(request, done=done))


@router.get("/admin/settings/keys/trust.json")
async def trust_bundle(request: Request, signed: Admin) -> Response:
    bundle = await run_in_threadpool(KeyAdmin(_settings(request)).export_bundle)
    return Response(
        json.dumps(bundle, indent=2).encode() + b"\n",
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="trust.json"'},
    )
