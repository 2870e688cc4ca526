"""Property: whatever a request holds comes back from the database unchanged."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diplomas.core.model import DiplomaRequest
from diplomas.storage import SqlRepository

from .support import TBZ

# Anything UTF-8 can encode, except NUL, which PostgreSQL text cannot hold.
characters = st.characters(codec="utf-8", exclude_characters="\x00")
texts = st.text(characters, max_size=70)
requests = st.builds(
    DiplomaRequest,
    name=texts.filter(bool),
    issued_on=st.dates(date(1990, 1, 1), date(2100, 12, 31)),
    name_en=texts,
    award=texts,
    award_en=texts,
    citation=st.text(characters, max_size=280),
    field=texts,
    email=texts,
    national_id=st.just(""),
    external_id=texts,
    template=st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True),
)
moments = st.datetimes(
    datetime(2000, 1, 1),
    datetime(2200, 1, 1),
    timezones=st.builds(
        timezone, st.integers(-14 * 60, 14 * 60).map(lambda minutes: timedelta(minutes=minutes))
    ),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(asked=requests, issued_at=moments, record=st.binary(max_size=2048))
def test_issued_diplomas_come_back_unchanged(
    repo: SqlRepository, asked: DiplomaRequest, issued_at: datetime, record: bytes
) -> None:
    diploma, created = repo.issue(TBZ, asked, "k1", lambda _id, _serial, _status: record, issued_at)
    stored = repo.get(diploma.id)

    if created:
        assert diploma.request == asked
        assert diploma.record == record
        assert diploma.issued_at == issued_at
    else:  # an external id that an earlier example already issued
        assert asked.external_id
    assert stored is not None
    assert stored == diploma
    assert stored.issued_at.utcoffset() == timedelta(0)
