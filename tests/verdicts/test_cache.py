"""The verdict cache: kept verdicts answer at once, and never outlive a change for longer
than the configured interval.

Two services on one database stand for two processes (a server and the CLI, or two
workers): each has its own cache, and they learn of each other's changes only through
the audit log.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from clitools import invoke
from conftest import PASSPHRASE, Instance, LiveServer, free_port, make_instance, serving
from fastapi.testclient import TestClient

from diplomas.api.app import create_app
from diplomas.api.routes.verify import look_ahead_forever
from diplomas.bootstrap import build_service
from diplomas.core.audit import AuditAction, Change
from diplomas.core.verification import VerdictStatus
from diplomas.service import DiplomaService
from diplomas.verdicts import VerdictCache, affected

ZAHRA = {"name": "زهرا محمدی", "name_en": "Zahra Mohammadi"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


CHECKED_AT = re.compile(rb'<time datetime="[^"]*">[^<]*</time>')


@pytest.fixture
def inst(tmp_path: Path, backend: str) -> Instance:
    return make_instance(tmp_path, backend)


def cached_service(inst: Instance, clock: Clock, check_every: float = 60.0) -> DiplomaService:
    """A second process's service, with a verdict cache on a clock the test moves."""
    service = build_service(inst.settings)
    assert service.audit is not None
    service.verdicts = VerdictCache(service.audit, size=100, check_every=check_every, clock=clock)
    return service


