"""Finding issued diplomas: what a search asks for (`DiplomaQuery`) and what it answers
(`SearchResult`), shared by the API, the command line and the console.

Text is compared by `text.search_key`: each diploma keeps the keys of its names, serial,
external id and email joined into one `search_text` (see `search_text`), and a query
matches when its key is part of that text. A query that looks like a national id also
matches the diploma whose keyed national-id hash equals the query's: the service, which
holds the key, hashes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from .errors import FieldProblem, InvalidInput
from .ids import is_serial
from .model import Diploma, DiplomaStatus
from .text import ascii_digits, search_key

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
MAX_TEXT = 200
MAX_OFFSET = 1_000_000_000
COUNT_LIMIT = 1_000
"""Past this many matches a search stops counting: `total` is then COUNT_LIMIT and
`total_is_exact` False ("1,000+"), so that a broad search never counts (and, on
PostgreSQL, reads) tens of thousands of rows: each match counted is a table row read to
confirm it."""

SEPARATOR = "|"
"""Between the keys in `search_text`; `search_key` never yields it, so no match spans two
fields."""

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_BATCH = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NATIONAL_ID = re.compile(r"^\d{8,10}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")  # the shape `model.parse_request` accepts


class SortOrder(StrEnum):
    NEWEST = "newest"
    """The latest date on the diploma first, then the latest issued (the default)."""
    OLDEST = "oldest"
    NAME = "name"
    """By the Persian name (code point order), then newest first."""
    SERIAL = "serial"


def search_text(*values: str | None) -> str:
    """The folded text a diploma is found by: the key of each value, joined by
    SEPARATOR (name, English name, serial, external id, email, in that order)."""
    return SEPARATOR.join(search_key(v or "") for v in values)


def national_id_in(text: str) -> str | None:
    """The national id that search text may be (ten digits, in any script, spaces and
    dashes allowed; eight or nine digits get their leading zeros back, as spreadsheets
    drop them), else None."""
    digits = re.sub(r"[\s\-\u200c]", "", ascii_digits(text))
    return digits.zfill(10) if _NATIONAL_ID.match(digits) else None


def serial_in(text: str) -> str | None:
    """The serial that search text is, whole (any digits, any case), else None."""
    serial = ascii_digits(text.strip()).upper()
    return serial if is_serial(serial) else None


def email_in(text: str) -> str | None:
    """The email that search text is, whole, as stored (lower case), else None."""
    email = text.strip()
    return email.lower() if _EMAIL.match(email) else None


@dataclass(frozen=True)
class DiplomaQuery:
    """One page of a search: text, filters, order and paging. Raises InvalidInput naming
    each bad field when built with values out of range.

    `issued_from` and `issued_to` bound the date printed on the diploma (`issued_on`),
    both inclusive. `co_issuer` is the slug of an institution that co-issued it.
    """

    text: str = ""
    status: DiplomaStatus | None = None
    issued_from: date | None = None
    issued_to: date | None = None
    batch_id: str | None = None
    template: str | None = None
    co_issuer: str | None = None
    sort: SortOrder = SortOrder.NEWEST
    offset: int = 0
    limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        problems = []
        if len(self.text) > MAX_TEXT:
            problems.append(FieldProblem("text", f"is longer than {MAX_TEXT} characters"))
        if not 1 <= self.limit <= MAX_LIMIT:
            problems.append(FieldProblem("limit", f"must be 1 to {MAX_LIMIT}"))
        if not 0 <= self.offset <= MAX_OFFSET:
            problems.append(FieldProblem("offset", f"must be 0 to {MAX_OFFSET}"))
        if self.issued_from and self.issued_to and self.issued_from > self.issued_to:
            problems.append(FieldProblem("issued_from", "is after issued_to: no diploma can match"))
        for name, value, pattern in (
            ("batch_id", self.batch_id, _BATCH),
            ("template", self.template, _SLUG),
            ("co_issuer", self.co_issuer, _SLUG),
        ):
            if value is not None and not pattern.match(value):
                problems.append(FieldProblem(name, f"{value!r} is not a valid {name}"))
        if problems:
            raise InvalidInput(problems)

    @property
    def key(self) -> str:
        """The text's search key ('' for none)."""
        return search_key(self.text)

    @property
    def has_text(self) -> bool:
        return bool(self.text.strip())

    @classmethod
    def parse(
        cls,
        *,
        text: str = "",
        status: str | None = None,
        issued_from: str | None = None,
        issued_to: str | None = None,
        batch_id: str | None = None,
        template: str | None = None,
        co_issuer: str | None = None,
        sort: str = SortOrder.NEWEST.value,
        offset: int = 0,
        limit: int = DEFAULT_LIMIT,
    ) -> DiplomaQuery:
        """A query from what people type: status and sort by name, dates as 1405/09/05 or
        2026-11-26 (any digits); empty strings count as absent. InvalidInput lists every
        bad field, these and the ones the constructor checks."""
        from .dates import parse_date  # local: dates pulls jdatetime, text does not

        problems: list[FieldProblem] = []

        def absent(value: str | None) -> bool:
            return value is None or not value.strip()

        parsed_status = None
        if not absent(status):
            assert status is not None
            try:
                parsed_status = DiplomaStatus(status.strip().lower())
            except ValueError:
                known = ", ".join(s.value for s in DiplomaStatus)
                problems.append(FieldProblem("status", f"must be one of {known}"))
        try:
            order = SortOrder(sort.strip().lower() or SortOrder.NEWEST.value)
        except ValueError:
            order = SortOrder.NEWEST
            known = ", ".join(s.value for s in SortOrder)
            problems.append(FieldProblem("sort", f"must be one of {known}"))
        days: dict[str, date | None] = {}
        for name, value in (("issued_from", issued_from), ("issued_to", issued_to)):
            days[name] = None
            if not absent(value):
                assert value is not None
                try:
                    days[name] = parse_date(value.strip())
                except ValueError:
                    problems.append(
                        FieldProblem(name, f"{value!r} is not a date like 1405/09/05 or 2026-11-26")
                    )
        try:
            query = cls(
                text=text,
                status=parsed_status,
                issued_from=days["issued_from"],
                issued_to=days["issued_to"],
                batch_id=None if absent(batch_id) else batch_id,
                template=None if absent(template) else template,
                co_issuer=None if absent(co_issuer) else co_issuer,
                sort=order,
                offset=offset,
                limit=limit,
            )
        except InvalidInput as exc:
            raise InvalidInput([*problems, *exc.problems]) from None
        if problems:
            raise InvalidInput(problems)
        return query


@dataclass(frozen=True)
class SearchResult:
    """One page of diplomas in the query's order, and how many match in all.

    `total` is exact when `total_is_exact`; otherwise more than COUNT_LIMIT match and
    `total` is COUNT_LIMIT (show it as "1,000+").
    """

    items: tuple[Diploma, ...]
    total: int
    total_is_exact: bool = True
    query: DiplomaQuery = field(default_factory=DiplomaQuery)

    @property
    def total_text(self) -> str:
        return f"{self.total:,}" if self.total_is_exact else f"{self.total:,}+"
