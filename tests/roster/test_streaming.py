"""Reading a roster keeps memory flat however many rows it has."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

from diplomas.roster import open_roster

from .files import ZWNJ

HEADER = "ردیف,نام و نام خانوادگی,نام لاتین,به پاس,رشته,تاریخ صدور,ایمیل,کد ملی,شناسه\r\n"


def write_cohort(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        file.write(HEADER)
        for i in range(n):
            file.write(
                f"{i + 1},زهرا محمدی{ZWNJ}نژاد {i},Zahra Mohammadinejad,"
                f'"بنیان{ZWNJ}گذار شرکت دانش{ZWNJ}بنیان، شماره {i}",فناوری سلامت,'
                f"1405/09/01,z{i}@example.org,0012345679,S-{i:06d}\r\n"
            )
    return path


def peak_while_reading(path: Path, expected: int) -> int:
    roster = open_roster(path)
    assert roster.problems == ()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        count = 0
        for row in roster.rows():
            assert not row.problems
            count += 1
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert count == expected
    return peak


def test_memory_does_not_grow_with_the_roster(tmp_path: Path) -> None:
    started = time.perf_counter()
    small = peak_while_reading(write_cohort(tmp_path / "small.csv", 5_000), 5_000)
    large = peak_while_reading(write_cohort(tmp_path / "large.csv", 50_000), 50_000)
    assert large / small < 1.5, (small, large)
    assert large < 1_000_000, large
    assert time.perf_counter() - started < 10
