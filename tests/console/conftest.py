"""A live server (uvicorn on a loopback port) over an instance with a co-issuer and one
user of each role, for the console's HTTP tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from conftest import SAMT, Instance, LiveServer, free_port, make_instance, serving

from .support import PASSWORD, PEOPLE


class Clock:
    """A clock the test moves."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def add_people(instance: Instance) -> None:
    slugs = {i.slug for i in instance.service.institutions}
    for email, institution, role in PEOPLE.values():
        if institution in slugs:
            instance.service.add_user(email, institution, role, PASSWORD)


@pytest.fixture
def console(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[LiveServer]:
    port = free_port()
    inst = make_instance(
        tmp_path_factory.mktemp("console"),
        backend,
        public_url=f"http://127.0.0.1:{port}",
        co_issuers=[SAMT],
    )
    add_people(inst)
    with serving(inst, port) as server:
        yield server
