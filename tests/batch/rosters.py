"""Rosters for the batch tests, written the way admins' spreadsheets are."""

from __future__ import annotations

import csv
from pathlib import Path

FIRST = ["زهرا", "علی", "مریم", "رضا", "سارا", "محمد", "فاطمه", "حسین", "نرگس", "امیر"]
LAST = ["محمدی‌نژاد", "رضایی", "احمدی", "کریمی", "حسینی", "موسوی", "جعفری", "قاسمی"]
LATIN_FIRST = [
    "Zahra",
    "Ali",
    "Maryam",
    "Reza",
    "Sara",
    "Mohammad",
    "Fatemeh",
    "Hossein",
    "Narges",
    "Amir",
]
LATIN_LAST = [
    "Mohammadinejad",
    "Rezaei",
    "Ahmadi",
    "Karimi",
    "Hosseini",
    "Mousavi",
    "Jafari",
    "Ghasemi",
]


def person(i: int) -> dict[str, str]:
    return {
        "name": f"{FIRST[i % 10]} {LAST[(i // 10) % 8]}",
        "name_en": f"{LATIN_FIRST[i % 10]} {LATIN_LAST[(i // 10) % 8]}",
        "citation": f"بنیان‌گذار شرکت دانش‌بنیان شماره {i}",
        "field": "فناوری سلامت",
        "issued_on": "1405/09/01",
        "external_id": f"S-{i:05d}",
    }


def write_roster(path: Path, rows: list[dict[str, str]], encoding: str = "utf-8") -> Path:
    headers: list[str] = []
    for row in rows:
        headers.extend(k for k in row if k not in headers)
    with open(path, "w", newline="", encoding=encoding) as fh:
        writer = csv.DictWriter(fh, headers)
        writer.writeheader()
        writer.writerows(rows)
    return path


def cohort(path: Path, n: int) -> Path:
    return write_roster(path, [person(i) for i in range(n)])
