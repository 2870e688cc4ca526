"""A PKCS#11 token as the key store uses it: one logged-in session per process, and the
signers over the keys that stay in the token (`token.py` says which keys and where).

The Ed25519 record keys sign with CKM_EDDSA; the ECDSA document-signing key with CKM_ECDSA
over a digest made here, its (r, s) turned into DER for the PDF signer. Errors come back
as `KeyStoreError` in plain words, never with the PIN.
"""

from __future__ import annotations

import os
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from ..core.errors import KeyStoreError
from ..core.keyring import RecordKey
from .record import EntrySigner

CONFIG_FILE = "pkcs11.json"
PIN_VARIABLE = "DIPLOMAS_PKCS11_PIN"
PIN_FILE_VARIABLE = "DIPLOMAS_PKCS11_PIN_FILE"
ED25519_OID = "1.3.101.112"


@dataclass
class _Session:
    """A process's one logged-in session with one token, shared by every `Token` on it:
    PKCS#11 logs in the whole process, not a session, and closing a logged-in session
    would log out every other one; so it stays open for the life of the process."""

    pid: int
    session: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    keys: dict[str, Any] = field(default_factory=dict)


_SESSIONS: dict[tuple[str, str], _Session] = {}
_SESSIONS_LOCK = threading.Lock()
_STARTED_IN: dict[str, int] = {}
"""Module -> the process that initialised it: a forked child finds its parent's here."""


def _library(module: str) -> Any:
    """The loaded module, initialised by this process (the caller holds _SESSIONS_LOCK)."""
    import pkcs11

    library = pkcs11.lib(module)
    if _STARTED_IN.setdefault(module, os.getpid()) != os.getpid():
        # A forked child inherits its parent's initialised library, which PKCS#11 says it
        # must not use: start it afresh, once, for every token of the module.
        library.reinitialize()
        _STARTED_IN[module] = os.getpid()
    return library


def restart_module(module: str) -> None:
    """Finalise and initialise the PKCS#11 library `module` in this process, dropping its
    sessions: it reads its configuration again (SoftHSM2: SOFTHSM2_CONF)."""
    import pkcs11

    with _SESSIONS_LOCK:
        for key in [k for k in _SESSIONS if k[0] == module]:
            del _SESSIONS[key]
        library = pkcs11._loaded.get(module)  # python-pkcs11 keeps each module loaded once
        if library is not None:
            library.reinitialize()
            _STARTED_IN[module] = os.getpid()


