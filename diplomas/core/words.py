"""What the public pages say about a verdict, Persian and English side by side.

One catalogue, so that a sentence is never changed in one language and forgotten in the
other: the headline of each verdict, the word for each level, and the words for each
check of "how we verified". Names, ids, dates and times are never part of the words:
the page puts them beside the words (each in its own `<bdi>`), in the reader's digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    """What an employer should make of a verdict, in three words."""

    GENUINE = "genuine"
    WARNING = "warning"
    """Genuine, but read the warning: a superseded copy, or a key since retired."""
    NOT_VALID = "not_valid"
    """Not valid, revoked, suspended, or not issued here."""


class Outcome(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Words:
    fa: str
    en: str

    def __call__(self, lang: str) -> str:
        return self.fa if lang == "fa" else self.en


LEVELS = {
    Level.GENUINE: Words("معتبر", "Genuine"),
    Level.WARNING: Words("معتبر، با هشدار", "Genuine, with a warning"),
    Level.NOT_VALID: Words("نامعتبر", "Not valid"),
}

HEADLINES = {
    "valid": Words("این دیپلم معتبر است", "This diploma is genuine"),
    "warning": Words("این دیپلم معتبر است، با یک هشدار", "This diploma is genuine, with a warning"),
    "revoked": Words("این دیپلم باطل شده است", "This diploma has been revoked"),
    "suspended": Words("این دیپلم به حالت تعلیق درآمده است", "This diploma is suspended"),
    "unknown": Words("چنین دیپلمی صادر نشده است", "No such diploma was issued"),
    "invalid": Words("این سند معتبر نیست", "This document is not genuine"),
    "superseded": Words(
        "این نسخه با نسخهٔ اصلاح‌شده جایگزین شده است",
        "This copy was replaced by a corrected version",
    ),
}
"""By verdict status; "warning" for a valid verdict that carries a warning."""

CHECKS: dict[tuple[str, Outcome], Words] = {
    ("record_signature", Outcome.OK): Words(
        "امضای دیجیتال سابقهٔ دیپلم درست است", "The diploma record's digital signature holds"
    ),
    ("record_signature", Outcome.FAIL): Words(
        "امضای دیجیتال سابقهٔ دیپلم درست نیست یا کلید آن شناخته نیست",
        "The diploma record's digital signature does not hold, or its key is unknown",
    ),
    ("key_valid_at_signing", Outcome.OK): Words(
        "کلید امضا در زمان امضا معتبر بود", "The signing key was valid when it signed"
    ),
    ("key_valid_at_signing", Outcome.FAIL): Words(
        "کلید امضا در زمان امضا معتبر نبود", "The signing key was not valid when it signed"
    ),
    ("key_retired", Outcome.WARN): Words(
        "این سابقه با کلیدی امضا شده که از آن پس با چرخش کلید کنار گذاشته شده است؛ "
        "کلید هنگام امضا معتبر بود",
        "Signed with a key since retired by rotation; it was valid when it signed",
    ),
    ("key_not_compromised", Outcome.OK): Words(
        "کلید امضا لو نرفته است", "The signing key has not been reported compromised"
    ),
    ("key_not_compromised", Outcome.WARN): Words(
        "کلید امضا پس از این امضا لورفته اعلام شده است؛ این امضا پیش از آن ساخته شده بود",
        "The signing key was reported compromised after this signature was made",
    ),
    ("key_not_compromised", Outcome.FAIL): Words(
        "این امضا پس از لو رفتن کلید ساخته شده است و هر کسی می‌توانست آن را بسازد",
        "The signature was made after the key was compromised: anyone could have made it",
    ),
    ("status", Outcome.OK): Words(
        "در پایگاه دادهٔ صادرکننده و فهرست وضعیت آن، نه باطل شده است نه معلق",
        "Neither revoked nor suspended in the issuer's database and status list",
    ),
    ("status_revoked", Outcome.FAIL): Words(
        "صادرکننده این دیپلم را باطل کرده است", "The issuer has revoked this diploma"
    ),
    ("status_suspended", Outcome.FAIL): Words(
        "صادرکننده این دیپلم را معلق کرده است", "The issuer has suspended this diploma"
    ),
    ("status_unknown", Outcome.FAIL): Words(
        "در پایگاه دادهٔ صادرکننده چنین دیپلمی نیست",
        "The issuer's database holds no such diploma",
    ),
    ("pdf_signature", Outcome.OK): Words(
        "امضای دیجیتال PDF درست است و به گواهی صادرکننده می‌رسد",
        "The PDF's digital signature holds and chains to the issuer's certificate",
    ),
    ("pdf_signature", Outcome.FAIL): Words(
        "امضای دیجیتال PDF درست نیست", "The PDF's digital signature does not hold"
    ),
    ("pdf_none", Outcome.FAIL): Words(
        "این PDF امضای دیجیتال ندارد", "The PDF carries no digital signature"
    ),
    ("pdf_coverage", Outcome.OK): Words(
        "امضا همهٔ فایل را در بر می‌گیرد", "The signature covers the whole file"
    ),
    ("pdf_coverage", Outcome.FAIL): Words(
        "پس از امضا چیزی به فایل افزوده شده که امضا آن را در بر نمی‌گیرد",
        "Something was added to the file after signing that no signature covers",
    ),
    ("pdf_timestamp", Outcome.OK): Words(
        "مهر زمانی معتبر زمان امضا را ثابت می‌کند",
        "A trusted timestamp proves when it was signed",
    ),
    ("pdf_timestamp", Outcome.WARN): Words(
        "مهر زمانی ندارد: زمان امضا همان است که خود فایل می‌گوید",
        "No trusted timestamp: the signing time is the file's own claim",
    ),
    ("record_matches", Outcome.OK): Words(
        "سابقهٔ درون PDF همان است که صادرکننده نگه داشته است",
        "The record inside the PDF is the one the issuer stored",
    ),
    ("record_matches", Outcome.WARN): Words(
        "سابقهٔ درون PDF نسخهٔ پیشینی است که با اصلاح جایگزین شده است",
        "The record inside the PDF is an earlier version, replaced by a correction",
    ),
    ("record_matches", Outcome.FAIL): Words(
        "سابقهٔ درون PDF با آنچه صادرکننده نگه داشته فرق دارد یا اصلاً نیست",
        "The record inside the PDF differs from the issuer's, or is missing",
    ),
}
"""The words for each (check, outcome) that `verification` reports."""
