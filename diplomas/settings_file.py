"""Reading, checking and changing the institution settings as an office or its IT does.

    check_settings(settings)          every problem of the file and the environment, in
                                      plain words, each marked error or warning
    set_institution_setting(...)      change one setting in the file, checked first, with
                                      an audit entry (a public URL change is also a move,
                                      `bootstrap.settle_identity`)
    effective_settings(settings)      what is in effect and where each value comes from

`diplomas settings check|set|show` are thin shells over these.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .atomic import write_atomic
from .bootstrap import (
    keys_dir_for,
    load_institutions,
    record_audit_event,
    settle_identity,
    timestamping_for,
)
from .config import (
    DEFAULT_INSTITUTION,
    INSTITUTION_KEYS,
    Settings,
    configured_institutions,
    is_loopback_url,
    read_institution_entries,
    write_institutions,
)
from .core.audit import SYSTEM_ACTOR, AuditAction
from .core.errors import ConfigurationError, NotFound
from .core.proposals import rule_applies, rule_source
from .keys.identity import read_identity

SETTABLE = (
    "name",
    "name_en",
    "public_url",
    "serial_prefix",
    "signatories",
    "logo",
    "two_person_rule",
    "mail_pdf",
)
"""What `set_institution_setting` changes (the slug names the key store: never)."""

ENVIRONMENT = {
    "public_url": "DIPLOMAS_PUBLIC_URL",
    "name": "DIPLOMAS_INSTITUTION_NAME",
    "name_en": "DIPLOMAS_INSTITUTION_NAME_EN",
    "serial_prefix": "DIPLOMAS_SERIAL_PREFIX",
    "signatories": "DIPLOMAS_SIGNATORIES",
    "logo": "DIPLOMAS_LOGO",
}
LOGO_FORMATS = {"PNG": ".png", "JPEG": ".jpg"}
LOGO_FILE_MODE = 0o644  # a logo is public: drawn on every page
MAX_LOGO_BYTES = 5 * 1024 * 1024
MIN_LOGO_PIXELS = 64
"""The issuer's settings that the environment may give (and then they win)."""


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    message: str


def check_settings(settings: Settings) -> list[Finding]:
    """What is wrong with the settings as they would be loaded now: errors stop the
    instance from starting, warnings are worth fixing before issuing for real."""
    path = settings.institution_file
    try:
        entries = read_institution_entries(path)
        institutions = configured_institutions(settings)
    except ConfigurationError as exc:
        return [Finding("error", str(exc))]
    findings: list[Finding] = []
    issuer = institutions[0]
    live = settings.environment == "production"
    if is_loopback_url(issuer.public_url):
        still = "still " if issuer.public_url == DEFAULT_INSTITUTION["public_url"] else ""
        findings.append(
            Finding(
                "error" if live else "warning",
                f"public_url is {still}{issuer.public_url}, which only this computer reaches: "
                "QR codes would point there. Set the address employers reach "
                "(`diplomas settings set public_url https://…` or DIPLOMAS_PUBLIC_URL)",
            )
        )
    for institution in institutions:
        if institution.public_url.startswith("http://") and not is_loopback_url(
            institution.public_url
        ):
            findings.append(
                Finding(
                    "warning",
                    f"{institution.slug}: public_url {institution.public_url} is not https: "
                    "phones will warn that the verification page is not secure",
                )
            )
        if institution.logo and not Path(institution.logo).is_file():
            findings.append(
                Finding(
                    "error",
                    f"{institution.slug}: the logo {institution.logo} is missing; set it "
                    "again with `diplomas settings set logo FILE`",
                )
            )
        if not institution.signatories:
            findings.append(
                Finding(
                    "warning",
                    f"{institution.slug}: no signatories; diplomas would carry no name "
                    "under the signature line",
                )
            )
    for institution in institutions:
        if live and not rule_applies(institution, production=True):
            findings.append(
                Finding(
                    "warning",
                    f"{institution.slug}: two_person_rule = false in production: one person "
                    "alone issues its diplomas, nobody approves them",
                )
            )
    for key, value in settings.institution_overrides().items():
        in_file = entries[0].get(key)
        if in_file is not None and in_file != value:
            findings.append(
                Finding(
                    "warning",
                    f"{ENVIRONMENT[key]} is set and wins over {key} in {path}",
                )
            )
    for index, entry in enumerate(entries[1:], start=1):
        own = str(entry.get("public_url", ""))
        if own and "/i/" in own and not own.startswith(issuer.public_url + "/"):
            findings.append(
                Finding(
                    "warning",
                    f"{institutions[index].slug}: public_url {own} is a page of another site "
                    f"than the issuer's ({issuer.public_url}); remove it from {path} to "
                    f"publish this institution on the issuer's site",
                )
            )
    try:
        load_institutions(settings, record=False, loopback_in_production=True)
    except ConfigurationError as exc:
        findings.append(Finding("error", str(exc)))
    try:  # the timestamp authority ([signing] or DIPLOMAS_TIMESTAMP_*): issuing needs it whole
        timestamping_for(settings)
    except ConfigurationError as exc:
        findings.append(Finding("error", str(exc)))
    for institution in institutions:
        identity = read_identity(keys_dir_for(settings, institutions, institution.slug))
        if identity is not None and identity.current.did != institution.did:
            findings.append(
                Finding(
                    "warning",
                    f"{institution.slug}: public_url is now {institution.public_url}, the key "
                    f"store has {identity.current.public_url}: the next command that issues "
                    "or serves records the move (diplomas issued before keep verifying)",
                )
            )
    for institution in institutions:
        store = keys_dir_for(settings, institutions, institution.slug)
        if not (store / "record-keys.json").is_file():
            findings.append(
                Finding(
                    "error",
                    f"{institution.slug}: no keys in {store}; run `diplomas init`",
                )
            )
    findings.extend(_mail_findings(settings))
    return findings