class Token:
    """One token of a PKCS#11 module, signing through the process's session with it
    (opened on first use in each process: a session does not survive a fork) one
    thread at a time (a PKCS#11 session is not safe to share)."""

    def __init__(self, module: str, token_label: str, pin: Callable[[], str]) -> None:
        self.module = module
        self.label = token_label
        self._pin = pin

    def __repr__(self) -> str:
        return f"Token({self.module!r}, {self.label!r})"

    def _session(self) -> _Session:
        with _SESSIONS_LOCK:
            key = (self.module, self.label)
            shared = _SESSIONS.get(key)
            if shared is None or shared.pid != os.getpid():
                shared = _Session(os.getpid(), self._open())
                _SESSIONS[key] = shared
            return shared

    def _open(self) -> Any:
        """A new logged-in session (the caller holds _SESSIONS_LOCK).

        SoftHSM2 reads its token files without waiting for other processes opening the
        same token: now and then, when several start at once (a batch's workers), it
        lists the token without it, fails with CKR_GENERAL_ERROR, or reads its flags as
        "no PIN set". Such an open is tried again, a few times over about two seconds,
        with the module started afresh if this process has no session with it yet (a
        restart would close those). A wrong PIN is never tried again: that would use up
        the token's tries.
        """
        from pkcs11 import exceptions as p11

        if not Path(self.module).is_file():
            raise KeyStoreError(
                f"the PKCS#11 module {self.module} does not exist; install the token's "
                f"library (for SoftHSM2: apt-get install softhsm2) or fix {CONFIG_FILE}"
            )
        for delay in (0.05, 0.1, 0.2, 0.3, 0.5, 0.0):
            try:
                return self._log_in()
            except (p11.NoSuchToken, p11.GeneralError, p11.UserPinNotInitialized) as exc:
                if not delay:
                    raise self._failure(exc) from None
            except (p11.PKCS11Error, OSError, RuntimeError) as exc:
                raise self._failure(exc) from None
            time.sleep(delay + random.uniform(0, delay))  # noqa: S311 (not a secret)
            if not any(k[0] == self.module and s.pid == os.getpid() for k, s in _SESSIONS.items()):
                _library(self.module).reinitialize()
        raise AssertionError("unreachable")

    def _log_in(self) -> Any:
        from pkcs11 import exceptions as p11

        token = _library(self.module).get_token(token_label=self.label)
        try:
            return token.open(rw=True, user_pin=self._pin())
        except p11.UserAlreadyLoggedIn:
            return token.open(rw=True)  # this process logged in already

    def _failure(self, exc: Exception) -> KeyStoreError:
        """What went wrong opening the token, in words (never with the PIN)."""
        from pkcs11 import exceptions as p11

        if isinstance(exc, p11.NoSuchToken):
            return KeyStoreError(
                f"no token labelled {self.label!r} in the PKCS#11 module {self.module}: "
                f"is the token plugged in and initialised (for SoftHSM2: softhsm2-util "
                f"--show-slots)?"
            )
        if isinstance(exc, p11.PinIncorrect):
            return KeyStoreError(
                f"the PIN of token {self.label!r} is wrong: check {PIN_VARIABLE} or "
                f"{PIN_FILE_VARIABLE} (tokens lock after a few wrong PINs)"
            )
        if isinstance(exc, p11.PinLocked):
            return KeyStoreError(
                f"token {self.label!r} is locked after too many wrong PINs; its security "
                f"officer must unlock it"
            )
        if isinstance(exc, OSError | RuntimeError):
            return KeyStoreError(f"cannot load the PKCS#11 module {self.module}: {exc}")
        return KeyStoreError(
            f"cannot open token {self.label!r} of the PKCS#11 module {self.module}: "
            f"{type(exc).__name__}"
        )

    def _key(self, shared: _Session, object_class: Any, label: str) -> Any:
        """The key object `label` of `object_class` (the caller holds the session's lock)."""
        from pkcs11 import ObjectClass
        from pkcs11 import exceptions as p11

        cached = shared.keys.get(f"{object_class}:{label}")
        if cached is not None:
            return cached
        kind = "private" if object_class == ObjectClass.PRIVATE_KEY else "public"
        try:
            key = shared.session.get_key(object_class=object_class, label=label)
        except p11.NoSuchKey:
            raise KeyStoreError(
                f"token {self.label!r} holds no {kind} key labelled {label!r} (named in "
                f"{CONFIG_FILE}); was it deleted, or is this another token?"
            ) from None
        except p11.MultipleObjectsReturned:
            raise KeyStoreError(
                f"token {self.label!r} holds several {kind} keys labelled {label!r}; "
                f"each label must name one key"
            ) from None
        shared.keys[f"{object_class}:{label}"] = key
        return key

    def sign(self, label: str, mechanism: str, data: bytes) -> bytes:
        """`data` signed in the token by the private key `label` with `mechanism` (a
        `pkcs11.Mechanism` name: EDDSA, ECDSA)."""
        from pkcs11 import Mechanism, ObjectClass
        from pkcs11 import exceptions as p11

        shared = self._session()
        with shared.lock:
            key = self._key(shared, ObjectClass.PRIVATE_KEY, label)
            try:
                signature: bytes = key.sign(data, mechanism=Mechanism[mechanism])
            except p11.PKCS11Error as exc:
                # A session the token closed (unplugged, restarted): open anew next time.
                with _SESSIONS_LOCK:
                    _SESSIONS.pop((self.module, self.label), None)
                raise KeyStoreError(
                    f"token {self.label!r} refused to sign with {label!r}: {type(exc).__name__}"
                ) from None
            return signature

    def public_point(self, label: str) -> bytes:
        """The raw public point (CKA_EC_POINT, unwrapped) of the key pair `label`."""
        from asn1crypto.core import OctetString
        from pkcs11 import Attribute, ObjectClass

        shared = self._session()
        with shared.lock:
            public = self._key(shared, ObjectClass.PUBLIC_KEY, label)
            point: bytes = OctetString.load(public[Attribute.EC_POINT]).native
            return point

    def generate(self, label: str, curve: str) -> bytes:
        """Make a key pair `label` in the token, its private half sensitive and never
        extractable; returns the raw public point."""
        from asn1crypto.core import OctetString
        from pkcs11 import Attribute, KeyType
        from pkcs11.util.ec import encode_named_curve_parameters

        key_type = KeyType.EC_EDWARDS if curve == ED25519_OID else KeyType.EC
        shared = self._session()
        with shared.lock:
            session = shared.session
            if list(session.get_objects({Attribute.LABEL: label})):
                raise KeyStoreError(f"token {self.label!r} already holds an object {label!r}")
            parameters = session.create_domain_parameters(
                key_type, {Attribute.EC_PARAMS: encode_named_curve_parameters(curve)}, local=True
            )
            public, _ = parameters.generate_keypair(
                store=True,
                label=label,
                id=secrets.token_bytes(8),
                private_template={
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                },
            )
            point: bytes = OctetString.load(public[Attribute.EC_POINT]).native
            return point


def _wrong_key(token: Token, label: str) -> str:
    return (
        f"token {token.label!r} signed with another key than {label!r} names (the "
        f"signature does not verify with its public key); nothing was issued with it"
    )


class TokenEcdsaKey:
    """The document-signing key as the PDF signer sees it (`pdfsign.ExternalKey`)."""

    def __init__(self, token: Token, label: str, public: ec.EllipticCurvePublicKey) -> None:
        self._token = token
        self._label = label
        self._public = public

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def sign(self, data: bytes, algorithm: hashes.HashAlgorithm) -> bytes:
        # CKM_ECDSA signs a digest made here (SoftHSM2 has no CKM_ECDSA_SHA256), and gives
        # r and s side by side; the PDF signer wants the DER that `cryptography` makes.
        digest = hashes.Hash(algorithm)
        digest.update(data)
        prehashed = digest.finalize()
        raw = self._token.sign(self._label, "ECDSA", prehashed)
        half = len(raw) // 2
        der = encode_dss_signature(
            int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        )
        try:  # ~0.1 ms: nothing leaves here that the certificate would not vouch for
            self._public.verify(der, prehashed, ec.ECDSA(Prehashed(algorithm)))
        except InvalidSignature:
            raise KeyStoreError(_wrong_key(self._token, self._label)) from None
        return der


class TokenRecordSigner(EntrySigner):
    """A `RecordSigner` whose Ed25519 key is in the token (CKM_EDDSA, pure Ed25519)."""

    def __init__(self, entry: RecordKey, token: Token, label: str) -> None:
        super().__init__(entry)
        self._token = token
        self._label = label

    def sign(self, data: bytes) -> bytes:
        signature = self._token.sign(self._label, "EDDSA", data)
        if not self._entry.verify(signature, data):  # ~0.1 ms, against a wrong key's
            raise KeyStoreError(_wrong_key(self._token, self._label))
        return signature

    def __repr__(self) -> str:
        return f"TokenRecordSigner({self.verification_method!r}, {self._token.label!r})"