def count_reads(service: DiplomaService, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids the service reads from the database from now on."""
    reads: list[str] = []
    real_get = service.repository.get

    def get(diploma_id: str) -> object:
        reads.append(diploma_id)
        return real_get(diploma_id)

    monkeypatch.setattr(service.repository, "get", get)
    return reads


def test_a_kept_verdict_answers_without_reading_the_database(
    inst: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    server = cached_service(inst, clock)
    d = inst.service.issue(ZAHRA).diploma
    first = server.verdict(d.id)
    assert first.verdict.status is VerdictStatus.VALID
    reads = count_reads(server, monkeypatch)
    for _ in range(5):
        assert server.verdict(d.id) is first
        assert server.kept_verdict(d.id) is first
    assert reads == []
    made: list[int] = []
    for _ in range(3):
        first.form("json", lambda v: bytes(made.append(1) or b"{}"))
    assert made == [1]


def test_unknown_and_malformed_ids_are_never_kept(inst: Instance) -> None:
    server = cached_service(inst, Clock())
    unknown = inst.service.issue(ZAHRA).diploma.id[:-1] + "x"
    for diploma_id in (unknown, "not-an-id", ""):
        assert server.verdict(diploma_id).verdict.status is VerdictStatus.UNKNOWN
    assert server.verdicts is not None
    assert len(server.verdicts) == 0


def test_a_change_made_here_shows_at_once(inst: Instance) -> None:
    server = cached_service(inst, Clock(), check_every=3600)
    d = inst.service.issue(ZAHRA).diploma
    assert server.verdict(d.id).verdict.status is VerdictStatus.VALID
    server.suspend(d.id, "under review")
    assert server.verdict(d.id).verdict.status is VerdictStatus.SUSPENDED
    server.unsuspend(d.id)
    assert server.verdict(d.id).verdict.status is VerdictStatus.VALID
    server.revoke(d.id, "fraud")
    assert server.kept_verdict(d.id) is None
    assert server.verdict(d.id).verdict.status is VerdictStatus.REVOKED


def test_a_change_made_elsewhere_shows_once_a_look_is_due(inst: Instance) -> None:
    clock = Clock()
    server = cached_service(inst, clock, check_every=0.5)
    kept, changed = inst.service.issue(ZAHRA).diploma, inst.service.issue(ZAHRA).diploma
    for d in (kept, changed):
        assert server.verdict(d.id).verdict.status is VerdictStatus.VALID
    inst.service.revoke(changed.id, "issued in error")  # the CLI, say
    # Within the interval the kept verdict still answers: that is the promise's bound.
    clock.now += 0.4
    assert server.verdict(changed.id).verdict.status is VerdictStatus.VALID
    clock.now += 0.2
    assert server.verdict(changed.id).verdict.status is VerdictStatus.REVOKED
    # Only the changed diploma was dropped.
    assert server.verdicts is not None
    assert server.verdicts.get(kept.id) is not None


def test_while_one_request_looks_the_others_are_answered_from_memory(inst: Instance) -> None:
    clock = Clock()
    server = cached_service(inst, clock, check_every=0.5)
    d = inst.service.issue(ZAHRA).diploma
    kept = server.verdict(d.id)
    clock.now += 0.6
    assert server.kept_verdict(d.id) is None  # this caller makes the look
    assert server.kept_verdict(d.id) is kept  # the others need not wait for it
    assert server.kept_verdict(d.id) is kept
    clock.now += 0.5  # the look has not happened: twice the interval is the limit
    assert server.kept_verdict(d.id) is None
    assert server.kept_verdict(d.id) is None
    assert server.verdict(d.id) is kept  # the look, then the kept verdict
    assert server.kept_verdict(d.id) is kept


def test_looking_ahead_keeps_requests_from_finding_a_look_due(inst: Instance) -> None:
    clock = Clock()
    server = cached_service(inst, clock, check_every=0.5)
    kept, changed = inst.service.issue(ZAHRA).diploma, inst.service.issue(ZAHRA).diploma
    first = server.verdict(kept.id)
    server.verdict(changed.id)
    inst.service.revoke(changed.id, "issued in error")  # elsewhere
    assert server.verdicts is not None
    clock.now += 0.2
    server.look_ahead()  # not yet half the interval since the last look: nothing read
    assert server.verdicts.get(changed.id) is not None
    clock.now += 0.1
    server.look_ahead()
    assert server.verdicts.get(changed.id) is None  # dropped with no request asking
    # The timer keeps looking every half interval: a full interval after the last
    # request-made look, requests still find none due, and are answered from memory.
    for _ in range(4):
        clock.now += 0.25
        server.look_ahead()
        assert server.kept_verdict(kept.id) is first
    assert server.verdict(changed.id).verdict.status is VerdictStatus.REVOKED


def test_the_server_looks_ahead_while_no_request_comes(inst: Instance) -> None:
    """The app's timer: after an idle second, a change made elsewhere has been read, and
    the first request finds no look due (it is answered on the event loop)."""
    inst.settings.verify_cache_check_seconds = 0.2
    server = build_service(inst.settings)
    assert server.verdicts is not None and server.verdicts.check_every == 0.2
    kept, changed = inst.service.issue(ZAHRA).diploma, inst.service.issue(ZAHRA).diploma
    with TestClient(create_app(server, inst.settings)) as client:
        for d in (kept, changed):
            assert client.get(f"/api/v1/verify/{d.id}").json()["status"] == "valid"
        inst.service.revoke(changed.id, "issued in error")  # the CLI, say
        time.sleep(1.0)
        assert server.verdicts.get(changed.id) is None
        assert server.kept_verdict(kept.id) is not None
        assert client.get(f"/api/v1/verify/{changed.id}").json()["status"] == "revoked"


def test_a_failed_look_frees_the_claim(inst: Instance, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    server = cached_service(inst, clock, check_every=0.5)
    d = inst.service.issue(ZAHRA).diploma
    server.verdict(d.id)
    clock.now += 0.6
    assert server.kept_verdict(d.id) is None
    assert server.audit is not None

    def away(seq: int, limit: int) -> list[Change]:
        raise ConnectionError("the database is away")

    monkeypatch.setattr(server.audit, "changes_after", away)
    with pytest.raises(ConnectionError):
        server.verdict(d.id)
    monkeypatch.undo()
    assert server.kept_verdict(d.id) is None  # claimable again
    assert server.verdict(d.id).verdict.status is VerdictStatus.VALID


def test_a_verdict_read_before_a_change_is_not_kept_after_it(inst: Instance) -> None:
    server = cached_service(inst, Clock())
    d = inst.service.issue(ZAHRA).diploma
    cache = server.verdicts
    assert cache is not None
    generation = cache.generation
    valid = server.verdict(d.id).verdict  # kept, read at `generation`
    cache.forget(d.id)  # a revocation lands meanwhile
    cache.put(d.id, valid, generation)  # the slow reader comes back with its old read
    assert cache.get(d.id) is None


def test_the_cache_keeps_at_most_its_size(inst: Instance) -> None:
    server = build_service(inst.settings)
    assert server.audit is not None
    server.verdicts = VerdictCache(server.audit, size=2, check_every=60)
    ids = [inst.service.issue(ZAHRA).diploma.id for _ in range(3)]
    for diploma_id in ids:
        server.verdict(diploma_id)
    server.verdict(ids[1])  # the most recently used are kept
    assert [server.verdicts.get(i) is not None for i in ids] == [False, True, True]


def test_a_key_event_drops_every_kept_verdict(inst: Instance) -> None:
    clock = Clock()
    server = cached_service(inst, clock, check_every=0.5)
    d = inst.service.issue(ZAHRA).diploma
    server.verdict(d.id)
    assert inst.service.audit is not None
    inst.service.audit.record(
        inst.service.clock.now(), "cli:test", AuditAction.KEY_ROTATED, {"key": "k2"}
    )
    clock.now += 0.6
    server.verdict(inst.service.issue(ZAHRA).diploma.id)  # the look happens here
    assert server.verdicts is not None
    assert server.verdicts.get(d.id) is None


def test_the_feed_rules() -> None:
    def change(action: str, subject: str = "") -> Change:
        return Change(1, action, subject)

    assert affected([change(AuditAction.DIPLOMA_ISSUED, "a"), change("token.used")]) == (
        set(),
        False,
    )
    assert affected(
        [change(AuditAction.DIPLOMA_REVOKED, "a"), change(AuditAction.DIPLOMA_UNSUSPENDED, "b")]
    ) == ({"a", "b"}, False)
    assert affected([change(AuditAction.KEY_COMPROMISED, "k1")])[1]
    assert affected([change("an.action.from.a.newer.version")])[1]


def test_the_feed_reads_on_from_a_number(inst: Instance) -> None:
    log = inst.service.audit
    assert log is not None
    start = log.last_seq()
    d = inst.service.issue(ZAHRA).diploma
    inst.service.revoke(d.id, "fraud")
    changes = log.changes_after(start, 10)
    assert [c.action for c in changes] == ["diploma.issued", "diploma.revoked"]
    assert [c.seq for c in changes] == [start + 1, start + 2]
    assert changes[1].subject == d.id
    assert log.changes_after(start, 1) == changes[:1]
    assert log.last_seq() == start + 2


@pytest.fixture
def slow_look_server(tmp_path: Path, backend: str) -> Iterator[LiveServer]:
    port = free_port()
    inst = make_instance(tmp_path, backend, public_url=f"http://127.0.0.1:{port}")
    assert inst.service.audit is not None
    inst.service.verdicts = VerdictCache(inst.service.audit, size=100, check_every=0.3)
    with serving(inst, port) as server:
        yield server


def test_over_http_a_cli_revocation_reaches_the_page_within_the_bound(
    slow_look_server: LiveServer, env: dict[str, str]
) -> None:
    inst, base = slow_look_server.instance, slow_look_server.base_url
    cli_env = {
        **env,
        "DIPLOMAS_HOME": str(inst.settings.home),
        "DIPLOMAS_KEYS_DIR": str(inst.settings.keys_dir),
        "DIPLOMAS_DATABASE_URL": inst.settings.database_url,
        "DIPLOMAS_KEY_PASSPHRASE": PASSPHRASE,
    }
    d = inst.service.issue(ZAHRA).diploma
    with httpx.Client(base_url=base, timeout=10) as http:
        for _ in range(3):  # answered from the cache from the second on
            page = http.get(f"/v/{d.id}")
            assert page.status_code == 200 and "This diploma is genuine" in page.text
            assert "default-src 'none'" in page.headers["content-security-policy"]
        assert http.get(f"/api/v1/verify/{d.id}").json()["status"] == "valid"
        invoke(cli_env, "revoke", d.id, "--reason", "issued in error")
        revoked_at = time.monotonic()
        while http.get(f"/api/v1/verify/{d.id}").json()["status"] != "revoked":
            assert time.monotonic() - revoked_at < 2 * 0.3 + 0.5, "the revocation never showed"
            time.sleep(0.02)
        assert "This diploma has been revoked" in http.get(f"/v/{d.id}").text
    # Read from the served app's registry: the metrics are not on the app's address.
    metrics = slow_look_server.app.state.metrics.render().decode()
    assert 'diplomas_verifications_total{route="/v/{diploma_id}",verdict="valid"} 3.0' in metrics


def test_concurrent_readers_and_a_writer_agree_in_the_end(inst: Instance) -> None:
    """Readers on many threads while another process revokes: once a reader has been
    answered `revoked`, it is never answered `valid` again."""
    clock = Clock()
    server = cached_service(inst, clock, check_every=0.0)
    ids = [inst.service.issue(ZAHRA).diploma.id for _ in range(4)]
    for diploma_id in ids:
        server.verdict(diploma_id)
    wrong: list[str] = []
    stop = threading.Event()

    def read() -> None:
        # Each reader's own answers must never go back from revoked to valid.
        seen_revoked = dict.fromkeys(ids, False)
        while not stop.is_set():
            for diploma_id in ids:
                status = server.verdict(diploma_id).verdict.status
                if status is VerdictStatus.REVOKED:
                    seen_revoked[diploma_id] = True
                elif seen_revoked[diploma_id]:
                    wrong.append(diploma_id)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    try:
        for diploma_id in ids:
            inst.service.revoke(diploma_id, "test")
            time.sleep(0.05)
    finally:
        time.sleep(0.1)
        stop.set()
        for reader in readers:
            reader.join(10)
    assert not wrong
    assert all(server.verdict(i).verdict.status is VerdictStatus.REVOKED for i in ids)


def test_kept_answers_are_sent_alike_every_time(inst: Instance) -> None:
    """The JSON and the page are made once and kept with the verdict: every request gets
    the same status, headers and body (the request id aside), none growing on the way."""
    d = inst.service.issue(ZAHRA).diploma
    inst.settings.verify_cache_check_seconds = 60
    server = build_service(inst.settings)
    with TestClient(create_app(server, inst.settings)) as client:
        for path in (f"/api/v1/verify/{d.id}", f"/v/{d.id}", "/v/" + "A" * 23):
            answers = [client.get(path) for _ in range(4)]
            shapes = {
                (
                    a.status_code,
                    tuple((k, v) for k, v in a.headers.multi_items() if k != "x-request-id"),
                    # Every page says when it was checked, to the second (a kept page has
                    # a slot for it): four requests may straddle a second.
                    CHECKED_AT.sub(b"<time>", a.content),
                )
                for a in answers
            }
            assert len(shapes) == 1, path
            assert len({a.headers["x-request-id"] for a in answers}) == 4
            assert [k for k, _ in answers[0].headers.multi_items()].count("x-request-id") == 1
    assert server.verdicts is not None and server.verdicts.get(d.id) is not None


def test_the_look_ahead_timer_says_an_outage_once_and_keeps_going(
    inst: Instance, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the audit feed cannot be read, the timer warns once (not twice a second) and
    keeps trying; when it can again, it says so once and looks ahead as before."""
    server = cached_service(inst, Clock(), check_every=0.02)
    outcomes = iter([OSError("database away")] * 5 + [None] * 1000)
    looked: list[int] = []

    def look_ahead() -> None:
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome
        looked.append(1)

    monkeypatch.setattr(server, "look_ahead", look_ahead)

    async def run_for_a_while() -> None:
        with anyio.move_on_after(0.5):
            await look_ahead_forever(lambda: server)

    with caplog.at_level(logging.INFO, "diplomas.verdicts"):
        anyio.run(run_for_a_while)
    messages = [r.getMessage() for r in caplog.records if r.name == "diplomas.verdicts"]
    assert messages == [
        "the verdict cache cannot read the audit feed: OSError",
        "the verdict cache reads the audit feed again",
    ]
    assert len(looked) >= 5
