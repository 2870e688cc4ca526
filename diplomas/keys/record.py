"""Record-signing keys: their public metadata and the signer that holds a private half.

The metadata of every key ever used (public key, controller, validity window, compromise)
is kept apart from the private keys, so that building the verification ring never needs
the passphrase. A key's status follows from its dates:

    active        no valid_until, no compromised_since: may sign; the newest one does
    retired       valid_until set: verifies what it signed before then, signs no more
    compromised   compromised_since set: verifies only what it signed before then
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..core.errors import Conflict, FieldProblem, InvalidInput, KeyStoreError, NotFound
from ..core.keyring import RecordKey
from ..core.proof import iso_utc, parse_iso_utc
from .versioned import read_versioned

METADATA_FORMAT = "diplomas-record-keys"
METADATA_VERSION = 1


def utc_seconds(moment: datetime) -> datetime:
    """`moment` in UTC, cut to whole seconds (the precision of proof timestamps)."""
    if moment.tzinfo is None:
        raise ValueError("a time with a time zone is required")
    return moment.astimezone(UTC).replace(microsecond=0)


def next_second(moment: datetime) -> datetime:
    """`moment` in UTC, rounded up to a whole second.

    A key retired at `moment` still covers every proof stamped with the second it was
    retired in (proof times are cut to seconds), so a diploma signed a moment before a
    rotation keeps verifying.
    """
    floor = utc_seconds(moment)
    return floor if floor == moment.astimezone(UTC) else floor + timedelta(seconds=1)


def new_key_id(now: datetime) -> str:
    return f"rk-{utc_seconds(now):%Y%m%d}-{secrets.token_hex(3)}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_file_name(key: RecordKey) -> str:
    """The store's file holding the private half of `key`."""
    return f"record-key-{key.key_id}.pem"


def key_to_json(key: RecordKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "controller": key.controller,
        "public_key": b64url(key.public_key),
        "private_key_file": key_file_name(key),
        "valid_from": iso_utc(key.valid_from),
        "valid_until": iso_utc(key.valid_until) if key.valid_until else None,
        "compromised_since": iso_utc(key.compromised_since) if key.compromised_since else None,
        "status": key.status,
    }


def current_entry(entries: Sequence[RecordKey]) -> RecordKey | None:
    """The key that signs new records: the newest active one."""
    active = [(e.valid_from, i, e) for i, e in enumerate(entries) if e.status == "active"]
    return max(active)[2] if active else None


def _time(raw: object, where: str, *, optional: bool) -> datetime | None:
    if raw is None and optional:
        return None
    if not isinstance(raw, str):
        raise KeyStoreError(f"{where} must be a time like 2026-01-31T12:00:00Z")
    try:
        return parse_iso_utc(raw)
    except ValueError as exc:
        raise KeyStoreError(f"{where} is not a time with a time zone: {raw!r}") from exc


def entry_from_json(raw: object, where: str) -> RecordKey:
    if not isinstance(raw, Mapping):
        raise KeyStoreError(f"{where} must be a JSON object")
    key_id, controller, public = raw.get("key_id"), raw.get("controller"), raw.get("public_key")
    if not isinstance(key_id, str) or not key_id or "#" in key_id or "/" in key_id:
        raise KeyStoreError(f"{where}.key_id must be a key id like rk-20260101-a1b2c3")
    if not isinstance(controller, str) or not controller:
        raise KeyStoreError(f"{where}.controller must be a DID")
    try:
        public_key = unb64url(public) if isinstance(public, str) else b""
    except (ValueError, binascii.Error):
        public_key = b""
    if len(public_key) != 32:
        raise KeyStoreError(f"{where}.public_key must be a base64url Ed25519 public key")
    valid_from = _time(raw.get("valid_from"), f"{where}.valid_from", optional=False)
    assert valid_from is not None
    return RecordKey(
        key_id=key_id,
        public_key=public_key,
        controller=controller,
        valid_from=valid_from,
        valid_until=_time(raw.get("valid_until"), f"{where}.valid_until", optional=True),
        compromised_since=_time(
            raw.get("compromised_since"), f"{where}.compromised_since", optional=True
        ),
    )