def _mail_findings(settings: Settings) -> list[Finding]:
    """Whether mail to holders can go: messages are queued either way."""
    from .mail.smtp import smtp_server

    if settings.smtp_url is None:
        return [
            Finding(
                "warning",
                "mail is not set up (DIPLOMAS_SMTP_URL): holders are not sent their diplomas; "
                "messages wait in the outbox until it is set",
            )
        ]
    try:
        server = smtp_server(
            settings.smtp_url.get_secret_value(), settings.smtp_user, settings.smtp_password
        )
    except ConfigurationError as exc:
        return [Finding("error", str(exc))]
    found = []
    if not settings.smtp_from:
        found.append(
            Finding(
                "warning",
                "DIPLOMAS_SMTP_FROM is not set: mail goes from no-reply at the public "
                "address's host, which the mail server may refuse",
            )
        )
    if server.user and server.password is None:
        found.append(
            Finding(
                "error", f"{server.shown} names a user but no password (DIPLOMAS_SMTP_PASSWORD)"
            )
        )
    return found


def approval_rules(settings: Settings) -> list[str]:
    """One line per institution: whether its diplomas wait for an approver (the two-person
    rule), and why (its setting, or the environment's default)."""
    production = settings.environment == "production"
    return [
        f"{i.slug}: two-person rule {rule_source(i, production)}"
        for i in configured_institutions(settings)
    ]


TRUE_WORDS = {"true": True, "on": True, "yes": True, "false": False, "off": False, "no": False}


def parse_value(key: str, text: str) -> Any:
    """A setting's value as typed on a command line: signatories as JSON, two_person_rule
    as true or false, others as text."""
    if key not in SETTABLE:
        raise ConfigurationError(
            f"{key!r} cannot be set; the settings are {', '.join(SETTABLE)}"
            + (" (the slug names the key store and stays)" if key == "slug" else "")
        )
    if key == "two_person_rule":
        word = text.strip().lower()
        if word not in TRUE_WORDS:
            raise ConfigurationError("two_person_rule must be true or false")
        return TRUE_WORDS[word]
    if key == "mail_pdf":
        word = text.strip().lower()
        if word not in ("attach", "link"):
            raise ConfigurationError('mail_pdf must be "attach" or "link"')
        return word
    if key != "signatories":
        return text.strip()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            'signatories must be JSON: [{"name": "…", "title": "…", "name_en": "…", '
            f'"title_en": "…"}}] ({exc.msg})'
        ) from None
    return value


