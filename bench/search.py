"""Search a million diplomas on PostgreSQL through the real repository, and time it.

    .venv/bin/python bench/search.py [URL] [--n 1000000] [--repeat 200] [--keep] [--explain]

URL (else $DIPLOMAS_BENCH_DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/test)
names a server and a database to connect to; the bench creates a database of its own
beside it (`diplomas_bench`, --database to rename), migrates it with the real migrations,
loads N diplomas, ANALYZEs, times `SqlRepository.find` on a mix of queries and drops the
database at the end (unless --keep; a kept database is reused by the next run with
--reuse, skipping the load).

The load: names drawn from lists of Persian first and family names (ZWNJ compounds among
them) with their English spellings, serials over five Solar Hijri years, emails, external
ids, national ids (their keyed hashes), statuses, batches, templates and co-issuers, the
search text computed by `core.search.search_text` itself. Rows are COPYed in with the
migration's secondary indexes dropped and then rebuilt from their own definitions (the
same indexes, built once instead of updated a million times). Records are short
stand-ins: real ones are a few kB and PostgreSQL keeps them out of line (TOAST), so the
table's own pages hold a pointer either way.

Prints p50, p95 and max (ms) per kind of query and overall; the target is p95 < 100 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from diplomas.core.dates import solar_hijri_year
from diplomas.core.ids import format_serial
from diplomas.core.model import DiplomaStatus, Institution
from diplomas.core.search import DiplomaQuery, SortOrder, search_text
from diplomas.storage import SqlRepository, database_url, make_engine, migrate

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
KEY = b"bench national id key, 32 bytes or more"
ZWNJ = "\u200c"

FIRST = [
    ("علی", "Ali"),
    ("محمد", "Mohammad"),
    ("حسین", "Hossein"),
    ("رضا", "Reza"),
    ("مهدی", "Mahdi"),
    ("امیر", "Amir"),
    ("محمدرضا", "Mohammadreza"),
    ("امیرحسین", "Amirhossein"),
    ("سعید", "Saeed"),
    ("حمید", "Hamid"),
    ("مجید", "Majid"),
    ("بهزاد", "Behzad"),
    ("کاوه", "Kaveh"),
    ("آرش", "Arash"),
    ("بابک", "Babak"),
    ("پویا", "Pouya"),
    ("سینا", "Sina"),
    ("یاسر", "Yaser"),
    ("مصطفی", "Mostafa"),
    ("ابوالفضل", "Abolfazl"),
    ("عبدالله", "Abdollah"),
    ("فرهاد", "Farhad"),
    ("کیان", "Kian"),
    ("آرین", "Arian"),
    ("میلاد", "Milad"),
    ("فاطمه", "Fatemeh"),
    ("زهرا", "Zahra"),
    ("مریم", "Maryam"),
    ("سارا", "Sara"),
    ("نرگس", "Narges"),
    ("زینب", "Zeinab"),
    ("معصومه", "Masoumeh"),
    ("الهام", "Elham"),
    ("نگار", "Negar"),
    ("نسترن", "Nastaran"),
    ("پریسا", "Parisa"),
    ("مهسا", "Mahsa"),
    ("شیرین", "Shirin"),
    ("لیلا", "Leila"),
    ("آزاده", "Azadeh"),
    ("سمیرا", "Samira"),
    ("هانیه", "Hanieh"),
    ("یگانه", "Yeganeh"),
    ("ریحانه", "Reyhaneh"),
    ("کوثر", "Kowsar"),
    ("فرزانه", "Farzaneh"),
    ("طاهره", "Tahereh"),
    ("بهاره", "Bahareh"),
    ("نازنین", "Nazanin"),
    ("ستاره", "Setareh"),
]
FAMILY = [
    ("محمدی", "Mohammadi"),
    ("احمدی", "Ahmadi"),
    ("رضایی", "Rezaei"),
    ("حسینی", "Hosseini"),
    ("کریمی", "Karimi"),
    ("موسوی", "Mousavi"),
    ("جعفری", "Jafari"),
    ("قاسمی", "Ghasemi"),
    ("صادقی", "Sadeghi"),
    ("رحیمی", "Rahimi"),
    ("کاظمی", "Kazemi"),
    ("مرادی", "Moradi"),
    ("ابراهیمی", "Ebrahimi"),
    ("حیدری", "Heidari"),
    ("نوری", "Nouri"),
    ("اکبری", "Akbari"),
    ("سلطانی", "Soltani"),
    ("شریفی", "Sharifi"),
    ("بهرامی", "Bahrami"),
    ("تقوی", "Taghavi"),
    ("زارعی", "Zarei"),
    ("یوسفی", "Yousefi"),
    ("عباسی", "Abbasi"),
    ("نجفی", "Najafi"),
    ("امینی", "Amini"),
    ("فرجی", "Faraji"),
    ("اصغری", "Asghari"),
    ("طاهری", "Taheri"),
    ("پورمحمد", "Pourmohammad"),
    ("آذربایجانی", "Azarbaijani"),
    ("تبریزی", "Tabrizi"),
    ("اردبیلی", "Ardabili"),
    ("مقدم", "Moghaddam"),
    ("شکوهی", "Shokouhi"),
    ("نیک‌نام", "Niknam"),
    ("محمدی‌نژاد", "Mohammadinejad"),
    ("حسین‌زاده", "Hosseinzadeh"),
    ("علی‌پور", "Alipour"),
    ("رضا‌زاده", "Rezazadeh"),
    ("قلی‌زاده", "Gholizadeh"),
    ("ولی‌زاده", "Valizadeh"),
    ("عبدالله‌زاده", "Abdollahzadeh"),
    ("نصیری‌فر", "Nasirifar"),
    ("شاه‌محمدی", "Shahmohammadi"),
    ("میرزا‌یی", "Mirzaei"),
    ("خدا‌بنده‌لو", "Khodabandehlou"),
    ("آقا‌جانی", "Aghajani"),
    ("کریم‌خانی", "Karimkhani"),
    ("اسدالله‌ی", "Asadollahi"),
    ("جهان‌بخش", "Jahanbakhsh"),
    ("بنی‌هاشمی", "Banihashemi"),
    ("حاجی‌آقایی", "Hajiaghaei"),
    ("صدر‌الدینی", "Sadroddini"),
    ("امام‌قلی", "Emamgholi"),
    ("نوروز‌زاده", "Nowruzzadeh"),
    ("فتح‌اللهی", "Fathollahi"),
    ("طالب‌زاده", "Talebzadeh"),
    ("میر‌حسینی", "Mirhosseini"),
    ("دهقان‌پور", "Dehghanpour"),
    ("رنجبر‌زاده", "Ranjbarzadeh"),
]
INSTITUTION = Institution(
    slug="tbzmed",
    name="دانشگاه علوم پزشکی تبریز",
    name_en="Tabriz University of Medical Sciences",
    public_url="https://diplomas.tbzmed.example",
    serial_prefix="TBZMED",
)
SUT = Institution(
    slug="sut",
    name="دانشگاه صنعتی سهند",
    name_en="Sahand University of Technology",
    public_url="https://diplomas.sut.example",
    serial_prefix="SUT",
)
FIRST_DAY = date(2021, 3, 21)  # 1 Farvardin 1400
DAYS = 5 * 365
COLUMNS = (
    "id",
    "institution",
    "serial",
    "name",
    "name_en",
    "award",
    "award_en",
    "citation",
    "field",
    "issued_on",
    "template",
    "email",
    "national_id_hash",
    "external_id",
    "co_issuers",
    "key_id",
    "record",
    "status",
    "revoked_at",
    "revocation_reason",
    "issued_at",
    "pdf_sha256",
    "batch_id",
    "row_key",
    "suspended_at",
    "suspension_reason",
    "status_list",
    "status_index",
    "search_text",
)


def hash_national_id(national_id: str) -> str:
    return hmac.new(KEY, national_id.encode(), hashlib.sha256).hexdigest()


def national_id(n: int) -> str:
    """A valid ten-digit national code per row number (mod-11 check digit)."""
    body = f"{(n * 7919 + 1_000_003) % 1_000_000_000:09d}"
    total = sum(int(body[i]) * (10 - i) for i in range(9)) % 11
    return body + str(total if total < 2 else 11 - total)


@dataclass(frozen=True)
class Stored:
    """What the queries draw from: a sample of the rows as loaded."""

    serials: list[str]
    emails: list[str]
    national_ids: list[str]


def rows(n: int, seed: int) -> Iterator[tuple[object, ...]]:
    """N diplomas in issuing order, numbered per Solar Hijri year."""
    rng = random.Random(seed)
    days = sorted(rng.randrange(DAYS) for _ in range(n))
    numbers: dict[int, int] = {}
    for i, day_number in enumerate(days):
        first, first_en = rng.choice(FIRST)
        family, family_en = FAMILY[min(int(rng.expovariate(1 / 12)), len(FAMILY) - 1)]
        name, name_en = f"{first} {family}", f"{first_en} {family_en}"
        issued_on = FIRST_DAY + timedelta(days=day_number)
        year = solar_hijri_year(issued_on)
        numbers[year] = numbers.get(year, 0) + 1
        serial = format_serial(INSTITUTION.serial_prefix, year, numbers[year])
        issued_at = datetime.combine(issued_on, datetime.min.time(), UTC) + timedelta(
            hours=8, seconds=i % 30_000
        )
        email = f"{first_en}.{family_en}{i}@example.ir".lower() if rng.random() < 0.7 else ""
        external_id = f"crm-{i}" if rng.random() < 0.5 else None
        nid = hash_national_id(national_id(i)) if rng.random() < 0.8 else None
        draw = rng.random()
        status = DiplomaStatus.ISSUED
        revoked_at = suspended_at = None
        if draw < 0.02:
            status, revoked_at = DiplomaStatus.REVOKED, issued_at + timedelta(days=30)
        elif draw < 0.03:
            status, suspended_at = DiplomaStatus.SUSPENDED, issued_at + timedelta(days=30)
        batch = f"batch{i // 500:018d}" if i % 10 < 6 else None
        diploma_id = f"{i:023d}"
        yield (
            diploma_id,
            INSTITUTION.slug,
            serial,
            name,
            name_en,
            "دیپلم کارآفرینی",
            "Entrepreneurship Diploma",
            "",
            "",
            issued_on,
            "modern" if i % 10 == 9 else "classic",
            email,
            nid,
            external_id,
            "sut" if i % 20 == 7 else "",
            "k1",
            f'{{"id":"{diploma_id}","serial":"{serial}"}}'.encode(),
            status.value,
            revoked_at,
            "duplicate" if revoked_at else "",
            issued_at,
            "",
            batch,
            f"ext:{external_id}" if external_id else None,
            suspended_at,
            "under review" if suspended_at else "",
            i // 131_072 + 1,
            i % 131_072,
            search_text(name, name_en, serial, external_id, email),
        )


def create_database(server: URL, name: str) -> URL:
    admin = make_engine(server).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return server.set(database=name)


def drop_database(server: URL, name: str) -> None:
    admin = make_engine(server).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def load(engine: Engine, n: int, seed: int) -> None:
    """COPY n rows in with the secondary indexes dropped, then rebuild those indexes."""
    with engine.begin() as connection:
        indexes = connection.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'diplomas' "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
            )
        ).all()
        for index in indexes:
            connection.exec_driver_sql(f'DROP INDEX "{index.indexname}"')
    start = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY diplomas ({', '.join(COLUMNS)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for i, row in enumerate(rows(n, seed)):
                copy.write_row(row)
                if i and i % 200_000 == 0:
                    print(f"  {i:,} rows ({time.perf_counter() - start:.0f} s)", flush=True)
        raw.commit()
    finally:
        raw.close()
    print(f"copied {n:,} rows in {time.perf_counter() - start:.1f} s", flush=True)
    start = time.perf_counter()
    with engine.begin() as connection:
        connection.exec_driver_sql("SET maintenance_work_mem = '512MB'")
        for index in indexes:
            connection.exec_driver_sql(index.indexdef)
    print(f"rebuilt {len(indexes)} indexes in {time.perf_counter() - start:.1f} s", flush=True)
    start = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE diplomas")
    print(f"VACUUM ANALYZE in {time.perf_counter() - start:.1f} s", flush=True)


def sample(engine: Engine, size: int, seed: int) -> Stored:
    with engine.connect() as connection:
        total = connection.execute(text("SELECT count(*) FROM diplomas")).scalar_one()
        rng = random.Random(seed)
        ids = [f"{rng.randrange(total):023d}" for _ in range(size)]
        picked = connection.execute(
            text("SELECT id, serial, email FROM diplomas WHERE id = ANY(:ids)"), {"ids": ids}
        ).all()
    return Stored(
        serials=[r.serial for r in picked],
        emails=[r.email for r in picked if r.email],
        national_ids=[national_id(int(r.id)) for r in picked],
    )


def to_persian_digits(value: str) -> str:
    return value.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))


def queries(
    stored: Stored, seed: int
) -> dict[str, Callable[[random.Random], tuple[DiplomaQuery, str | None]]]:
    """Kind of query → a maker of one (query, national-id hash)."""
    compounds = [f for f, _ in FAMILY if ZWNJ in f]

    def plain(q: str, **kw: object) -> tuple[DiplomaQuery, str | None]:
        return DiplomaQuery(text=q, **kw), None  # type: ignore[arg-type]

    return {
        "full name": lambda r: plain(f"{r.choice(FIRST)[0]} {r.choice(FAMILY[:40])[0]}"),
        "partial family name": lambda r: plain(r.choice(FAMILY)[0][:4]),
        "ZWNJ variant": lambda r: plain(r.choice(compounds).replace(ZWNJ, r.choice([" ", ""]))),
        "English name": lambda r: plain(f"{r.choice(FIRST)[1]} {r.choice(FAMILY)[1]}".lower()),
        "serial": lambda r: plain(r.choice([str, to_persian_digits])(r.choice(stored.serials))),
        "email": lambda r: plain(r.choice(stored.emails)),
        "national id": lambda r: (lambda nid: (DiplomaQuery(text=nid), hash_national_id(nid)))(
            r.choice(stored.national_ids)
        ),
        "text + filters": lambda r: plain(
            r.choice(FAMILY)[0],
            status=r.choice([DiplomaStatus.REVOKED, DiplomaStatus.ISSUED, None]),
            issued_from=date(2024, 3, 20),
            issued_to=date(2025, 3, 20),
            template=r.choice(["classic", "modern", None]),
        ),
        "text by name": lambda r: plain(r.choice(FIRST)[0], sort=SortOrder.NAME),
        "empty, first page": lambda r: plain(""),
        "empty, filtered": lambda r: plain(
            "", status=DiplomaStatus.SUSPENDED, co_issuer=r.choice(["sut", None])
        ),
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "url", nargs="?", default=os.environ.get("DIPLOMAS_BENCH_DATABASE_URL", DEFAULT_URL)
    )
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=200, help="queries of each kind")
    parser.add_argument("--database", default="diplomas_bench")
    parser.add_argument("--keep", action="store_true", help="leave the database behind")
    parser.add_argument("--reuse", action="store_true", help="search a kept database again")
    parser.add_argument("--explain", action="store_true", help="print one plan per kind")
    parser.add_argument("--seed", type=int, default=1405)
    args = parser.parse_args()

    server = database_url(args.url)
    if server.get_backend_name() != "postgresql":
        parser.error("the bench runs on PostgreSQL")
    if args.reuse:
        url = server.set(database=args.database)
    else:
        url = create_database(server, args.database)
        migrate(url)
    engine = make_engine(url)
    try:
        if not args.reuse:
            start = time.perf_counter()
            load(engine, args.n, args.seed)
            print(f"loaded {args.n:,} diplomas in {time.perf_counter() - start:.1f} s")
        repo = SqlRepository(engine, {i.slug: i for i in (INSTITUTION, SUT)}, hash_national_id)
        stored = sample(engine, 2000, args.seed)
        rng = random.Random(args.seed)
        kinds = queries(stored, args.seed)
        if args.explain:
            explain(engine, repo, kinds, rng)
        results: dict[str, list[float]] = {}
        capped: dict[str, int] = {}
        for kind in kinds:
            results[kind] = []
        for _ in range(args.repeat):  # interleaved, so that no kind has the cache to itself
            for kind, make in kinds.items():
                query, digest = make(rng)
                start = time.perf_counter()
                found = repo.find(query, digest)
                results[kind].append((time.perf_counter() - start) * 1000)
                capped[kind] = capped.get(kind, 0) + (not found.total_is_exact)
        print(f"\n{args.repeat} queries of each kind, {sum(map(len, results.values())):,} in all")
        print(f"{'kind':<20} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  totals capped")
        every: list[float] = []
        for kind, times in results.items():
            every.extend(times)
            print(
                f"{kind:<20} {statistics.median(times):8.1f} {percentile(times, 95):8.1f} "
                f"{max(times):8.1f}  {capped[kind]}/{len(times)}"
            )
        print(
            f"{'overall':<20} {statistics.median(every):8.1f} {percentile(every, 95):8.1f} "
            f"{max(every):8.1f}"
        )
    finally:
        engine.dispose()
        if not args.keep:
            drop_database(server, args.database)
            print(f"dropped database {args.database}")


def explain(
    engine: Engine,
    repo: SqlRepository,
    kinds: dict[str, Callable[[random.Random], tuple[DiplomaQuery, str | None]]],
    rng: random.Random,
) -> None:
    """EXPLAIN ANALYZE of each kind's page query, as the repository sends it."""
    from sqlalchemy import event

    plans: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and "diplomas" in statement:
            plans.append((statement, parameters))

    for kind, make in kinds.items():
        query, digest = make(rng)
        plans.clear()
        event.listen(engine, "before_cursor_execute", capture)
        try:
            repo.find(query, digest)
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        print(f"\n== {kind}: {query.text!r}")
        with engine.connect() as connection:
            for statement, parameters in plans:
                raw = connection.connection.driver_connection
                assert raw is not None
                for line in raw.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters):
                    print("   ", line[0])


if __name__ == "__main__":
    main()