def dump_metadata(entries: Sequence[RecordKey]) -> bytes:
    document = {
        "format": METADATA_FORMAT,
        "version": METADATA_VERSION,
        "keys": [key_to_json(e) for e in entries],
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def load_metadata(data: bytes, source: str) -> tuple[RecordKey, ...]:
    document = read_versioned(
        data, source, format=METADATA_FORMAT, version=METADATA_VERSION, what="a record-key list"
    )
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise KeyStoreError(f"{source}: keys must be a list")
    entries = tuple(entry_from_json(k, f"{source}: keys[{i}]") for i, k in enumerate(keys))
    ids = [e.key_id for e in entries]
    if len(set(ids)) != len(ids):
        raise KeyStoreError(f"{source} lists the same key id twice")
    return entries


# -- the key lifecycle: pure changes to the list of entries ---------------------------------
#
# Each function returns the new list (the same keys, in the same order, with one or more
# windows closed) or raises: NotFound for an unknown key id, InvalidInput for a bad time,
# Conflict for a change that the key's state does not allow. The stores write the result.


def find_entry(entries: Sequence[RecordKey], key_id: str) -> RecordKey:
    for entry in entries:
        if entry.key_id == key_id:
            return entry
    known = ", ".join(e.key_id for e in entries) or "none"
    raise NotFound(f"there is no record key {key_id!r} (the keys are: {known})")


def _check_clock(entries: Sequence[RecordKey], now: datetime) -> None:
    utc_seconds(now)
    latest = max((e.valid_from for e in entries), default=None)
    if latest is not None and now < latest:
        raise Conflict(
            f"the clock says {iso_utc(now)}, before the newest key became valid "
            f"({iso_utc(latest)}); check the system clock"
        )


def _retire(entry: RecordKey, now: datetime) -> RecordKey:
    return replace(entry, valid_until=next_second(now))


def rotated(
    entries: Sequence[RecordKey], new_entry: RecordKey, now: datetime
) -> tuple[RecordKey, ...]:
    """The list after a rotation: every active key retired at `now`, `new_entry` added."""
    _check_clock(entries, now)
    if any(e.key_id == new_entry.key_id for e in entries):
        raise KeyStoreError(f"the key id {new_entry.key_id} is already taken")
    kept = tuple(_retire(e, now) if e.status == "active" else e for e in entries)
    return (*kept, new_entry)


def retired(
    entries: Sequence[RecordKey], key_id: str, now: datetime, *, replacing: bool = False
) -> tuple[RecordKey, ...]:
    """The list with key `key_id` retired at `now`: it signs no more, and what it signed
    before keeps verifying. The last active key is refused unless `replacing` (the caller
    adds a new key in the same change)."""
    _check_clock(entries, now)
    entry = find_entry(entries, key_id)
    if entry.compromised_since is not None:
        raise Conflict(
            f"key {key_id} is marked compromised since {iso_utc(entry.compromised_since)}; "
            f"it signs nothing already"
        )
    if entry.valid_until is not None:
        raise Conflict(f"key {key_id} was already retired at {iso_utc(entry.valid_until)}")
    others = [e for e in entries if e.status == "active" and e.key_id != key_id]
    if not others and not replacing:
        raise Conflict(
            f"key {key_id} is the only active key: retiring it would leave no key to sign "
            f"new diplomas. Run `diplomas keys rotate` (it makes a new key and retires "
            f"this one), or `diplomas keys retire {key_id} --rotate`"
        )
    return tuple(_retire(e, now) if e.key_id == key_id else e for e in entries)


def compromised(
    entries: Sequence[RecordKey], key_id: str, since: datetime, now: datetime
) -> tuple[RecordKey, ...]:
    """The list with key `key_id` marked compromised from `since` (cut to the second, so
    the whole second counts): records it signed at or after then fail verification."""
    entry = find_entry(entries, key_id)
    since = check_since(since, now)
    if entry.compromised_since is not None and since > entry.compromised_since:
        raise Conflict(
            f"key {key_id} is already marked compromised since "
            f"{iso_utc(entry.compromised_since)}; a later time would trust records that "
            f"are distrusted now (an earlier time is accepted)"
        )
    return tuple(replace(e, compromised_since=since) if e.key_id == key_id else e for e in entries)


def check_since(since: datetime, now: datetime, what: str = "mark a key compromised") -> datetime:
    """`since` cut to the second, refused when it has no time zone or is in the future
    (`what` is done from it, in the refusal's words)."""
    if since.tzinfo is None:
        raise InvalidInput(
            FieldProblem("since", "needs a time zone: add Z for UTC or an offset like +03:30")
        )
    if since > now:
        raise InvalidInput(
            FieldProblem(
                "since",
                f"{iso_utc(since)} is in the future (it is now {iso_utc(now)}); "
                f"{what} from a time that has passed",
            )
        )
    return utc_seconds(since)


def parse_since(text: str, now: datetime, what: str = "mark a key compromised") -> datetime:
    """An ISO 8601 time with a time zone (2026-11-26T09:30:00Z, or +03:30), not in the
    future, as given on the command line."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            FieldProblem("since", f"{text!r} is not an ISO 8601 time like 2026-11-26T09:30:00Z")
        ) from None
    return check_since(moment, now, what)


class EntrySigner:
    """What every `RecordSigner` says of itself, from its key's public entry; subclasses
    add `sign`, wherever the private key is (in memory, in a token)."""

    def __init__(self, entry: RecordKey) -> None:
        self._entry = entry

    @property
    def key_id(self) -> str:
        return self._entry.key_id

    @property
    def verification_method(self) -> str:
        return self._entry.verification_method


class Ed25519RecordSigner(EntrySigner):
    """A `RecordSigner` over one Ed25519 private key."""

    def __init__(self, entry: RecordKey, private_key: Ed25519PrivateKey) -> None:
        super().__init__(entry)
        self._private_key = private_key

    def sign(self, data: bytes) -> bytes:
        return self._private_key.sign(data)

    def __repr__(self) -> str:
        return f"Ed25519RecordSigner({self.verification_method!r})"
