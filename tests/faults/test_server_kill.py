"""kill -9 the server at random moments while clients issue over HTTP; restart it and re-send
whatever went unanswered (same external ids). Nothing is lost, nothing is issued twice,
serials stay gapless (a serial is consumed only by a stored diploma), every diploma
verifies, and the audit chain holds. On SQLite and on PostgreSQL."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from pathlib import Path

import httpx
import pytest

from .support import Ledger, Server, Site, check_consistent, make_site

pytestmark = pytest.mark.slow

KILLS = 10
CLIENTS = 2
SEED = 20261126
LATIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def request_for(external_id: str, n: int) -> dict[str, str]:
    return {
        "name": f"زهرا محمدی‌نژاد {n}",
        "name_en": f"Zahra Mohammadinejad {LATIN[n % 26]}.",
        "citation": "بنیان‌گذار شرکت دانش‌بنیان",
        # Two years, so that serials are checked per year.
        "issued_on": "1405/09/05" if n % 3 else "1404/12/20",
        "external_id": external_id,
    }


class Clients:
    """Client threads taking external ids from one queue until the server stops answering;
    an id whose answer never came goes back to the queue, to be sent again."""

    def __init__(self, site: Site, ledger: Ledger, todo: deque[str], numbers: dict[str, int]):
        self.site, self.ledger, self.todo, self.numbers = site, ledger, todo, numbers
        self.lock = threading.Lock()
        self.resent: list[str] = []
        self.again: set[str] = set()
        self.sent: set[str] = set()
        self.errors: list[BaseException] = []

    def _next(self) -> str | None:
        with self.lock:
            if not self.todo:
                return None
            external_id = self.todo.popleft()
            self.sent.add(external_id)
            return external_id

    def only_unanswered(self) -> None:
        """From now on send nothing new: only what never got an answer."""
        with self.lock:
            self.todo.clear()
            self.todo.extend(sorted(self.sent - set(self.ledger.acked)))

    def _run(self, stop: threading.Event) -> None:
        try:
            self._send(stop)
        except BaseException as exc:  # the test thread asserts on it
            self.errors.append(exc)

    def _send(self, stop: threading.Event) -> None:
        headers = self.site.instance.auth("issue")
        with httpx.Client(base_url=self.site.base_url, timeout=30, headers=headers) as http:
            while not stop.is_set() and (external_id := self._next()) is not None:
                body = request_for(external_id, self.numbers[external_id])
                try:
                    answer = http.post("/api/v1/diplomas", json=body)
                except httpx.HTTPError:
                    with self.lock:  # unanswered: send it again after the restart
                        self.todo.appendleft(external_id)
                        self.again.add(external_id)
                    return
                assert answer.status_code in (200, 201), answer.text
                out = answer.json()
                if external_id in self.again:
                    self.resent.append(external_id)
                    # Created before the kill only if the first answer was lost.
                    assert out["created"] == (answer.status_code == 201)
                self.ledger.ack(external_id, out["id"])

    def run_until(self, stop: threading.Event) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._run, args=(stop,)) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        return threads


def wait_for_answers(ledger: Ledger, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(ledger.acked) < count:
        assert time.monotonic() < deadline, "the restarted server answered nothing"
        time.sleep(0.01)


def test_server_killed_at_random_moments_loses_and_duplicates_nothing(
    tmp_path: Path, backend: str
) -> None:
    rng = random.Random(SEED)
    site = make_site(tmp_path, backend)
    server = Server(site, tmp_path / "server.log")
    external_ids = [f"K-{n:04d}" for n in range(400)]
    numbers = {e: n for n, e in enumerate(external_ids)}
    todo = deque(external_ids)
    ledger = Ledger()
    clients = Clients(site, ledger, todo, numbers)
    started = time.monotonic()
    try:
        for _ in range(KILLS):
            server.start()
            stop = threading.Event()
            before = len(ledger.acked)
            threads = clients.run_until(stop)
            # Kill only once this run has answered something: on a slow machine a fixed
            # sleep can end before the first answer, and the round would test nothing.
            wait_for_answers(ledger, before + 1)
            time.sleep(rng.uniform(0.0, 0.8))
            server.kill()
            stop.set()
            for t in threads:
                t.join(30)
            assert clients.errors == []
            assert todo, "ran out of work before the last kill"
        # Back up for good: whatever went unanswered goes through now.
        server.start()
        clients.only_unanswered()
        unanswered = len(todo)
        stop = threading.Event()
        for t in clients.run_until(stop):
            t.join(120)
        assert clients.errors == []
        assert not todo
        assert set(ledger.acked) == clients.sent
        assert len(ledger.acked) >= 2 * KILLS, "the server issued too little between kills"
        assert unanswered > 0, "no request was cut short: the kills missed"
        check_consistent(site, clients.sent, ledger.acked, verify_over_http=[])
    finally:
        server.kill()
    assert time.monotonic() - started < 90
