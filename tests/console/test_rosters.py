"""A roster through the console over HTTP: columns guessed from Persian headers, an
unknown one shown and left out on purpose, every problem with its row, column, value and
reason (and as a CSV), people named twice in the roster or already issued, sample pages,
then the batch issued with live progress and its archive."""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from pathlib import Path

import openpyxl
from conftest import LiveServer

from .support import PEOPLE, Browser, signed_in

ISSUER = PEOPLE["issuer"][0]


def national_id(seed: int) -> str:
    """A valid Iranian national code (ten digits, mod-11 check digit)."""
    body = f"{(seed * 7919 + 123456) % 10**9:09d}"
    total = sum(int(body[i]) * (10 - i) for i in range(9)) % 11
    return body + str(total if total < 2 else 11 - total)


HEADER = ["ردیف", "نام و نام خانوادگی", "نام لاتین", "کد ملی", "ایمیل", "توضیحات"]
ROWS = [
    ["1", "زهرا محمدی‌نژاد", "Zahra Mohammadinejad", national_id(1), "z@example.ir", "سخنران"],
    ["2", "علی رضایی", "Ali Rezaei", "12345", "a@example.ir", "982"],  # a bad national id
    ["3", "مریم احمدی", "Maryam Ahmadi", national_id(1), "m@example.ir", "983"],  # same id as row 2
    ["4", "رضا کریمی", "Reza Karimi", national_id(4), "r@example.ir", "984"],  # issued already
]


def write_csv(path: Path) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(ROWS)
    return path


def upload(browser: Browser, path: Path) -> str:
    with open(path, "rb") as fh:
        answer = browser.client.post(
            "/admin/rosters",
            data={"csrf": browser.csrf, "template": "classic"},
            files={"file": (path.name, fh)},
            follow_redirects=False,
        )
    assert answer.status_code == 303, answer.text
    found = re.fullmatch(r"/admin/rosters/([\w-]+)/columns", answer.headers["location"])
    assert found
    return found.group(1)


def test_a_roster_from_upload_to_archive(console: LiveServer, tmp_path: Path) -> None:
    service = console.instance.service
    earlier = service.issue(
        {"name": "رضا کریمی", "national_id": national_id(4), "email": "r@example.ir"}
    ).diploma
    with signed_in(console.base_url, ISSUER) as issuer:
        draft = upload(issuer, write_csv(tmp_path / "cohort.csv"))
        columns = issuer.client.get(f"/admin/rosters/{draft}/columns")
        assert columns.status_code == 200
        page = columns.text
        # Guessed from the Persian headers; the unknown column is shown, marked, with values.
        assert 'name="column-1"' in page and "unknown column" not in page  # Persian page
        assert "ستون ناشناخته" in page and "توضیحات" in page and "سخنران" in page
        selected = dict(
            re.findall(r'name="column-(\d)".*?<option value="(\w*)" selected', page, re.S)
        )
        assert selected == {
            "0": "",
            "1": "name",
            "2": "name_en",
            "3": "national_id",
            "4": "email",
            "5": "",
        }
        mapped = issuer.post(
            f"/admin/rosters/{draft}/columns",
            {f"column-{i}": v for i, v in selected.items()},
        )
        assert mapped.headers["location"] == f"/admin/rosters/{draft}/check"
        check = issuer.client.get(f"/admin/rosters/{draft}/check")
        assert check.status_code == 200
        text = check.text
        # Row 3's national id: row, column, reason (the value is never echoed).
        assert re.search(r"<td>۳</td><td><bdi>کد ملی</bdi></td><td><bdi></bdi></td>", text), text
        # Same person twice: rows 2 and 4 share an id; row 5 was issued before.
        assert re.search(r"<td>۴</td><td><bdi>…\d{4}</bdi></td><td><bdi[^>]*>row 2</bdi>", text)
        assert earlier.serial in text and "پیش‌تر صادر شده" in text
        assert text.count('class="page" src="data:image/png;base64,') == 2
        problems = issuer.client.get(f"/admin/rosters/{draft}/problems.csv")
        rows = list(csv.reader(io.StringIO(problems.content.decode("utf-8-sig"))))
        assert rows[0] == ["row", "column", "field", "value", "message"]
        assert [r[0] for r in rows[1:]] == ["3"]
        started = issuer.post(f"/admin/rosters/{draft}/issue", {"skip_invalid": "true"})
        assert started.status_code == 303
        batch_url = started.headers["location"]
        deadline = time.monotonic() + 120
        while True:
            progress = issuer.client.get(batch_url, headers={"HX-Request": "true"})
            if "/archive" in progress.text or time.monotonic() > deadline:
                break
            assert 'hx-trigger="every 1s"' in progress.text
            time.sleep(0.5)
        assert 'data-testid="issued">۳ / ۳<' in progress.text, progress.text
        archive = issuer.client.get(batch_url + "/archive")
        assert archive.status_code == 200
        names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
        assert sum(n.endswith(".pdf") for n in names) == 3
        listed = issuer.client.get("/admin/batches").text
        assert "cohort.csv" in listed
        # The draft is gone once issued.
        assert issuer.client.get(f"/admin/rosters/{draft}/check").status_code == 404


def test_columns_a_header_does_not_name_can_be_chosen(console: LiveServer, tmp_path: Path) -> None:
    path = tmp_path / "cohort.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Recipient", "Latin", "Notes"])
    sheet.append(["زهرا محمدی‌نژاد", "Zahra Mohammadinejad", "top of the class"])
    book.save(path)
    with signed_in(console.base_url, ISSUER) as issuer:
        draft = upload(issuer, path)
        page = issuer.client.get(f"/admin/rosters/{draft}/columns").text
        assert page.count("ستون ناشناخته") == 3
        # Without a name column: refused, with the reason.
        refused = issuer.post(f"/admin/rosters/{draft}/columns", {})
        assert (
            refused.status_code == 422 and "choose the column that holds the names" in refused.text
        )
        twice = issuer.post(
            f"/admin/rosters/{draft}/columns", {"column-0": "name", "column-1": "name"}
        )
        assert twice.status_code == 422 and "chosen for two columns" in twice.text
        done = issuer.post(
            f"/admin/rosters/{draft}/columns",
            {"column-0": "name", "column-1": "name_en", "column-2": ""},
        )
        assert done.status_code == 303
        check = issuer.client.get(f"/admin/rosters/{draft}/check").text
        assert "آمادهٔ صدور" in check and '<p class="big">۱</p>' in check
        # Someone else cannot open this draft.
        with signed_in(console.base_url, PEOPLE["admin"][0]) as admin:
            assert admin.client.get(f"/admin/rosters/{draft}/check").status_code == 404


def test_a_file_that_is_not_a_roster_is_refused_with_words(
    console: LiveServer, tmp_path: Path
) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(b"\x89PNG\r\n")
    with signed_in(console.base_url, ISSUER) as issuer, open(path, "rb") as fh:
        answer = issuer.client.post(
            "/admin/rosters",
            data={"csrf": issuer.csrf},
            files={"file": ("photo.png", fh)},
        )
    assert answer.status_code == 422
    assert "a roster must be one of .csv, .tsv, .txt, .xlsx" in answer.text
