"""A sender pointed at a test server, and the holders the mail tests issue to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import Instance
from pydantic import SecretStr

from diplomas.bootstrap import build_service
from diplomas.mail.sender import MailSender
from diplomas.service import DiplomaService
from diplomas.settings_file import set_institution_setting

ZAHRA = {
    "name": "زهرا محمدی‌نژاد",
    "name_en": "Zahra Mohamadinejad",
    "citation": "بنیان‌گذار شرکت دانش‌بنیان تجهیزات پزشکی هوشمند",
    "field": "فناوری سلامت",
    "issued_on": "1405/09/05",
    "email": "zahra@example.com",
}


def letters(i: int) -> str:
    """A Latin name part for number `i` (names take no digits): 0 Aa, 1 Ab, ..."""
    word = ""
    while True:
        i, digit = divmod(i, 26)
        word = "abcdefghijklmnopqrstuvwxyz"[digit] + word
        if not i:
            return "A" + word


def holder(i: int, **more: str) -> dict[str, str]:
    return {
        **ZAHRA,
        "name_en": f"Holder {letters(i)}",
        "email": f"holder{i}@example.com",
        **more,
    }


def sender_for(
    instance: Instance,
    url: str,
    *,
    ca_file: Path | None = None,
    service: DiplomaService | None = None,
    **settings: Any,
) -> MailSender:
    configured = instance.settings.model_copy(
        update={
            "smtp_url": url,
            "smtp_from": "Office <office@example.ac.ir>",
            "smtp_ca_file": ca_file,
            "smtp_timeout_seconds": 5,
            **settings,
        }
    )
    configured.smtp_url = SecretStr(url)
    if isinstance(configured.smtp_password, str):
        configured.smtp_password = SecretStr(configured.smtp_password)
    current = service or instance.service
    return MailSender.from_settings(configured, current)


def with_setting(instance: Instance, key: str, value: Any) -> DiplomaService:
    set_institution_setting(instance.settings, key, value)
    return build_service(instance.settings)