def set_institution_setting(
    settings: Settings, key: str, value: Any, *, slug: str = "", actor: str = SYSTEM_ACTOR
) -> list[str]:
    """Change `key` of institution `slug` (default: the issuer) in the settings file.

    The whole file is checked with the new value before it is written; a changed public
    URL is then taken as a move (recorded once, see `bootstrap.settle_identity`). Returns
    the lines to show the admin."""
    if key not in SETTABLE:
        raise ConfigurationError(f"{key!r} cannot be set; the settings are {', '.join(SETTABLE)}")
    path = settings.institution_file
    entries = read_institution_entries(path)
    index = next((i for i, e in enumerate(entries) if e.get("slug") == (slug or None)), None)
    if slug and index is None:
        known = ", ".join(str(e.get("slug")) for e in entries)
        raise NotFound(f"no institution {slug!r} in {path} (it has: {known})")
    index = index or 0
    if key == "logo" and value:
        value = adopt_logo(settings, str(entries[index]["slug"]), Path(value))
    before = entries[index].get(key)
    changed = [dict(e) for e in entries]
    changed[index][key] = value
    # Refuses a bad value before anything is written.
    wanted = configured_institutions(settings, changed)
    if before == value:
        return [f"{key} is {_shown(value)} already; nothing changed"]
    if key == "public_url":
        # The move is recorded first, in the name of whoever asked for it: a running server
        # that sees the new file a moment later finds it recorded already.
        for institution in wanted:
            settle_identity(
                settings,
                institution,
                keys_dir_for(settings, wanted, institution.slug),
                actor=actor,
            )
    write_institutions(path, changed)
    who = str(changed[index]["slug"])
    record_audit_event(
        settings,
        actor,
        AuditAction.SETTINGS_CHANGED,
        {"institution": who, "setting": key, "before": before, "after": value},
        subject=who,
    )
    lines = [f"{who}: {key} set to {_shown(value)} in {path}"]
    if index == 0 and key in settings.institution_overrides():
        lines.append(f"note: {ENVIRONMENT[key]} is set and wins over the file while it stays set")
    institutions = load_institutions(settings, actor=actor)  # a new URL takes effect now
    current = next(i for i in institutions if i.slug == who)
    if key == "public_url":
        lines.append(f"{who} is now {current.did}")
        if current.former_dids:
            lines.append(
                "diplomas issued before keep verifying under: " + ", ".join(current.former_dids)
            )
        lines.append("a running server takes the change within a second or two")
    return lines


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def effective_settings(settings: Settings) -> list[tuple[str, str, str, str]]:
    """(institution, setting, value, where it comes from) for every setting in effect."""
    path = settings.institution_file
    entries = read_institution_entries(path)
    overrides = settings.institution_overrides()
    institutions = load_institutions(settings, record=False)
    rows: list[tuple[str, str, str, str]] = []
    for index, (entry, institution) in enumerate(zip(entries, institutions, strict=True)):
        for key in sorted(INSTITUTION_KEYS):
            if index == 0 and key in overrides:
                rows.append((institution.slug, key, _shown(overrides[key]), ENVIRONMENT[key]))
            elif key in entry:
                rows.append((institution.slug, key, _shown(entry[key]), str(path)))
            elif key == "public_url":
                rows.append((institution.slug, key, institution.public_url, "the issuer's site"))
        if "two_person_rule" not in entry:
            production = settings.environment == "production"
            rows.append(
                (
                    institution.slug,
                    "two_person_rule",
                    "true" if rule_applies(institution, production) else "false",
                    f"the {'production' if production else 'development'} default",
                )
            )
        rows.append((institution.slug, "did", institution.did, "from public_url"))
        for did in institution.former_dids:
            rows.append((institution.slug, "former did", did, "the key store"))
    return rows


def adopt_logo(settings: Settings, slug: str, source: Path) -> str:
    """Check an institution's logo and copy it beside the settings file, under a name
    of its own content (so a new logo never overwrites an old one); returns the name the
    settings file keeps. ConfigurationError says what is wrong with the image."""
    from PIL import Image, UnidentifiedImageError

    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the logo {source}: {exc.strerror}") from None
    if len(data) > MAX_LOGO_BYTES:
        raise ConfigurationError(
            f"the logo {source} is {len(data) // 1024} KB; at most "
            f"{MAX_LOGO_BYTES // (1024 * 1024)} MB (a few hundred pixels wide is plenty)"
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            kind, (width, height) = image.format or "", image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise ConfigurationError(f"the logo {source} is not a PNG or JPEG image") from None
    if kind not in LOGO_FORMATS:
        raise ConfigurationError(f"the logo {source} is a {kind} image; use PNG or JPEG")
    if min(width, height) < MIN_LOGO_PIXELS:
        raise ConfigurationError(
            f"the logo {source} is {width}×{height} pixels; at least {MIN_LOGO_PIXELS} on "
            f"each side, or it prints blurred"
        )
    name = f"logo-{slug}-{hashlib.sha256(data).hexdigest()[:12]}{LOGO_FORMATS[kind]}"
    settings.home.mkdir(parents=True, exist_ok=True)
    target = settings.home / name
    if not target.exists():
        write_atomic(target, data, mode=LOGO_FILE_MODE)
    return name
