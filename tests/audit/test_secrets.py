"""Secrets never reach a log, a terminal or an error body.

One representative session (init with a passphrase, token create and use, issue, revoke,
a bad token, a wrong passphrase, key rotation, a batch) runs with every Python logger at
DEBUG (SQLAlchemy's statements and parameters included); then all the logs, every
command's output and every HTTP error body are searched for the token secret, the key
passphrase, PEM private key markers and the national id. None may appear.
"""

from __future__ import annotations

import csv
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from clitools import cli_environment, run
from fastapi.testclient import TestClient

from diplomas.bootstrap import build_app
from diplomas.config import Settings

NATIONAL_ID = "0499370899"
NOT_A_NATIONAL_ID = "0499370898"  # one digit off: refused, and not echoed either
PEM_MARKERS = ("PRIVATE KEY", "-----BEGIN")


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))


class EveryLogger:
    """Every logger at DEBUG, into one handler; `again()` after code that quietens some."""

    def __init__(self, handler: Collect) -> None:
        self.handler = handler
        self.saved: dict[str, tuple[int, bool]] = {}

    def again(self) -> None:
        root = logging.getLogger()
        self.saved.setdefault("", (root.level, True))
        root.setLevel(logging.DEBUG)
        if self.handler not in root.handlers:
            root.addHandler(self.handler)
        for name, logger in list(logging.root.manager.loggerDict.items()):
            if not isinstance(logger, logging.Logger):
                continue
            self.saved.setdefault(name, (logger.level, logger.disabled))
            logger.setLevel(logging.DEBUG)
            logger.disabled = False
            if not logger.propagate and self.handler not in logger.handlers:
                logger.addHandler(self.handler)

    def restore(self) -> None:
        logging.getLogger().removeHandler(self.handler)
        for name, (level, disabled) in self.saved.items():
            logger = logging.getLogger(name or None)
            logger.setLevel(level)
            if name:
                logger.disabled = disabled
            if self.handler in logger.handlers:
                logger.removeHandler(self.handler)


@pytest.fixture
def logs() -> Iterator[EveryLogger]:
    every = EveryLogger(Collect())
    every.again()
    try:
        yield every
    finally:
        every.restore()


def test_a_session_leaks_no_secret(tmp_path: Path, logs: EveryLogger) -> None:
    passphrase = f"passphrase-{secrets.token_hex(12)}"
    wrong = f"wrong-{secrets.token_hex(12)}"
    env = {**cli_environment(tmp_path), "DIPLOMAS_KEY_PASSPHRASE": passphrase}
    said: list[str] = []

    said.append(run(env, "init"))
    created = run(env, "token", "create", "--scope", "issue,revoke,read", "--name", "registrar")
    *before, token = created.splitlines()
    said.extend(before)  # the token itself is printed once, alone on the last line
    token_secret = token.split("_", 2)[2]
    said.append(
        run(
            env,
            "issue",
            "--name",
            "زهرا",
            "--national-id",
            NATIONAL_ID,
            "--out",
            str(tmp_path / "z.pdf"),
            "--json",
        )
    )
    said.append(run({**env, "DIPLOMAS_KEY_PASSPHRASE": wrong}, "keys", "rotate", code=4))
    said.append(
        run(
            {**env, "DIPLOMAS_KEY_PASSPHRASE": wrong},
            "issue",
            "--name",
            "x",
            "--out",
            str(tmp_path / "x.pdf"),
            code=4,
        )
    )
    said.append(run(env, "keys", "rotate"))
    roster = tmp_path / "roster.csv"
    with open(roster, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "name_en", "issued_on", "national_id", "external_id"])
        writer.writerow(["علی رضایی", "Ali Rezaei", "1405/09/01", NATIONAL_ID, "S-1"])
        writer.writerow(["مریم احمدی", "Maryam Ahmadi", "1405/09/01", NOT_A_NATIONAL_ID, "S-2"])
    said.append(
        run(
            env,
            "issue-batch",
            str(roster),
            "--out",
            str(tmp_path / "out"),
            "--workers",
            "1",
            "--skip-invalid",
        )
    )

    settings = Settings(
        home=tmp_path / "var",
        keys_dir=tmp_path / "keys",
        key_passphrase=passphrase,
    )
    bodies: list[str] = []
    with TestClient(build_app(settings)) as client:
        logs.again()  # build_app quietens pyHanko; listen to it all the same
        auth = {"Authorization": f"Bearer {token}"}
        issued = client.post(
            "/api/v1/diplomas", json={"name": "رضا", "national_id": NATIONAL_ID}, headers=auth
        )
        assert issued.status_code == 201, issued.text
        diploma_id = issued.json()["id"]
        assert client.get(f"/api/v1/diplomas/{diploma_id}", headers=auth).is_success
        assert client.post(
            f"/api/v1/diplomas/{diploma_id}/revoke", json={"reason": "اشتباه"}, headers=auth
        ).is_success
        token_id = token.split("_")[1]
        for headers, body, expected in [
            ({"Authorization": f"Bearer {token}x"}, {"name": "نام"}, 401),
            (
                {"Authorization": f"Bearer dpl_{token_id}_{token_secret[::-1]}"},
                {"name": "نام"},
                401,
            ),
            ({"Authorization": f"Bearer {token_secret}"}, {"name": "نام"}, 401),
            (auth, {"name": "نام", "national_id": NOT_A_NATIONAL_ID}, 422),
            (auth, {"name": "نام", "national_id": NATIONAL_ID, "issued_on": "nonsense"}, 422),
            (auth, {"name": "نام", "national_id": NATIONAL_ID, "template": "nope"}, 404),
        ]:
            r = client.post("/api/v1/diplomas", json=body, headers=headers)
            assert r.status_code == expected, r.text
            bodies.append(r.text)
        r = client.post(f"/api/v1/diplomas/{diploma_id}/revoke", json={"reason": "x"}, headers=auth)
        assert r.status_code == 409
        bodies.append(r.text)

    said.append(run(env, "audit", "list", "--json", "--limit", "100"))
    said.append(run(env, "audit", "verify"))

    logged = "\n".join(logs.handler.texts)
    assert "INSERT INTO" in logged, "SQLAlchemy's statements were not captured"
    everything = {"logs": logged, "commands": "\n".join(said), "http": "\n".join(bodies)}
    for where, text in everything.items():
        for secret in (token_secret, passphrase, wrong, NATIONAL_ID, *PEM_MARKERS):
            assert secret not in text, f"{secret[:12]}… appears in the {where}"
    # A refused national id is not echoed in the API's answer either. (The roster report
    # keeps a refused row's value to help the admin fix it, so it is not searched there.)
    assert NOT_A_NATIONAL_ID not in everything["http"]
